"""MTFraEng's corpus handling: a complete local file first, downloads through a loopback HTTP
server (SHA-1 checked, locked, capped, swept), clear errors that leave nothing half-written,
and sentences that cannot be silently misaligned."""

import errno
import hashlib
import io
import os
import socket
import threading
import time
import zipfile

import pytest
import torch

import d2l_lite as d2l
from d2l_lite.chapters import experiment as experiment_module
from d2l_lite.d2l import download
from d2l_lite.d2l.data import preprocess

CORPUS = "Go.\tVa !\nHi.\tSalut !\nRun!\tCours !\nWho?\tQui ?\nWow!\tÇa alors !\nGo.\tBouge !\n"


def make_zip(text=CORPUS):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("fra-eng/fra.txt", text)
        z.writestr("fra-eng/_about.txt", "test corpus")
    return buf.getvalue()


@pytest.fixture
def corpus_is(monkeypatch):
    """Make ``text`` (str or bytes) the corpus that d2l_lite accepts as d2l's."""

    def accept(text):
        body = text.encode() if isinstance(text, str) else text
        monkeypatch.setattr(download, "FRA_TXT_SIZE", len(body))
        monkeypatch.setattr(download, "FRA_TXT_SHA256", hashlib.sha256(body).hexdigest())
        return body

    accept(CORPUS)
    return accept


def write_corpus(root, text=CORPUS):
    (root / "fra-eng").mkdir(parents=True, exist_ok=True)
    body = text.encode() if isinstance(text, str) else text
    (root / "fra-eng" / "fra.txt").write_bytes(body)


@pytest.fixture
def server(loopback, monkeypatch):
    """The loopback server (tests/conftest.py) as the corpus's mirror: it serves an archive
    whose SHA-1 d2l_lite takes for d2l's."""
    url, files, requests = loopback
    monkeypatch.setenv("D2L_LITE_DATA_URL", url)
    files["fra-eng.zip"] = make_zip()
    monkeypatch.setattr(download, "FRA_ENG_SHA1", hashlib.sha1(files["fra-eng.zip"]).hexdigest())
    return url, files, requests


def leftovers(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*")
                  if p.name != ".fra-eng.lock")


def small(**kwargs):
    return d2l.MTFraEng(batch_size=2, num_steps=4, num_train=3, num_val=1, **kwargs)


def test_the_default_download_is_https():
    assert download.DATA_URL.startswith("https://")


def test_downloads_checks_extracts_and_leaves_no_temporary_file(server, tmp_path, corpus_is):
    _, _, requests = server
    data = small(root=tmp_path)
    assert requests == ["/fra-eng.zip"]
    assert leftovers(tmp_path) == ["fra-eng", "fra-eng.zip", "fra-eng/fra.txt"]
    assert data.arrays[0].shape == (5, 4)
    small(root=tmp_path)  # a second instance reads the extracted file: no new request
    assert requests == ["/fra-eng.zip"]


def test_data_root_comes_from_the_environment_with_tilde_expanded(tmp_path, monkeypatch,
                                                                  corpus_is):
    monkeypatch.setenv("HOME", str(tmp_path))
    write_corpus(tmp_path / "corpora")
    monkeypatch.setenv("D2L_LITE_DATA", "~/corpora")
    data = small()
    assert data.root == str(tmp_path / "corpora")
    assert data.src_vocab.idx_to_token == ["!", ".", "<eos>", "<pad>", "<unk>"]


def test_a_byte_order_mark_is_not_part_of_the_first_token(tmp_path, corpus_is):
    text = "Go.\tVa !\nGo.\tBouge !\nHi.\tSalut !\nRun!\tCours !\nWho?\tQui ?\n"
    corpus_is(text)
    write_corpus(tmp_path, b"\xef\xbb\xbf" + text.encode())
    data = small(root=tmp_path)
    assert data.src_vocab.to_tokens(data.arrays[0][0][0]) == "go"  # seen twice: in the vocab


def test_an_incomplete_corpus_already_there_is_not_trusted(tmp_path, corpus_is):
    write_corpus(tmp_path, CORPUS[:-20])
    with pytest.raises(ValueError, match=r"bytes, but d2l's fra.txt has .*partial copy.*delete"):
        small(root=tmp_path)


def test_a_damaged_corpus_of_the_right_size_is_not_trusted(tmp_path, corpus_is):
    write_corpus(tmp_path, CORPUS.replace("Va", "Vb"))
    with pytest.raises(ValueError, match=r"SHA-256 [0-9a-f]{64}, expected .*damaged"):
        small(root=tmp_path)


