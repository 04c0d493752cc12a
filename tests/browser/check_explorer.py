"""The attention explorer in headless Chromium, on the built book served over loopback: it
translates sentences that no chapter shows exactly as the served PyTorch model does (the same
tokens and attention weights), refuses empty and over-long input with a message, shows what is
typed as text and never as HTML, loads without console errors, keeps working with the server
gone once loaded, downloads less than 25 MiB, and says so when JavaScript or WebAssembly is
missing. Saves a screenshot.

Run after ``python scripts/export_explorer.py`` and ``jupyter-book build .``.
"""

import functools
import http.server
import json
import threading
import time
from pathlib import Path

import pytest
import torch
from console import page_errors  # tests/browser/console.py

from d2l_lite.book import explorer
from d2l_lite.book.long_sentences import translate_by_length

REPO = Path(__file__).resolve().parents[2]
HTML = REPO / "_build" / "html"
SHOTS = REPO / "_build" / "screenshots"
MODELS = HTML / "explorer" / "models"
SENTENCES = ["my grandmother grows tomatoes in her garden .",
             "we missed the last train , so we walked home in the rain .",
             "does your cat like fish ?"]
STATUS = "return document.getElementById('explorer-status').textContent"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--disable-dev-shm-usage", "--window-size=1280,1000"]


class Server:
    def __init__(self):
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(HTML))
        handler.log_message = lambda *args: None
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/book/explorer.html"

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    if not (MODELS / "manifest.json").exists():
        pytest.fail(f"no explorer in {HTML}: run python scripts/export_explorer.py and "
                    f"jupyter-book build .")
    s = Server()
    yield s
    s.stop()


def chromium(*extra, javascript=True):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in FLAGS + list(extra):
        options.add_argument(flag)
    if not javascript:
        options.add_experimental_option("prefs", {"profile.managed_default_content_settings"
                                                  ".javascript": 2})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.set_page_load_timeout(60)
    return driver


@pytest.fixture
def browser():
    driver = chromium()
    yield driver
    driver.quit()


def wait_for(browser, script, timeout=60):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = browser.execute_script(script)
        if value:
            return value
        time.sleep(0.1)
    status = browser.execute_script(STATUS)
    raise AssertionError(f"timed out waiting for {script}: the page says {status!r}")


def open_explorer(browser, server):
    browser.get(server.url)
    wait_for(browser, "return window.explorerReady === true")


def translate(browser, sentence, model=None):
    browser.execute_script("window.explorerResult = undefined;"
                           "const i = document.getElementById('explorer-input');"
                           "i.value = arguments[0];", sentence)
    if model:
        browser.execute_script("const s = document.getElementById('explorer-model');"
                               "s.value = arguments[0]; s.dispatchEvent(new Event('change'));",
                               model)
        wait_for(browser, "return document.getElementById('explorer-status').dataset.kind"
                          " === 'ready'")
    browser.find_element("id", "explorer-translate").click()
    return wait_for(browser, "return window.explorerResult || (document.getElementById("
                             "'explorer-status').dataset.kind === 'error' && 'error')")


def pytorch(name):
    meta = json.loads((MODELS / f"{name}.json").read_text())
    weights = torch.load(REPO / "book" / "_explorer" / f"{name}.pt", weights_only=True)
    return meta, explorer.served_model(meta, weights)


def test_the_page_translates_as_the_pytorch_model_does(browser, server):
    open_explorer(browser, server)
    for name in ("additive", "dot"):
        meta, model = pytorch(name)
        expected, maps = translate_by_length(model, explorer.ServedData(meta), SENTENCES,
                                             save_attention_weights=True)
        for sentence, words, W in zip(SENTENCES, expected, maps):
            result = translate(browser, sentence, model=name)
            assert result["translation"] == words, (name, sentence)
            shown = torch.tensor(result["weights"])
            torch.testing.assert_close(shown, W[:shown.shape[0]], atol=1e-4, rtol=1e-3)
            rects = browser.execute_script(
                "return document.querySelectorAll('#explorer-map rect').length")
            assert rects == shown.numel()
            text = browser.find_element("id", "explorer-translation").text
            assert text == " ".join(words)
    SHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SHOTS / "explorer-translation.png"))
    errors = page_errors(browser)
    assert not errors, errors


def test_the_whole_download_stays_small_enough_for_a_phone(browser, server):
    open_explorer(browser, server)
    sizes = browser.execute_script(
        "return performance.getEntriesByType('resource').concat("
        "performance.getEntriesByType('navigation')).map(e => [e.name, e.encodedBodySize])")
    explorer = sum(size for name, size in sizes if "/explorer" in name)
    assert explorer > 10 * 2**20  # the runtime and both models were fetched
    total = sum(size for _, size in sizes)
    assert total < 25 * 2**20, f"the page downloads {total / 2**20:.1f} MiB"


def test_empty_and_over_long_input_get_a_clear_message(browser, server):
    open_explorer(browser, server)
    for sentence, message in (("   ", "Type an English sentence first."),
                              ("word " * 45, "the models read at most 40")):
        assert translate(browser, sentence) == "error"
        status = browser.find_element("id", "explorer-status").text
        assert message in status, status


def test_what_is_typed_is_shown_as_text_never_as_html(browser, server):
    open_explorer(browser, server)
    for attack in ('<img src=x onerror="window.pwned = 1">',
                   "<script>window.pwned = 2</script> hello .",
                   "<b>bold</b> & friends ."):
        translate(browser, attack)
        assert browser.execute_script("return window.pwned") is None
        assert browser.execute_script(
            "return document.querySelectorAll('#explorer img, #explorer script, "
            "#explorer b').length") == 0
        labels = browser.execute_script(
            "return Array.from(document.querySelectorAll('#explorer-map text'))"
            ".map(t => t.textContent).join(' ')")
        assert "<" in labels or "&" in labels  # the markup's characters, shown as text


def test_it_keeps_translating_once_loaded_with_the_server_gone(browser, server):
    open_explorer(browser, server)
    server.stop()
    for name in ("dot", "additive"):
        result = translate(browser, "the door is open .", model=name)
        assert result != "error" and result["translation"], name


def test_without_javascript_the_page_says_so():
    s = Server()
    driver = chromium(javascript=False)
    try:
        driver.get(s.url)
        text = driver.find_element("tag name", "body").text
        assert "The explorer runs in JavaScript" in text
    finally:
        driver.quit()
        s.stop()


def test_without_webassembly_the_page_says_so():
    s = Server()
    driver = chromium()
    try:  # a browser without WebAssembly: the global removed before any of the page's scripts
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument",
                               {"source": "delete globalThis.WebAssembly;"})
        driver.get(s.url)
        status = wait_for(driver, "const s = document.getElementById('explorer-status');"
                                  "return s.dataset.kind === 'error' && s.textContent")
        assert "needs WebAssembly" in status
    finally:
        driver.quit()
        s.stop()
