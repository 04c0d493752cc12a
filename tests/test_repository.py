"""How a chapter reads the repository's files (d2l_lite.repository): the checkout's own
file in a checkout; elsewhere the pinned file from a loopback HTTP server standing in for
GitHub's, checked against its SHA-256, cached, and clear errors for a commit the server lacks,
a file other than the pinned one and a missing network."""

import hashlib
import time

import pytest

from d2l_lite import repository

BODY = b'{"runs": []}\n'
COMMIT = "c" * 40


@pytest.fixture
def server(loopback):
    """The loopback server (tests/conftest.py) standing in for GitHub's raw-file server."""
    url, files, requests = loopback
    return url + "owner/repo", files, requests


@pytest.fixture
def elsewhere(tmp_path, monkeypatch):
    """A working folder outside any checkout, and an empty cache."""
    work = tmp_path / "content"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path


def pins(body=BODY, commit=COMMIT):
    return {"book/_r.json": (commit, hashlib.sha256(body).hexdigest())}


def test_outside_a_checkout_the_pinned_file_is_fetched_checked_and_cached(server, elsewhere):
    url, files, requests = server
    files[f"owner/repo/{COMMIT}/book/_r.json"] = BODY
    files_of = repository.Repository(url, pins())
    path = files_of.path("book/_r.json")
    assert path.read_bytes() == BODY
    assert elsewhere / "cache" in path.parents
    assert files_of.path("book/_r.json") == path  # the second read is the cache's
    assert requests == [f"/owner/repo/{COMMIT}/book/_r.json"]


def test_in_a_checkout_the_checkouts_file_is_read_without_a_request(server, tmp_path,
                                                                   monkeypatch):
    url, _, requests = server
    (tmp_path / "d2l_lite").mkdir()
    (tmp_path / "d2l_lite" / "__init__.py").write_text("")
    (tmp_path / "_toc.yml").write_text("")
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "_r.json").write_bytes(b"{}")
    monkeypatch.chdir(tmp_path / "book")
    path = repository.Repository(url, pins()).path("book/_r.json")
    assert path == tmp_path / "book" / "_r.json" and requests == []


def test_a_file_missing_from_the_checkout_says_how_to_restore_it(tmp_path, monkeypatch):
    (tmp_path / "d2l_lite").mkdir()
    (tmp_path / "d2l_lite" / "__init__.py").write_text("")
    (tmp_path / "_toc.yml").write_text("")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"missing from the checkout .*git checkout --"):
        repository.Repository("https://example.org", pins()).path("book/_r.json")


def test_a_commit_the_server_lacks_is_told_apart_from_a_missing_network(server, elsewhere):
    url, _, _ = server
    with pytest.raises(FileNotFoundError, match=rf"no book/_r.json at commit {COMMIT}.*open it "
                                                 r"from main"):
        repository.Repository(url, pins()).path("book/_r.json")
    assert not list((elsewhere / "cache").rglob("*.json"))


def test_a_missing_network_says_to_connect_and_run_again(elsewhere):
    unreachable = "http://127.0.0.1:9/owner/repo"  # the discard port: nothing listens
    with pytest.raises(repository.DownloadError, match=r"could not reach .*connected to the "
                                                     r"internet, then run the cell again"):
        repository.Repository(unreachable, pins()).path("book/_r.json")


def test_a_file_other_than_the_pinned_one_is_refused_and_not_cached(server, elsewhere):
    url, files, _ = server
    files[f"owner/repo/{COMMIT}/book/_r.json"] = b'{"runs": [1]}\n'
    with pytest.raises(repository.DownloadError, match=r"SHA-256 [0-9a-f]{64}, expected"):
        repository.Repository(url, pins()).path("book/_r.json")
    assert [p for p in (elsewhere / "cache").rglob("*") if p.is_file()] == []


def test_a_damaged_cache_is_fetched_again(server, elsewhere):
    url, files, requests = server
    files[f"owner/repo/{COMMIT}/book/_r.json"] = BODY
    files_of = repository.Repository(url, pins())
    files_of.path("book/_r.json").write_bytes(b"damaged")
    assert files_of.path("book/_r.json").read_bytes() == BODY
    assert len(requests) == 2


def test_a_file_the_chapter_does_not_pin_is_a_clear_error(elsewhere):
    with pytest.raises(KeyError, match=r"not among the files this chapter pins.*--write"):
        repository.Repository("https://example.org", pins()).path("book/_other.json")


def test_a_server_that_trickles_its_headers_is_cut_off_at_the_deadline(server, elsewhere,
                                                                       monkeypatch):
    url, files, _ = server

    def trickle(handler):  # the status line, then a header byte every 0.2 s
        handler.wfile.write(b"HTTP/1.0 200 OK\r\n")
        for _ in range(100):
            try:
                handler.wfile.write(b"X")
                handler.wfile.flush()
            except OSError:
                return
            time.sleep(0.2)

    files[f"owner/repo/{COMMIT}/book/_r.json"] = trickle
    monkeypatch.setattr(repository, "DEADLINE", 1)
    start = time.monotonic()
    with pytest.raises(repository.DownloadError, match=r"took too long \(over 1 s\)"):
        repository.Repository(url, pins()).path("book/_r.json")
    assert time.monotonic() - start < 3


def test_a_body_shorter_than_its_content_length_is_reported_as_cut_off(server, elsewhere):
    url, files, _ = server

    def short(handler):
        handler.send_response(200)
        handler.send_header("Content-Length", "1000")
        handler.end_headers()
        handler.wfile.write(b"x" * 300)
        handler.close_connection = True

    files[f"owner/repo/{COMMIT}/book/_r.json"] = short
    with pytest.raises(repository.DownloadError, match=r"cut off after 300 of 1,000 bytes"):
        repository.Repository(url, pins()).path("book/_r.json")
    assert [p for p in (elsewhere / "cache").rglob("*") if p.is_file()] == []
