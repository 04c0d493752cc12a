"""The reference encoder and Bahdanau decoder in all rnn x scoring variants."""

import itertools

import pytest
import torch
from torch import nn

import d2l_lite as d2l

VARIANTS = list(itertools.product(["gru", "lstm"], ["additive", "dot"]))
V, E, H, L, B, T = 12, 8, 16, 2, 4, 7


def make_model(rnn, scoring, enc_rnn=None, dropout=0.0):
    encoder = d2l.Seq2SeqEncoder(V, E, H, L, dropout, rnn=enc_rnn or rnn)
    decoder = d2l.Seq2SeqAttentionDecoder(V, E, H, L, dropout, rnn=rnn, scoring=scoring)
    return d2l.Seq2Seq(encoder, decoder, tgt_pad=1, lr=0.01)


def batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(2, V, (B, T), generator=g)
    tgt = torch.randint(2, V, (B, T), generator=g)
    return src, tgt, torch.tensor([7, 3, 5, 1]), torch.randint(1, V, (B, T), generator=g)


def test_d2ls_shape_checks_hold():
    encoder = d2l.Seq2SeqEncoder(10, 8, 16, 2)
    decoder = d2l.Seq2SeqAttentionDecoder(10, 8, 16, 2)
    X = torch.zeros((4, 7), dtype=torch.long)
    state = decoder.init_state(encoder(X), None)
    output, state = decoder(X, state)
    d2l.check_shape(output, (4, 7, 10))
    d2l.check_shape(state[0], (4, 7, 16))
    d2l.check_shape(state[1][0], (4, 16))


@pytest.mark.parametrize("rnn,scoring", VARIANTS)
def test_every_variant_trains_and_translates_with_attention_maps(rnn, scoring):
    torch.manual_seed(0)
    model = make_model(rnn, scoring, dropout=0.1)
    data = batch()
    model(*data[:-1])
    optim = model.configure_optimizers()
    losses = []
    for _ in range(100):
        loss = model.loss(model(*data[:-1]), data[-1])
        optim.zero_grad()
        loss.backward()
        optim.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    preds, steps = model.predict_step(data, "cpu", 5, save_attention_weights=True)
    assert preds.shape == (B, 5)
    maps = torch.cat([s[0] for s in steps], 1)  # (B, 5, K)
    assert maps.shape == (B, 5, T)
    torch.testing.assert_close(maps.sum(-1), torch.ones(B, 5))
    assert torch.all(maps[1, :, 3:] == 0) and torch.all(maps[3, :, 1:] == 0)


def test_lstm_state_is_a_pair_that_survives_predict_step():
    torch.manual_seed(0)
    model = make_model("lstm", "additive").eval()
    src, tgt, lens, _ = batch()
    state = model.decoder.init_state(model.encoder(src), lens)
    h, c = state[1]
    assert h.shape == c.shape == (L, B, H)
    _, state = model.decoder(tgt[:, :1], state)
    assert isinstance(state[1], tuple) and state[1][1].abs().sum() > 0
    # stepping one token at a time equals decoding the whole sequence at once
    full, _ = model.decoder(tgt, model.decoder.init_state(model.encoder(src), lens))
    state = model.decoder.init_state(model.encoder(src), lens)
    steps = []
    for t in range(T):
        y, state = model.decoder(tgt[:, t:t + 1], state)
        steps.append(y)
    torch.testing.assert_close(torch.cat(steps, 1), full)


def test_gru_encoder_to_lstm_decoder_starts_with_zero_cell_state():
    model = make_model("lstm", "dot", enc_rnn="gru")
    src, _, lens, _ = batch()
    enc_outputs = model.encoder(src)
    h, c = model.decoder.init_state(enc_outputs, lens)[1]
    torch.testing.assert_close(h, enc_outputs[1])
    assert torch.all(c == 0)


def test_lstm_encoder_to_gru_decoder_uses_the_hidden_state():
    model = make_model("gru", "additive", enc_rnn="lstm")
    src, _, lens, _ = batch()
    enc_outputs = model.encoder(src)
    torch.testing.assert_close(model.decoder.init_state(enc_outputs, lens)[1], enc_outputs[1][0])


def test_init_seq2seq_gives_lstm_weights_xavier_like_gru_weights():
    torch.manual_seed(0)
    lstm = nn.LSTM(6, 5, 2)
    default = {n: p.clone() for n, p in lstm.named_parameters()}
    torch.manual_seed(1)
    d2l.init_seq2seq(lstm)
    torch.manual_seed(1)
    expected = {n: nn.init.xavier_uniform_(p.clone()) if "weight" in n else p
                for n, p in default.items()}
    for name, p in lstm.named_parameters():
        torch.testing.assert_close(p, expected[name])
        assert ("weight" in name) != torch.equal(p, default[name])


def test_loss_ignores_padding():
    model = make_model("gru", "additive")
    Y = torch.tensor([[3, 4, 1, 1]])
    Y_hat = torch.randn(1, 4, V)
    changed = Y_hat.clone()
    changed[0, 2:] = torch.randn(2, V) * 100  # logits at <pad> positions do not matter
    torch.testing.assert_close(model.loss(Y_hat, Y), model.loss(changed, Y))
    expected = nn.functional.cross_entropy(Y_hat[0, :2], Y[0, :2])
    torch.testing.assert_close(model.loss(Y_hat, Y), expected)


@pytest.mark.parametrize("kwargs,match", [(dict(rnn="rnn"), "unknown rnn 'rnn'"),
                                          (dict(scoring="mult"), "unknown scoring 'mult'"),
                                          (dict(num_hiddens=0), "num_hiddens must be an integer"),
                                          (dict(num_layers=1.5), "num_layers must be an integer")])
def test_unknown_rnn_or_scoring_names_and_bad_sizes_are_rejected(kwargs, match):
    sizes = dict(vocab_size=V, embed_size=E, num_hiddens=H, num_layers=L)
    with pytest.raises(ValueError, match=match):
        d2l.Seq2SeqAttentionDecoder(**{**sizes, **kwargs})


@pytest.mark.parametrize("bad", [dict(vocab_size=0), dict(embed_size=-1), dict(num_layers=0)])
def test_encoder_rejects_sizes_below_one(bad):
    sizes = dict(vocab_size=V, embed_size=E, num_hiddens=H, num_layers=L)
    with pytest.raises(ValueError, match=f"{next(iter(bad))} must be an integer >= 1"):
        d2l.Seq2SeqEncoder(**{**sizes, **bad})


def test_unknown_encoder_rnn_is_rejected():
    with pytest.raises(ValueError, match="unknown rnn 'transformer'.*choose one of"):
        d2l.Seq2SeqEncoder(V, E, H, L, rnn="transformer")


def test_dot_scoring_has_no_attention_parameters_and_additive_has_three():
    additive, dot = make_model("gru", "additive"), make_model("gru", "dot")
    for model in (additive, dot):
        model(*batch()[:-1])
    names = [n for n, _ in additive.decoder.attention.named_parameters()]
    assert sorted(names) == ["W_k.weight", "W_q.weight", "w_v.weight"]
    assert list(dot.decoder.attention.parameters()) == []


def test_predict_step_restores_training_mode():
    model = make_model("gru", "dot", dropout=0.5)
    model.train()
    model.predict_step(batch(), "cpu", 3)
    assert model.training
