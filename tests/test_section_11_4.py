"""D2L §11.4's own PyTorch code runs verbatim with ``import d2l_lite as d2l``.

``goldens/d2l_section_11_4_pytorch.txt`` holds the page's code cells as published. Two changes
only: the import line, and 30 epochs cut to 2 to keep the test fast.
"""

import traceback
import types
from pathlib import Path

import matplotlib.pyplot as plt
import pytest
import torch

import d2l_lite as d2l
from d2l_lite.d2l.attention import AdditiveAttention
from d2l_lite.settings import PROBES

PAGE = Path(__file__).parent / "goldens" / "d2l_section_11_4_pytorch.txt"


def page_cells():
    cells = PAGE.read_text(encoding="utf-8").split("# %% cell\n")[1:]
    assert cells[0].startswith("from d2l import torch as d2l\n")
    cells[0] = cells[0].replace("from d2l import torch as d2l", "import d2l_lite as d2l")
    assert cells[4].count("max_epochs=30") == 2  # the pytorch branch and tensorflow's
    cells[4] = cells[4].replace("max_epochs=30", "max_epochs=2")
    return cells


def run_page(cells, namespace):
    tab = types.SimpleNamespace(selected=lambda *names: "pytorch" in names)
    namespace.setdefault("tab", tab)
    for i, cell in enumerate(cells):
        exec(compile(cell, f"{PAGE.name} cell {i}", "exec"), namespace)
    return namespace


def test_the_pages_pytorch_code_runs_verbatim(data_root, monkeypatch, capsys):
    monkeypatch.setenv("D2L_LITE_DATA", str(data_root))
    torch.manual_seed(0)
    ns = run_page(page_cells(), {})
    printed = capsys.readouterr().out.splitlines()
    assert [line.split(" => ")[0] for line in printed] == [en for en, _ in PROBES]
    assert all(", bleu," in line for line in printed)
    weights = ns["attention_weights"]
    assert weights.shape == (1, 1, ns["data"].num_steps, ns["data"].num_steps)
    torch.testing.assert_close(weights[0, 0].sum(-1), torch.ones(ns["data"].num_steps))
    assert len(ns["trainer"].history) == 2
    plt.close("all")


def test_the_readers_decoder_equals_d2l_lites_reference():
    """The page's decoder and ``d2l.Seq2SeqAttentionDecoder`` are the same model: with the
    same seed they start from the same weights and give the same logits and gradients."""
    ns = run_page(page_cells()[:3], {})  # imports, AttentionDecoder, Seq2SeqAttentionDecoder
    src = torch.randint(0, 10, (4, 7))
    tgt = torch.randint(0, 10, (4, 6))
    lens = torch.tensor([7, 2, 5, 4])
    results = []
    for decoder_class in (ns["Seq2SeqAttentionDecoder"], d2l.Seq2SeqAttentionDecoder):
        torch.manual_seed(0)
        encoder = d2l.Seq2SeqEncoder(10, 8, 16, 2, dropout=0.2)
        decoder = decoder_class(10, 8, 16, 2, dropout=0.2)
        model = d2l.Seq2Seq(encoder, decoder, tgt_pad=1, lr=0.01)
        torch.manual_seed(1)
        logits = model(src, tgt, lens)
        logits.sum().backward()
        results.append((logits, {n: p.grad for n, p in model.named_parameters()}))
    torch.testing.assert_close(results[1][0], results[0][0])
    for name, grad in results[0][1].items():
        torch.testing.assert_close(results[1][1][name], grad, msg=name)


@pytest.mark.parametrize("name,torch_name", [
    ("zeros", "zeros"), ("ones", "ones"), ("concat", "cat"), ("stack", "stack"),
    ("tensor", "tensor"), ("arange", "arange"), ("int64", "int64"), ("float32", "float32"),
    ("batch_matmul", "bmm"), ("tanh", "tanh")])
def test_d2ls_tensor_aliases_are_torchs_functions(name, torch_name):
    assert getattr(d2l, name) is getattr(torch, torch_name)


def test_d2ls_method_aliases_call_the_tensor_methods():
    x = torch.arange(6.0).reshape(2, 3)
    assert torch.equal(d2l.reshape(x, (3, 2)), x.reshape(3, 2))
    assert torch.equal(d2l.transpose(x), x.t())
    assert torch.equal(d2l.argmax(x, 1), torch.tensor([2, 2]))
    assert d2l.reduce_sum(x).item() == 15.0 and d2l.reduce_mean(x).item() == 2.5
    assert d2l.astype(x, torch.int64).dtype == torch.int64
    assert d2l.size(x) == 6 and d2l.expand_dims(x, 0).shape == (1, 2, 3)
    assert (d2l.numpy(x.requires_grad_()) == x.detach().numpy()).all()