def test_http_404_is_a_network_error_and_leaves_nothing(server, tmp_path, corpus_is):
    _, files, _ = server
    del files["fra-eng.zip"]
    with pytest.raises(download.DownloadError, match=r"HTTP 404.*D2L_LITE_DATA_URL"):
        small(root=tmp_path)
    assert leftovers(tmp_path) == []


def test_sha1_mismatch_is_a_clear_error_and_leaves_nothing(server, tmp_path, monkeypatch):
    monkeypatch.setattr(download, "FRA_ENG_SHA1", "94646ad1522d915e7b0f9296181140edcf86a4f5")
    with pytest.raises(download.DownloadError,
                       match=r"SHA-1 [0-9a-f]{40}, expected 94646ad1.*nothing was kept"):
        small(root=tmp_path)
    assert leftovers(tmp_path) == []


def test_no_network_is_a_network_error_and_leaves_nothing(tmp_path, monkeypatch):
    with socket.socket() as s:  # a loopback port that nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("D2L_LITE_DATA_URL", f"http://127.0.0.1:{port}/")
    with pytest.raises(download.DownloadError, match=r"could not reach .*internet connection"):
        small(root=tmp_path)
    assert leftovers(tmp_path) == []


def test_a_body_cut_off_midway_is_a_network_error_and_leaves_nothing(server, tmp_path):
    _, files, _ = server

    def cut_off(handler):  # a chunked body that stops before its last chunk
        handler.send_response(200)
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        handler.wfile.write(b"100\r\n" + b"x" * 100)
        handler.wfile.flush()
        handler.close_connection = True

    files["fra-eng.zip"] = cut_off
    with pytest.raises(download.DownloadError, match=r"broke off .*IncompleteRead"):
        small(root=tmp_path)
    assert leftovers(tmp_path) == []


def test_a_body_over_the_size_cap_is_refused(server, tmp_path, monkeypatch):
    monkeypatch.setattr(download, "MAX_BYTES", 100)
    with pytest.raises(download.DownloadError, match=r"announces .* more than the 100"):
        small(root=tmp_path)
    assert leftovers(tmp_path) == []


def test_a_download_past_its_deadline_is_stopped(server, tmp_path, monkeypatch):
    _, files, _ = server
    body = files["fra-eng.zip"]

    def slow(handler):
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        for i in range(0, len(body), 64):
            handler.wfile.write(body[i:i + 64])
            handler.wfile.flush()
            time.sleep(0.05)

    files["fra-eng.zip"] = slow
    monkeypatch.setattr(download, "DEADLINE", 0.2)
    with pytest.raises(download.DownloadError, match=r"took too long"):
        small(root=tmp_path)
    assert leftovers(tmp_path) == []


def test_a_full_disk_is_a_local_error_with_its_own_advice(server, tmp_path, monkeypatch):
    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(download, "_fetch", no_space)
    with pytest.raises(OSError, match=r"no space left .*D2L_LITE_DATA to a folder on another"):
        small(root=tmp_path)
    assert leftovers(tmp_path) == []


def test_an_unwritable_root_names_d2l_lite_data(monkeypatch, tmp_path):
    def refuse(self, *args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(self))

    monkeypatch.setattr(download.Path, "mkdir", refuse)
    with pytest.raises(OSError, match=r"cannot write to .*set D2L_LITE_DATA to a folder you"):
        small(root=tmp_path / "read-only")


def test_leftovers_of_killed_downloads_are_swept(server, tmp_path, corpus_is):
    (tmp_path / "fra-eng").mkdir()
    stale = [tmp_path / "fra-eng.zip.abc.part", tmp_path / "fra-eng" / "fra.txt.xyz.part"]
    for path in stale:
        path.write_bytes(b"half")
    small(root=tmp_path)
    assert leftovers(tmp_path) == ["fra-eng", "fra-eng.zip", "fra-eng/fra.txt"]


def test_a_users_folder_under_the_root_is_never_removed(server, tmp_path, corpus_is):
    thesis = tmp_path / "tmp_thesis"
    (thesis / "fra-eng").mkdir(parents=True)
    (thesis / "fra-eng" / "fra.txt").write_text("my own corpus")
    (thesis / "chapter1.tex").write_text("\\chapter{Attention}")
    (tmp_path / "fra-eng.zip.notes.part").mkdir()  # a folder with a name like debris
    small(root=tmp_path)
    assert (thesis / "chapter1.tex").read_text() == "\\chapter{Attention}"
    assert (thesis / "fra-eng" / "fra.txt").read_text() == "my own corpus"
    assert (tmp_path / "fra-eng.zip.notes.part").is_dir()


