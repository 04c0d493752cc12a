"""The attention explorer in headless Chromium, on the built book served over loopback: it
translates sentences that no chapter shows exactly as the served PyTorch model does (the same
tokens and attention weights), keeps a long paste whole and refuses empty and over-long input
with a message (the limit is the one the exported manifest gives), shows what is typed as text
and never as HTML, loads without console errors, names a file it cannot load and says what to
do, keeps working with the server gone once loaded, makes no request off the page's origin,
downloads less than 25 MiB, and says so when JavaScript or WebAssembly is missing. Saves a
screenshot.

Run after ``python -m d2l_lite.explorer.prepare`` and ``jupyter-book build .``.
"""

import functools
import http.server
import json
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import torch
from console import page_errors  # tests/browser/console.py

from d2l_lite import explorer
from d2l_lite.studies.long_sentences import translate_by_length

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


class Handler(http.server.SimpleHTTPRequestHandler):
    missing = ()  # paths (from the site's root) answered 404, as if the file were not there

    def do_GET(self):
        if urlsplit(self.path).path in self.missing:
            self.send_error(404, "File not found")
        else:
            super().do_GET()

    def log_message(self, *args):
        pass


class Server:
    def __init__(self, missing=()):
        handler = functools.partial(type("Missing", (Handler,), {"missing": tuple(missing)}),
                                    directory=str(HTML))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/book/explorer.html"

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    if not (MODELS / "manifest.json").exists():
        pytest.fail(f"no explorer in {HTML}: run python -m d2l_lite.explorer.prepare and "
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


def manifest():
    return json.loads((MODELS / "manifest.json").read_text())


def pytorch(name):
    meta, weights = explorer.load_served(REPO / "book" / "_explorer", name)
    built = json.loads((MODELS / f"{name}.json").read_text())
    assert built == meta, (f"the built explorer's {name} model is not book/_explorer/{name}: "
                           f"run python -m d2l_lite.explorer.prepare and jupyter-book build .")
    return meta, explorer.served_model(meta, weights)


def type_into_the_input(browser, sentence):
    """Type (or paste) ``sentence`` into the emptied input as a reader would."""
    field = browser.find_element("id", "explorer-input")
    field.clear()
    field.send_keys(sentence)


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
    limit = manifest()["models"][0]["max_source_tokens"]
    for sentence, message in (("   ", "Type an English sentence first."),
                              ("word " * (limit + 5), f"the models read at most {limit}")):
        assert translate(browser, sentence) == "error"
        status = browser.find_element("id", "explorer-status").text
        assert message in status, status


def test_a_long_paste_is_kept_whole_and_one_over_the_limit_is_refused_with_a_message(
        browser, server):
    open_explorer(browser, server)
    limit = manifest()["models"][0]["max_source_tokens"]  # the menu's first model
    longest = " ".join(["extraordinary"] * (limit - 1) + ["."])  # the most the models read
    assert len(longest) > 400  # longer than an input's usual cap
    type_into_the_input(browser, longest)
    assert browser.find_element("id", "explorer-input").get_attribute("value") == longest
    browser.find_element("id", "explorer-translate").click()
    result = wait_for(browser, "return window.explorerResult || (document.getElementById("
                               "'explorer-status').dataset.kind === 'error' && 'error')")
    assert result != "error", browser.execute_script(STATUS)
    assert result["tokens"] == longest.split()  # all of it translated, nothing cut
    too_long = "extraordinary " + longest
    type_into_the_input(browser, too_long)
    assert browser.find_element("id", "explorer-input").get_attribute("value") == too_long
    browser.execute_script("window.explorerResult = undefined;")
    browser.find_element("id", "explorer-translate").click()
    status = wait_for(browser, "const s = document.getElementById('explorer-status');"
                               "return s.dataset.kind === 'error' && s.textContent")
    assert f"That is {limit + 1} tokens" in status and f"at most {limit}" in status, status
    assert browser.execute_script("return window.explorerResult") is None


@pytest.mark.parametrize("missing", ["manifest.json", "dot.json", "additive.decoder.onnx"])
def test_a_file_that_cannot_be_loaded_is_named_with_what_to_do(missing, browser):
    s = Server(missing=[f"/explorer/models/{missing}"])
    try:
        browser.get(s.url)
        status = wait_for(browser, "const s = document.getElementById('explorer-status');"
                                   "return s.dataset.kind === 'error' && s.textContent")
    finally:
        s.stop()
    assert f"models/{missing}" in status and "404" in status, status
    assert "python -m d2l_lite.explorer.prepare" in status, status  # what to do
    assert "Unexpected token" not in status, status


def test_every_request_stays_on_the_pages_origin(browser, server):
    browser.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument",  # keep every entry
                            {"source": "performance.setResourceTimingBufferSize(100000);"})
    open_explorer(browser, server)
    for name in ("additive", "dot"):
        result = translate(browser, "the door is open .", model=name)
        assert result != "error", browser.execute_script(STATUS)
    origin, urls = browser.execute_script(
        "return [location.origin, performance.getEntriesByType('resource').map(e => e.name)]")
    fetched = {urlsplit(url).path for url in urls}
    for entry in manifest()["models"]:  # the models were fetched, and are among the entries
        assert {f"/explorer/models/{entry[k]}" for k in ("meta", "encoder", "decoder")} <= fetched
    elsewhere = [url for url in urls if f"{urlsplit(url).scheme}://{urlsplit(url).netloc}"
                 != origin]
    assert not elsewhere, f"requests off the page's origin {origin}: {elsewhere}"


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
