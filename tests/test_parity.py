"""d2l_lite against d2l 1.0.3's outputs on the same inputs (made by benchmarks/make_goldens.py)."""

import hashlib

import pytest
import torch

import d2l_lite as d2l
from d2l_lite import settings
from d2l_lite.d2l.seq2seq import EncoderDecoder
from d2l_lite.fast import FastSeq2Seq, FastSeq2SeqAttentionDecoder


def digest(tensor):
    return hashlib.sha256(tensor.contiguous().numpy().tobytes()).hexdigest()


@pytest.mark.parametrize("index", [0, 1, 2])
def test_mtfraeng_builds_d2ls_arrays_and_vocabularies(goldens, data_root, index):
    golden = goldens["data"][index]
    data = d2l.MTFraEng(batch_size=4, root=data_root, **golden["config"])
    assert [tuple(a.shape) for a in data.arrays] == golden["shapes"]
    assert [str(a.dtype) for a in data.arrays] == golden["dtypes"]
    assert data.src_vocab.idx_to_token == golden["src_tokens"]
    assert data.tgt_vocab.idx_to_token == golden["tgt_tokens"]
    assert [digest(a) for a in data.arrays] == golden["arrays"]


def test_build_maps_new_sentences_like_d2l_with_unknown_words(goldens, data_root):
    data = d2l.MTFraEng(batch_size=4, root=data_root)
    engs, fras = zip(*settings.PROBES)
    built = data.build([*engs, "zyx unknownword ."], [*fras, "qwv motinconnu ."])
    for ours, theirs in zip(built, goldens["data"][0]["built"]):
        assert torch.equal(ours, theirs)
    assert built[0][-1, 0] == data.src_vocab.unk


def test_masked_softmax_matches_d2l(goldens):
    g = goldens["attention"]
    torch.testing.assert_close(d2l.masked_softmax(g["X"], torch.tensor([2, 4])), g["softmax_1d"])
    torch.testing.assert_close(
        d2l.masked_softmax(g["X"], torch.tensor([[1, 3, 5], [2, 4, 0]])), g["softmax_2d"])


def test_additive_attention_loads_d2l_weights_and_matches(goldens):
    g = goldens["attention"]["additive"]
    attention = d2l.AdditiveAttention(num_hiddens=8, dropout=0.1).eval()
    attention(g["queries"], g["keys"], g["values"], g["valid_lens"])  # creates the lazy layers
    attention.load_state_dict(g["state_dict"])
    out = attention(g["queries"], g["keys"], g["values"], g["valid_lens"])
    torch.testing.assert_close(out, g["output"])
    torch.testing.assert_close(attention.attention_weights, g["weights"])


def test_dot_product_attention_matches_d2l(goldens):
    g = goldens["attention"]["dot"]
    attention = d2l.DotProductAttention(dropout=0.5).eval()
    out = attention(g["queries"], g["keys"], g["values"], g["valid_lens"])
    torch.testing.assert_close(out, g["output"])
    torch.testing.assert_close(attention.attention_weights, g["weights"])


def test_bleu_matches_d2l(goldens):
    for pred, label, k, expected in goldens["bleu"]:
        assert d2l.bleu(pred, label, k) == pytest.approx(expected, abs=1e-12), (pred, label, k)


def test_vocab_matches_d2l(goldens):
    g = goldens["vocab"]
    vocab = d2l.Vocab(g["tokens"], min_freq=2, reserved_tokens=["<pad>", "<bos>"])
    assert vocab.idx_to_token == g["idx_to_token"]
    assert vocab[["the", "cat", "zebra", "<pad>"]] == g["lookup"]
    assert vocab.to_tokens([0, 3, 4]) == g["to_tokens"]


class D2LLossSeq2Seq(d2l.Seq2Seq):
    """Seq2Seq with d2l 1.0.3's loss (averaged over padding too), for trajectory parity."""

    def loss(self, Y_hat, Y, averaged=True):
        return EncoderDecoder.loss(self, Y_hat, Y, averaged)


class D2LLossFastSeq2Seq(FastSeq2Seq):
    """The fast path with d2l 1.0.3's loss, which reads every position, padding included."""

    def loss(self, Y_hat, Y, averaged=True):
        return EncoderDecoder.loss(self, Y_hat, Y, averaged)

    def training_step(self, batch):
        return self.loss(self(*batch[:-1]), batch[-1])

    def validation_step(self, batch):
        return self.loss(self(*batch[:-1]), batch[-1])