def test_a_trickling_server_is_stopped_at_the_deadline(server, tmp_path, monkeypatch):
    _, files, _ = server

    def trickle(handler):  # a byte every 20 ms: each read gets something, never 64 KiB
        handler.send_response(200)
        handler.send_header("Content-Length", "100000")
        handler.end_headers()
        for _ in range(100000):
            try:
                handler.wfile.write(b"x")
                handler.wfile.flush()
            except OSError:
                return
            time.sleep(0.02)

    files["fra-eng.zip"] = trickle
    monkeypatch.setattr(download, "DEADLINE", 1)
    start = time.monotonic()
    with pytest.raises(download.DownloadError, match=r"took too long \(over 1 s\)"):
        small(root=tmp_path)
    assert time.monotonic() - start < 2.5
    assert leftovers(tmp_path) == []


def test_waiting_for_another_process_download_has_a_limit(tmp_path, monkeypatch):
    import fcntl

    monkeypatch.setattr(download, "LOCK_WAIT", 0.3)
    with open(tmp_path / ".fra-eng.lock", "w") as held:  # another process, downloading
        fcntl.flock(held, fcntl.LOCK_EX)
        start = time.monotonic()
        with pytest.raises(download.DownloadError, match=r"another process .* over 0 s"):
            small(root=tmp_path)
    assert time.monotonic() - start < 2


def test_a_malformed_content_length_is_a_download_error(server, tmp_path):
    _, files, _ = server
    body = files["fra-eng.zip"]

    def malformed(handler):
        handler.send_response(200)
        handler.send_header("Content-Length", "12abc")
        handler.end_headers()
        handler.wfile.write(body)
        handler.close_connection = True

    files["fra-eng.zip"] = malformed
    with pytest.raises(download.DownloadError, match=r"malformed length .*'12abc'"):
        small(root=tmp_path)
    assert leftovers(tmp_path) == []


def test_an_ssl_error_midway_is_a_download_error(tmp_path, monkeypatch):
    import ssl

    class Response:
        headers = {"Content-Length": "1000"}

        def read1(self, n):
            raise ssl.SSLError(1, "[SSL: DECRYPTION_FAILED_OR_BAD_RECORD_MAC]")

        def __enter__(self):
            return self

        def __exit__(self, *args):
            return False

    monkeypatch.setattr(download.urllib.request, "urlopen", lambda *a, **k: Response())
    with pytest.raises(download.DownloadError, match=r"broke off \(SSLError"):
        small(root=tmp_path)
    assert leftovers(tmp_path) == []


def test_a_corpus_altered_after_a_check_is_not_trusted_whatever_its_times(tmp_path, corpus_is):
    write_corpus(tmp_path)
    small(root=tmp_path)  # checked once
    corpus = tmp_path / "fra-eng" / "fra.txt"
    times = corpus.stat()
    corpus.write_text(CORPUS.replace("Va", "Vb"))  # same size: as cp -p of an altered copy
    os.utime(corpus, ns=(times.st_atime_ns, times.st_mtime_ns))
    with pytest.raises(ValueError, match=r"SHA-256 .*damaged"):
        small(root=tmp_path)


def test_a_read_only_root_with_a_complete_corpus_is_enough(tmp_path, corpus_is, monkeypatch):
    write_corpus(tmp_path)
    before = leftovers(tmp_path)
    real_open = open

    def read_only(file, mode="r", *args, **kwargs):
        if str(file).startswith(str(tmp_path)) and any(m in mode for m in "wax+"):
            raise PermissionError(errno.EROFS, "Read-only file system", str(file))
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr("builtins.open", read_only)
    for _ in range(2):
        assert small(root=tmp_path).arrays[0].shape == (5, 4)
    assert leftovers(tmp_path) == before


def test_concurrent_first_uses_make_one_request(server, tmp_path, corpus_is):
    _, files, requests = server
    body = files["fra-eng.zip"]

    def slowly(handler):  # long enough for the other thread to arrive meanwhile
        time.sleep(0.3)
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    files["fra-eng.zip"] = slowly
    errors = []

    def first_use():
        try:
            download.fra_eng_path(tmp_path)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=first_use) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and requests == ["/fra-eng.zip"]


@pytest.mark.parametrize("text", ["", "no tabs here\njust lines\n"])
def test_empty_or_malformed_corpus_is_a_clear_error(tmp_path, text, corpus_is):
    corpus_is(text)
    write_corpus(tmp_path, text)
    with pytest.raises(ValueError, match="holds no sentence pairs.*empty or malformed"):
        d2l.MTFraEng(batch_size=2, root=tmp_path)


def test_non_utf8_corpus_is_a_clear_error(tmp_path, corpus_is):
    corpus_is(b"Go.\tVa \xff!\n")
    write_corpus(tmp_path, b"Go.\tVa \xff!\n")
    with pytest.raises(ValueError, match="not UTF-8 text"):
        d2l.MTFraEng(batch_size=2, root=tmp_path)