# The readers' decoders of d2l_lite.section_11_4, which the exercise chapters train and diff.

def test_the_packaged_book_decoder_is_the_pages_code_verbatim():
    import inspect

    from d2l_lite.chapters import section_11_4

    assert inspect.getsource(section_11_4.Seq2SeqAttentionDecoder) == page_cells()[2]


def build(decoder_class, enc_rnn="gru", seed=0, **kwargs):
    torch.manual_seed(seed)
    encoder = d2l.Seq2SeqEncoder(10, 8, 16, 2, dropout=0.2, rnn=enc_rnn)
    return d2l.Seq2Seq(encoder, decoder_class(10, 8, 16, 2, dropout=0.2, **kwargs), tgt_pad=1,
                       lr=0.01)


def logits_and_grads(model, seed=1):
    g = torch.Generator().manual_seed(3)
    src, tgt = torch.randint(0, 10, (4, 7), generator=g), torch.randint(0, 10, (4, 6), generator=g)
    torch.manual_seed(seed)
    logits = model(src, tgt, torch.tensor([7, 2, 5, 4]))
    logits.sum().backward()
    return logits, {n: p.grad for n, p in model.named_parameters()}


def assert_same_model(a, b):
    (la, ga), (lb, gb) = logits_and_grads(a), logits_and_grads(b)
    torch.testing.assert_close(la, lb)
    assert ga.keys() == gb.keys()
    for name in ga:
        torch.testing.assert_close(ga[name], gb[name], msg=name)


@pytest.mark.parametrize("enc_rnn", ["gru", "lstm"])
def test_the_readers_lstm_decoder_is_d2l_lites_lstm_decoder(enc_rnn):
    from d2l_lite.chapters.section_11_4 import LSTMDecoder

    assert_same_model(build(LSTMDecoder, enc_rnn),
                      build(d2l.Seq2SeqAttentionDecoder, enc_rnn, rnn="lstm"))


def test_the_readers_dot_product_decoder_is_d2l_lites_dot_decoder():
    from d2l_lite.chapters.section_11_4 import DotProductDecoder

    assert_same_model(build(DotProductDecoder), build(d2l.Seq2SeqAttentionDecoder, scoring="dot"))


def test_the_state_wrapped_in_forward_trains_then_fails_in_predict_step():
    from d2l_lite.chapters.section_11_4 import LSTMDecoderStateWrappedInForward

    model = build(LSTMDecoderStateWrappedInForward)
    logits, _ = logits_and_grads(model)  # one call per batch: it trains
    assert torch.isfinite(logits).all()
    src = torch.randint(0, 10, (4, 7))
    batch = (src, src, torch.tensor([7, 2, 5, 4]), src)
    with pytest.raises(RuntimeError) as failure:  # the second token: a pair of pairs
        model.predict_step(batch, "cpu", 3)
    frames = [(f.name, f.filename) for f in traceback.extract_tb(failure.value.__traceback__)]
    # it fails in the attention, whose query is now a 4-D tensor; the LSTM is never reached
    assert ("forward", AdditiveAttention.forward.__code__.co_filename) in frames
    assert not any("rnn.py" in filename for _, filename in frames)


def test_the_cell_reset_decoder_trains_as_the_correct_one_but_forgets_c_between_tokens():
    from d2l_lite.chapters.section_11_4 import LSTMDecoder, LSTMDecoderCellReset

    correct, reset = build(LSTMDecoder), build(LSTMDecoderCellReset)
    assert_same_model(correct, reset)  # one call per sequence: the same computation
    reset.load_state_dict(correct.state_dict())
    g = torch.Generator().manual_seed(5)
    src = torch.randint(0, 10, (4, 7), generator=g)
    batch = (src, src, torch.tensor([7, 2, 5, 4]), src)
    correct_preds, reset_preds = (m.predict_step(batch, "cpu", 6)[0] for m in (correct, reset))
    assert correct_preds.shape == reset_preds.shape == (4, 6)
    lens = torch.tensor([7, 2, 5, 4])
    decoders = []
    for model in (correct, reset):
        model.eval()
        with torch.no_grad():
            whole = model(src, src[:, :6], lens)
            state = model.decoder.init_state(model.encoder(src, lens), lens)
            steps = []
            for t in range(6):
                y, state = model.decoder(src[:, t:t + 1], state)
                steps.append(y)
        decoders.append((whole - torch.cat(steps, 1)).abs().max().item())
    assert decoders[0] < 1e-5 < 1e-3 < decoders[1]  # only the reset decoder loses c
