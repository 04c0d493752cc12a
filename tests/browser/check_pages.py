"""The rendered book in headless Chromium: every chapter loads, its images load, no cell shows
an error, the browser console shows none, the Colab button opens the chapter's .ipynb at main
(a ref every clone of main has). Saves a screenshot per page.

Run after ``jupyter-book build .``:  pytest tests/browser/check_pages.py
"""

import functools
import http.server
import threading
import time
from pathlib import Path

import pytest
import yaml
from console import page_errors  # tests/browser/console.py

REPO = Path(__file__).resolve().parents[2]
HTML = REPO / "_build" / "html"
SHOTS = REPO / "_build" / "screenshots"
TOC = yaml.safe_load((REPO / "_toc.yml").read_text())
PAGES = [TOC["root"]] + [c["file"] for c in TOC["chapters"]]
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run",
                  "--disable-dev-shm-usage", "--window-size=1280,1000"]


@pytest.fixture(scope="module")
def server():
    if not (HTML / "index.html").exists():
        pytest.fail(f"no built book at {HTML}: run `jupyter-book build .` first")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(HTML))
    handler.log_message = lambda *args: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def load(browser, server, page):
    page_errors(browser)  # what earlier pages wrote
    path = Path(page).with_suffix(".html").as_posix()
    browser.get(f"{server}/{path}")
    browser.execute_script("return document.readyState")  # waits for the load event
    return browser


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_with_images_and_without_errors(browser, server, page):
    b = load(browser, server, page)
    assert "404" not in b.title, b.title
    heading = b.execute_script("const h = document.querySelector('main h1'); "
                               "return h ? h.textContent : null")
    assert heading, f"{page}: no heading; the page did not render"
    images = b.execute_script(
        "return Array.from(document.querySelectorAll('main img')).map("
        "i => [i.getAttribute('src'), i.complete, i.naturalWidth])")
    broken = [src for src, complete, width in images if not complete or width == 0]
    assert not broken, f"{page}: images that did not load: {broken}"
    errors = b.execute_script(
        "return Array.from(document.querySelectorAll('.cell_output .output.error, "
        ".cell_output .output.traceback, .cell_output .stderr')).map(e => e.textContent)")
    assert not [e for e in errors if "Traceback" in e or "Error" in e], f"{page}: {errors}"
    has_math = b.execute_script("return document.querySelectorAll('main .math').length")
    if has_math:  # MathJax (served with the book) typesets every formula
        rendered = 0
        for _ in range(50):
            rendered = b.execute_script("return document.querySelectorAll('mjx-container').length")
            if rendered >= has_math:
                break
            time.sleep(0.1)
        assert rendered >= has_math, f"{page}: {has_math} formulas, {rendered} typeset"
    console = page_errors(b)
    assert not console, f"{page}: the browser console shows errors: {console}"
    SHOTS.mkdir(parents=True, exist_ok=True)
    height = b.execute_script("return document.body.scrollHeight")
    b.set_window_size(1280, min(max(height, 800), 12000))
    b.save_screenshot(str(SHOTS / f"{Path(page).stem}.png"))
    b.set_window_size(1280, 1000)


NOTEBOOKS = [p for p in PAGES if p.endswith(".ipynb")]


@pytest.mark.parametrize("page", NOTEBOOKS)
def test_colab_button_opens_the_chapters_notebook(browser, server, page):
    b = load(browser, server, page)
    links = b.execute_script(
        "return Array.from(document.querySelectorAll('a')).map(a => a.href)"
        ".filter(h => h.includes('colab.research.google.com'))")
    assert links, f"{page}: no Colab link"
    config = yaml.safe_load((REPO / "_config.yml").read_text())["repository"]
    repo = config["url"].removeprefix("https://github.com/")
    ref = config["branch"]
    assert all(link == f"https://colab.research.google.com/github/{repo}/blob/{ref}/{page}"
               for link in links), links
    # a ref that every clone of main has: main itself, or a commit of its history
    import subprocess

    has = subprocess.run(["git", "merge-base", "--is-ancestor", ref, "HEAD"], cwd=REPO,
                         capture_output=True)
    assert ref == "main" or has.returncode == 0, (
        f"the Colab buttons open {ref}, which is neither main nor in main's history: set "
        f"repository.branch in _config.yml to main")
