"""MTFraEng's corpus handling: local file first, download through a loopback HTTP server with
SHA-1 check, and clear errors that leave nothing half-written."""

import hashlib
import http.server
import io
import socket
import threading
import zipfile

import pytest
import torch

import d2l_lite as d2l
from d2l_lite import data as data_module

CORPUS = "Go.\tVa !\nHi.\tSalut !\nRun!\tCours !\nWho?\tQui ?\nWow!\tÇa alors !\nGo.\tBouge !\n"


def make_zip(text=CORPUS):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("fra-eng/fra.txt", text)
        z.writestr("fra-eng/_about.txt", "test corpus")
    return buf.getvalue()


@pytest.fixture
def server():
    """A loopback HTTP server serving ``files`` (name -> bytes); records the paths asked for."""
    files, requests = {}, []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            requests.append(self.path)
            body = files.get(self.path.lstrip("/"))
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/", files, requests
    httpd.shutdown()
    httpd.server_close()


def leftovers(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


def test_downloads_checks_sha1_extracts_and_leaves_no_temporary_file(server, tmp_path,
                                                                     monkeypatch):
    url, files, requests = server
    files["fra-eng.zip"] = make_zip()
    monkeypatch.setenv("D2L_LITE_DATA_URL", url)
    monkeypatch.setattr(data_module, "FRA_ENG_SHA1", hashlib.sha1(files["fra-eng.zip"]).hexdigest())
    data = d2l.MTFraEng(batch_size=2, num_steps=4, num_train=3, num_val=1, root=tmp_path)
    assert requests == ["/fra-eng.zip"]
    assert leftovers(tmp_path) == ["fra-eng", "fra-eng.zip", "fra-eng/fra.txt"]
    assert data.arrays[0].shape == (5, 4)
    # a second instance reads the extracted file: no new request
    d2l.MTFraEng(batch_size=2, num_steps=4, num_train=3, num_val=1, root=tmp_path)
    assert requests == ["/fra-eng.zip"]


def test_data_root_comes_from_the_environment(tmp_path, monkeypatch):
    (tmp_path / "fra-eng").mkdir()
    (tmp_path / "fra-eng" / "fra.txt").write_text(CORPUS, encoding="utf-8")
    monkeypatch.setenv("D2L_LITE_DATA", str(tmp_path))
    data = d2l.MTFraEng(batch_size=2, num_steps=4, num_train=3, num_val=1)
    assert data.root == str(tmp_path)
    assert data.src_vocab.idx_to_token == ["!", ".", "<eos>", "<pad>", "<unk>"]


def test_http_404_is_a_clear_error_and_leaves_nothing(server, tmp_path, monkeypatch):
    url, _, _ = server
    monkeypatch.setenv("D2L_LITE_DATA_URL", url)
    with pytest.raises(OSError, match=r"HTTP 404.*D2L_LITE_DATA_URL"):
        d2l.MTFraEng(batch_size=2, root=tmp_path)
    assert leftovers(tmp_path) == []


def test_sha1_mismatch_is_a_clear_error_and_leaves_nothing(server, tmp_path, monkeypatch):
    url, files, _ = server
    files["fra-eng.zip"] = make_zip()  # not d2l's archive: its SHA-1 differs
    monkeypatch.setenv("D2L_LITE_DATA_URL", url)
    with pytest.raises(OSError, match=r"SHA-1 [0-9a-f]{40}, expected 94646ad1.*nothing was kept"):
        d2l.MTFraEng(batch_size=2, root=tmp_path)
    assert leftovers(tmp_path) == []


def test_no_network_is_a_clear_error_and_leaves_nothing(tmp_path, monkeypatch):
    with socket.socket() as s:  # a loopback port that nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("D2L_LITE_DATA_URL", f"http://127.0.0.1:{port}/")
    with pytest.raises(OSError, match=r"could not download .*internet connection"):
        d2l.MTFraEng(batch_size=2, root=tmp_path)
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("text", ["", "no tabs here\njust lines\n"])
def test_empty_or_malformed_corpus_is_a_clear_error(tmp_path, text):
    (tmp_path / "fra-eng").mkdir()
    (tmp_path / "fra-eng" / "fra.txt").write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match="holds no sentence pairs.*empty or malformed"):
        d2l.MTFraEng(batch_size=2, root=tmp_path)


def test_non_utf8_corpus_is_a_clear_error(tmp_path):
    (tmp_path / "fra-eng").mkdir()
    (tmp_path / "fra-eng" / "fra.txt").write_bytes(b"Go.\tVa \xff!\n")
    with pytest.raises(ValueError, match="not UTF-8 text"):
        d2l.MTFraEng(batch_size=2, root=tmp_path)


def test_asking_for_more_pairs_than_the_corpus_holds_is_a_clear_error(tmp_path):
    (tmp_path / "fra-eng").mkdir()
    (tmp_path / "fra-eng" / "fra.txt").write_text(CORPUS, encoding="utf-8")
    with pytest.raises(ValueError, match=r"num_train \+ num_val = 640 but .* only 6 sentence"):
        d2l.MTFraEng(batch_size=2, root=tmp_path)


@pytest.mark.parametrize("kwargs,name", [(dict(batch_size=0), "batch_size"),
                                         (dict(batch_size=2, num_steps=0), "num_steps"),
                                         (dict(batch_size=2, num_train=0), "num_train"),
                                         (dict(batch_size=2.5), "batch_size")])
def test_sizes_below_one_are_rejected(tmp_path, kwargs, name):
    with pytest.raises(ValueError, match=f"{name} must be an integer >= "):
        d2l.MTFraEng(root=tmp_path, **kwargs)


def test_preprocessing_only_the_lines_used_equals_preprocessing_everything(data_root):
    data = d2l.MTFraEng(batch_size=4, root=data_root)
    text = (data_root / "fra-eng" / "fra.txt").read_text(encoding="utf-8")[:200_000]
    whole = data._preprocess(text)
    text = text.replace("\u202f", " ").replace("\xa0", " ")  # d2l's loop, as it stands
    loop = "".join(" " + c if i > 0 and c in ",.!?" and text[i - 1] != " " else c
                   for i, c in enumerate(text.lower()))
    assert whole == loop


def test_loaders_split_train_and_validation_like_d2l(data_root):
    data = d2l.MTFraEng(batch_size=128, root=data_root)
    train, val = data.train_dataloader(), data.val_dataloader()
    assert len(train) == 4 and len(val) == 2  # d2l keeps num_val + 1 = 129 pairs
    assert sum(len(b[0]) for b in val) == 129
    assert all(len(b) == 4 for b in train)
    src, tgt, src_len, label = next(iter(val))
    assert torch.equal(tgt[:, 1:], label[:, :-1])
