"""The encoder and Bahdanau decoder in all rnn x scoring variants."""

import itertools

import pytest
import torch
from torch import nn
from torch.nn import functional as F

import d2l_lite as d2l
from d2l_lite.rnn import dropout_noise, embedding_gates, stacked_rnn

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


def reference_forward(decoder, X, state):
    """The decoder loop as D2L §11.4 writes it: nn.GRU/nn.LSTM called once per step."""
    enc_outputs, hidden_state, enc_valid_lens, _ = state
    outputs, weights = [], []
    for x in decoder.embedding(X.t()):
        h_top = hidden_state[0][-1] if decoder.is_lstm else hidden_state[-1]
        context = decoder.attention(h_top.unsqueeze(1), enc_outputs, enc_outputs,
                                    enc_valid_lens)
        x = torch.cat((context, x.unsqueeze(1)), dim=-1)
        out, hidden_state = decoder.rnn(x.permute(1, 0, 2), hidden_state)
        outputs.append(out)
        weights.append(decoder.attention.attention_weights)
    return decoder.dense(torch.cat(outputs, 0)).permute(1, 0, 2), hidden_state, weights


@pytest.mark.parametrize("training", [False, True], ids=["eval", "train-dropout"])
@pytest.mark.parametrize("rnn,scoring", VARIANTS)
def test_stepwise_cells_equal_nn_rnn_called_per_step(rnn, scoring, training):
    """In training mode with dropout, the same seed must give the same dropout masks."""
    torch.manual_seed(0)
    model = make_model(rnn, scoring, dropout=0.3 if training else 0.0).train(training)
    src, tgt, lens, _ = batch()
    state = model.decoder.init_state(model.encoder(src), lens)
    state = [s.detach() if torch.is_tensor(s) else s for s in state]
    torch.manual_seed(1)
    logits, new_state = model.decoder(tgt, state)
    torch.manual_seed(1)
    ref_logits, ref_hidden, ref_weights = reference_forward(model.decoder, tgt, state)
    torch.testing.assert_close(logits, ref_logits)
    for ours, ref in zip(model.decoder.attention_weights, ref_weights):
        torch.testing.assert_close(ours, ref)
    if rnn == "lstm":
        torch.testing.assert_close(new_state[1][0], ref_hidden[0])
        torch.testing.assert_close(new_state[1][1], ref_hidden[1])
    else:
        torch.testing.assert_close(new_state[1], ref_hidden)


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
                                          (dict(scoring="mult"), "unknown scoring 'mult'")])
def test_unknown_rnn_or_scoring_names_are_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        d2l.Seq2SeqAttentionDecoder(V, E, H, L, **kwargs)


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


@pytest.mark.parametrize("rnn", ["gru", "lstm"])
@pytest.mark.parametrize("training", [False, True], ids=["eval", "train-dropout"])
@pytest.mark.parametrize("stepwise", [None, 1, 2], ids=["all-stepwise", "1-stepwise",
                                                       "2-stepwise"])
def test_stacked_rnn_equals_nn_rnn_outputs_state_and_gradients(rnn, training, stepwise):
    """stacked_rnn (the encoder's path on the CPU), all layers step by step or only the
    lowest ones, the rest fused, against nn.GRU/nn.LSTM themselves; 3 layers, so that
    dropout masks are drawn both before and inside the fused call."""
    torch.manual_seed(0)
    encoder = d2l.Seq2SeqEncoder(V, E, H, 3, dropout=0.3, rnn=rnn).train(training)
    src = batch()[0]
    torch.manual_seed(1)
    outputs, state = stacked_rnn(encoder.rnn, encoder.embedding, src.t(), training, stepwise)
    after_ours = torch.rand(3)
    torch.manual_seed(1)
    ref_outputs, ref_state = encoder.rnn(encoder.embedding(src.t()))
    torch.testing.assert_close(torch.rand(3), after_ours)  # the same random draws
    torch.testing.assert_close(outputs, ref_outputs)
    torch.testing.assert_close(state, ref_state)
    grads = []
    for out, st in ((outputs, state), (ref_outputs, ref_state)):
        encoder.zero_grad()
        final = st if rnn == "gru" else torch.cat(st)
        (out.sin().sum() + final.cos().sum()).backward(retain_graph=True)
        grads.append([p.grad.clone() for p in encoder.parameters()])
    for ours, ref in zip(*grads):
        torch.testing.assert_close(ours, ref)


@pytest.mark.parametrize("rnn", ["gru", "lstm"])
def test_encoder_on_the_cpu_takes_the_stepwise_path(rnn, monkeypatch):
    """GRU: every layer step by step; LSTM: the first layer, the rest fused."""
    from d2l_lite import seq2seq
    calls = []
    monkeypatch.setattr(seq2seq, "stacked_rnn",
                        lambda *args: calls.append(args[-1]) or stacked_rnn(*args))
    encoder = d2l.Seq2SeqEncoder(V, E, H, 2, rnn=rnn)
    src = batch()[0]
    outputs, _ = encoder(src)
    assert calls == [None if rnn == "gru" else 1]
    torch.testing.assert_close(outputs, encoder.rnn(encoder.embedding(src.t()))[0])


def test_dropout_noise_draws_the_masks_of_successive_f_dropout_calls():
    specs = [((4, 3), 0.2), ((2, 5), 0.0), ((4, 6), 0.5), ((3,), 1.0)]
    torch.manual_seed(0)
    expected = [[None if p == 0 else F.dropout(torch.ones(shape), p) for shape, p in specs]
                for _ in range(3)]
    after_f_dropout = torch.rand(2)
    torch.manual_seed(0)
    noise = dropout_noise(specs, 3)
    torch.testing.assert_close(torch.rand(2), after_f_dropout)  # the generator moved alike
    for step, expected_step in zip(noise, expected):
        for ours, ref in zip(step, expected_step):
            if ref is None:
                assert ours is None
            else:
                torch.testing.assert_close(ours, ref, rtol=0, atol=0)
    assert 0 < noise[0][2].count_nonzero() < noise[0][2].numel()  # p = 0.5 drops some


@pytest.mark.parametrize("shape", [(3, 4), (10, 8)], ids=["project-tokens", "project-table"])
def test_embedding_gates_equal_projecting_each_token(shape):
    """12 tokens < 50 words: tokens are projected; 80 > 50: the table is."""
    torch.manual_seed(0)
    embedding, w, b = nn.Embedding(50, E), torch.randn(3 * H, E), torch.randn(3 * H)
    X = torch.randint(0, 50, shape)
    torch.testing.assert_close(embedding_gates(embedding, X, w, b),
                               F.linear(embedding(X), w, b))
