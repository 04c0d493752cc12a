"""Analytic FLOP counts: small cases counted by hand, and the relations the book relies on."""

import pytest

from d2l_lite.measures.flops import forward_flops, scorer_flops, training_step_flops


def test_scorer_flops_counted_by_hand():
    # additive, K=2 keys, d_q=d_k=3, h=4: W_q q 2*3*4, w_v 2*2*4, values 2*2*3
    additive = scorer_flops("additive", 2, 3, 3, 4)
    assert additive["matmul"] == 24 + 16 + 12
    assert scorer_flops("additive", 2, 3, 3, 4, keys_once=False)["matmul"] == 52 + 2 * 2 * 3 * 4
    # dot: q.k 2*2*3, values 2*2*3
    assert scorer_flops("dot", 2, 3, 3)["matmul"] == 12 + 12


def test_dot_needs_equal_sizes_and_unknown_scoring_is_rejected():
    with pytest.raises(ValueError, match="query_size == key_size"):
        scorer_flops("dot", 2, 3, 4)
    with pytest.raises(ValueError, match="unknown scoring"):
        scorer_flops("mult", 2, 3, 3)


def test_forward_flops_of_a_one_layer_gru_counted_by_hand():
    # B=1, K=2 source steps, T=1 target step, E=H=1, L=1, V=5, dot scoring
    encoder = 2 * (2 * 3 * 1 * (1 + 1))  # K * 2*G*H*(E+H)
    decoder = 2 * 3 * 1 * 1 + 2 * 3 * 1 * (1 + 1) + (2 * 2 * 1 + 2 * 2 * 1) + 2 * 1 * 5
    assert forward_flops("gru", "dot", 1, 2, 1, 1, 1, 1, 5) == encoder + decoder


def test_projecting_keys_once_saves_the_projection_at_all_but_one_step():
    args = ("gru", "additive", 128, 9, 9, 256, 256, 2, 214)
    saved = forward_flops(*args) - forward_flops(*args, keys_once=True)
    assert saved == 128 * 8 * (2 * 9 * 256 * 256)
    assert training_step_flops(*args) == 3 * forward_flops(*args)
    assert forward_flops("gru", "dot", *args[2:]) < forward_flops(*args, keys_once=True)
    dot = ("gru", "dot", *args[2:])
    assert forward_flops(*dot, keys_once=True) == forward_flops(*dot)  # dot has no W_k


def test_skipping_padding_counts_the_decoder_steps_of_the_live_positions_only():
    args = ("lstm", "additive", 128, 9, 9, 256, 256, 2, 214)
    G, H, V = 4, 256, 214
    rnn = 2 * G * H * 2 * H + 2 * G * H * 2 * H  # [context; h] of layer 0, [x; h] of layer 1
    scorer = 2 * H * H + 2 * 9 * H + 2 * 9 * H  # W_q q, w_v over 9 keys, the weighted sum
    per_step = rnn + scorer + 2 * H * V
    saved = (forward_flops(*args, keys_once=True)
             - forward_flops(*args, keys_once=True, live_fraction=534 / 1152))
    assert saved == (1152 - 534) * per_step
    assert forward_flops(*args, live_fraction=1.0) == forward_flops(*args)


def test_projecting_the_embedding_table_counts_the_smaller_of_vocabulary_and_tokens():
    args = ("gru", "dot", 128, 9, 9, 256, 256, 2, 214)
    per_row = 2 * 3 * 256 * 256  # one embedding row through G*H = 768 gates
    saved = forward_flops(*args) - forward_flops(*args, embedding_table=True)
    assert saved == per_row * (1152 - 214)
    tiny_batch = ("gru", "dot", 1, 9, 9, 256, 256, 2, 214)  # 9 tokens < 214 words
    assert forward_flops(*tiny_batch, embedding_table=True) == forward_flops(*tiny_batch)
