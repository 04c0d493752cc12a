"""Shared fixtures: the corpus location, the d2l 1.0.3 goldens and a loopback HTTP server."""

import http.server
import os
import threading
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
GOLDENS = Path(__file__).parent / "goldens" / "d2l_1.0.3.pt"


def in_ci():
    """True when $CI is set to anything but '', 0, false, no or off (as .ci/run reads it)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no", "off")


@pytest.fixture(scope="session")
def data_root():
    """$D2L_LITE_DATA (scripts/setup.sh and .ci/run set it); tests that need the corpus are
    skipped without it, and fail under CI."""
    root = Path(os.environ.get("D2L_LITE_DATA", "")).expanduser()
    if not os.environ.get("D2L_LITE_DATA") or not (root / "fra-eng" / "fra.txt").exists():
        message = (f"the corpus is not at $D2L_LITE_DATA/fra-eng/fra.txt (D2L_LITE_DATA="
                   f"{os.environ.get('D2L_LITE_DATA', 'unset')}): set D2L_LITE_DATA to the "
                   f"folder that holds fra-eng/fra.txt")
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return root


@pytest.fixture(scope="session")
def goldens():
    return torch.load(GOLDENS, weights_only=True)


@pytest.fixture
def loopback():
    """A loopback HTTP/1.1 server: ``files`` maps a path (without its leading slash) to bytes,
    or to a function that writes the response itself; records the paths asked for. Yields
    (its URL, ending in a slash, files, requests)."""
    files, requests = {}, []

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            requests.append(self.path)
            body = files.get(self.path.lstrip("/"))
            if body is None:
                self.send_error(404)
            elif callable(body):
                body(self)
            else:
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/", files, requests
    httpd.shutdown()
    httpd.server_close()
