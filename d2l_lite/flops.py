"""Analytic FLOP counts (one multiply-add = 2 FLOPs) for the §11.4 models.

Only matrix products are counted (they are nearly all of the arithmetic); element-wise work
(tanh, sigmoid, softmax) is listed separately by ``scorer_flops`` because for the additive
scorer it is not negligible. A training step costs about 3x the forward pass (the backward
pass computes two products for each forward product).
"""

GATES = {"gru": 3, "lstm": 4}


def scorer_flops(scoring, num_keys, query_size, key_size, num_hiddens=None, keys_once=True):
    """FLOPs to score one query against ``num_keys`` keys and mix the values (value size =
    ``key_size``). Returns a dict with ``matmul``, ``elementwise`` and ``total``.

    additive: W_q q (2 d_q h), [W_k k for every key (2 K d_k h) unless ``keys_once``, i.e.
    projected once per sentence and not counted here], h-wide add and tanh per key (2 K h),
    w_v (2 K h); dot: q.k per key (2 K d) and the 1/sqrt(d) scale (K). Both: softmax (~3 K)
    and the weighted sum of values (2 K d_v).
    """
    K = num_keys
    mix = 2 * K * key_size
    if scoring == "additive":
        h = num_hiddens
        matmul = 2 * query_size * h + 2 * K * h + mix
        if not keys_once:
            matmul += 2 * K * key_size * h
        elementwise = 2 * K * h + 3 * K
    elif scoring == "dot":
        if query_size != key_size:
            raise ValueError("dot-product scoring needs query_size == key_size")
        matmul = 2 * K * query_size + mix
        elementwise = K + 3 * K
    else:
        raise ValueError(f"unknown scoring {scoring!r}: choose 'additive' or 'dot'")
    return {"matmul": matmul, "elementwise": elementwise, "total": matmul + elementwise}


def forward_flops(rnn, scoring, batch_size, src_len, tgt_len, embed_size, num_hiddens,
                  num_layers, tgt_vocab, keys_once=False, live_fraction=1.0,
                  embedding_table=False):
    """Matmul FLOPs of one forward pass of encoder + Bahdanau decoder over a batch.

    Embedding look-ups cost no FLOPs. With additive scoring the key projection W_k k costs
    ``2 K H H`` per sentence at every decoder step (the reference decoder, as §11.4), or once
    per sentence when ``keys_once`` (``d2l_lite.fast``). ``live_fraction`` is the share of
    the B x T decoder positions whose steps are computed: 1 for the reference, the targets'
    share when the padding is skipped (``FastSeq2Seq`` in training). The embedding's share of
    the decoder's input gates costs ``2 G H E`` per position, or per vocabulary entry when
    ``embedding_table`` and the vocabulary is the smaller (``fast.embedding_gates``).
    """
    G, H, E, L, B = GATES[rnn], num_hiddens, embed_size, num_layers, batch_size
    upper_layers = (L - 1) * 2 * G * H * 2 * H  # input and hidden products of layers 2..L
    encoder = B * src_len * (2 * G * H * (E + H) + upper_layers)
    rows = min(B * tgt_len, tgt_vocab) if embedding_table else B * tgt_len
    decoder_embedding = rows * 2 * G * H * E
    per_step = (2 * G * H * (H + H) + upper_layers  # layer 0's [context; h] products, the rest
                + scorer_flops(scoring, src_len, H, H, H)["matmul"] + 2 * H * tgt_vocab)
    keys = B * 2 * src_len * H * H if scoring == "additive" else 0  # W_k k, once
    positions = round(B * tgt_len * live_fraction)
    keys_total = keys if keys_once else keys * tgt_len
    return encoder + decoder_embedding + keys_total + positions * per_step


def training_step_flops(*args, **kwargs):
    """About 3x ``forward_flops``: forward, then two products per product in the backward."""
    return 3 * forward_flops(*args, **kwargs)