def test_asking_for_more_pairs_than_the_corpus_holds_is_a_clear_error(tmp_path, corpus_is):
    write_corpus(tmp_path)
    with pytest.raises(ValueError, match=r"num_train \+ num_val = 640 but .* only 6 sentence"):
        d2l.MTFraEng(batch_size=2, root=tmp_path)


@pytest.mark.parametrize("kwargs,name", [(dict(batch_size=0), "batch_size"),
                                         (dict(batch_size=2, num_steps=0), "num_steps"),
                                         (dict(batch_size=2, num_train=0), "num_train"),
                                         (dict(batch_size=2.5), "batch_size")])
def test_sizes_below_one_are_rejected(tmp_path, kwargs, name):
    with pytest.raises(ValueError, match=f"{name} must be an integer >= "):
        d2l.MTFraEng(root=tmp_path, **kwargs)


# Sentences in: nothing silently dropped, shifted or cut short

@pytest.fixture
def tiny(tmp_path, corpus_is):
    write_corpus(tmp_path)
    data = small(root=tmp_path)
    torch.manual_seed(0)
    model = experiment_module.make_model(data, embed_size=4, num_hiddens=4, num_layers=1,
                                         dropout=0.0)
    return data, model


@pytest.mark.parametrize("bad,what", [("i lost .\nhe ran .", "a newline"),
                                      ("i lost .\the ran .", "a TAB"),
                                      ("i lost .\r", "a carriage return")])
def test_a_sentence_with_a_line_or_field_break_is_rejected(tiny, bad, what):
    data, model = tiny
    with pytest.raises(ValueError, match=f"src_sentences\\[1\\] = .* contains {what}"):
        data.build(["go .", bad], ["va !", "j'ai perdu ."])
    with pytest.raises(ValueError, match=f"contains {what}"):
        experiment_module.translate(model, data, ["go .", bad])
    with pytest.raises(ValueError, match=f"tgt_sentences\\[0\\] = .* contains {what}"):
        experiment_module.mean_bleu(model, data, ["go ."], [bad])


def test_lists_of_unequal_length_are_rejected(tiny):
    data, model = tiny
    with pytest.raises(ValueError, match="2 source sentences but 1 target"):
        data.build(["go .", "hi ."], ["va !"])
    with pytest.raises(ValueError, match="2 source sentences but 1 references"):
        experiment_module.mean_bleu(model, data, ["go .", "hi ."], ["va !"])


@pytest.mark.parametrize("empty", [[], ()])
def test_empty_input_is_rejected(tiny, empty):
    data, model = tiny
    with pytest.raises(ValueError, match="is empty: pass at least one sentence"):
        data.build(empty, empty)
    with pytest.raises(ValueError, match="is empty"):
        experiment_module.translate(model, data, empty)
    with pytest.raises(TypeError, match="must be a list of sentences"):
        experiment_module.translate(model, data, "go .")


def test_build_keeps_every_pair_however_many(tiny):
    data, _ = tiny
    n = data.num_train + data.num_val + 5
    arrays = data.build(["go ."] * n, ["va !"] * n)
    assert all(len(a) == n for a in arrays)


def test_translations_are_token_lists_even_for_one_step(tiny, tmp_path):
    data, model = tiny
    one_step = d2l.MTFraEng(batch_size=2, num_steps=1, num_train=3, num_val=1, root=tmp_path)
    for d in (data, one_step):
        translations, _ = experiment_module.translate(model, d, ["go .", "hi ."])
        assert all(isinstance(t, list) for t in translations)


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


def test_the_shared_corpus_is_d2ls(data_root):
    download.check_corpus(data_root / "fra-eng" / "fra.txt")
    assert os.path.getsize(data_root / "fra-eng" / "fra.txt") == download.FRA_TXT_SIZE


def test_the_probe_sentences_are_where_the_book_says(data_root):
    """settings.PROBES' docstring: three probes are lines 1, 50 and 350 of fra.txt (among
    §11.4's training pairs), "he's calm ." is on no line, "he's wet ." is line 274."""
    from d2l_lite.settings import PROBES

    lines = preprocess((data_root / "fra-eng" / "fra.txt").read_text(
        encoding="utf-8-sig")).split("\n")
    sources = [line.split("\t")[0] for line in lines]
    found = {en: [i + 1 for i, s in enumerate(sources) if s == en] for en, _ in PROBES}
    assert list(found.values()) == [[1], [50], [], [350]]
    assert all(i <= 512 for en, where in found.items() for i in where)
    assert [i + 1 for i, s in enumerate(sources) if s == "he's wet ."] == [274]
    assert not any("he's calm" in line for line in lines)