def small_model(goldens, fast=False):
    g = goldens["model"]
    encoder = d2l.Seq2SeqEncoder(10, 8, 16, 2, 0.1)
    if fast:
        decoder = FastSeq2SeqAttentionDecoder(10, 8, 16, 2, 0.1)
        model = D2LLossFastSeq2Seq(encoder, decoder, tgt_pad=1, lr=0.01)
    else:
        decoder = d2l.Seq2SeqAttentionDecoder(10, 8, 16, 2, 0.1)
        model = D2LLossSeq2Seq(encoder, decoder, tgt_pad=1, lr=0.01)
    model.eval()
    model(*g["batch"][:-1])  # create the lazy layers
    model.load_state_dict(g["state_dict"])  # d2l's keys, encoder's "rnn.rnn." included
    return model, g


@pytest.mark.parametrize("fast", [False, True], ids=["reference", "fast"])
def test_model_with_d2l_weights_gives_d2ls_logits_attention_loss_and_gradients(goldens, fast):
    model, g = small_model(goldens, fast)
    logits = model(*g["batch"][:-1])
    torch.testing.assert_close(logits, g["logits"])
    weights = torch.cat(model.decoder.attention_weights, 1)
    torch.testing.assert_close(weights, g["weights"])
    loss = model.loss(logits, g["batch"][-1])
    torch.testing.assert_close(loss, g["loss"])
    loss.backward()
    for name, p in model.named_parameters():
        key = name if name in g["grads"] else name.replace("encoder.rnn.", "encoder.rnn.rnn.")
        torch.testing.assert_close(p.grad, g["grads"][key], msg=name)


@pytest.mark.parametrize("fast", [False, True], ids=["reference", "fast"])
def test_predict_step_matches_d2l(goldens, fast):
    model, g = small_model(goldens, fast)
    preds, steps = model.predict_step(g["batch"], "cpu", 5, save_attention_weights=True)
    assert torch.equal(preds, g["preds"])
    torch.testing.assert_close(torch.cat([s[0] for s in steps], 1), g["predict_weights"])


@pytest.mark.slow
@pytest.mark.parametrize("fast", [False, True], ids=["reference", "fast"])
def test_seed_0_reproduces_d2ls_probe_translations(goldens, data_root, fast):
    """§11.4 as printed, with d2l's loss: same initial weights, batches, dropout masks."""
    hp = settings.HPARAMS
    args = (hp["embed_size"], hp["num_hiddens"], hp["num_layers"], hp["dropout"])
    torch.manual_seed(0)
    data = d2l.MTFraEng(batch_size=hp["batch_size"], root=data_root)
    encoder = d2l.Seq2SeqEncoder(len(data.src_vocab), *args)
    model_class = D2LLossFastSeq2Seq if fast else D2LLossSeq2Seq
    decoder_class = FastSeq2SeqAttentionDecoder if fast else d2l.Seq2SeqAttentionDecoder
    model = model_class(encoder, decoder_class(len(data.tgt_vocab), *args),
                        tgt_pad=data.tgt_vocab["<pad>"], lr=hp["lr"])
    d2l.Trainer(max_epochs=hp["max_epochs"], gradient_clip_val=hp["gradient_clip_val"]).fit(
        model, data)
    engs, fras = zip(*settings.PROBES)
    preds, _ = model.predict_step(data.build(list(engs), list(fras)), "cpu", data.num_steps)
    for fr, p, (tokens, score) in zip(fras, preds, goldens["translations"]):
        ours = data.tgt_vocab.to_tokens(p)
        ours = ours[:ours.index("<eos>")] if "<eos>" in ours else ours
        assert ours == tokens
        assert d2l.bleu(" ".join(ours), fr, k=2) == pytest.approx(score)


def test_vocab_to_tokens_accepts_an_index_a_scalar_tensor_or_a_sequence():
    vocab = d2l.Vocab([["a", "b", "a", "b"]])
    assert vocab.to_tokens(1) == vocab.to_tokens(torch.tensor(1)) == "a"
    assert vocab.to_tokens(torch.tensor([1])) == "a"
    assert vocab.to_tokens(torch.tensor([1, 2])) == ["a", "b"]
