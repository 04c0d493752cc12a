"""Analytic FLOP counts (one multiply-add = 2 FLOPs) for the §11.4 models.

Only matrix products are counted (they are >95% of the arithmetic); element-wise work
(tanh, sigmoid, softmax) is listed separately by ``scorer_flops`` because for the additive
scorer it is not negligible. A training step costs about 3x the forward pass (the backward
pass computes two products for each forward product).
"""

GATES = {"gru": 3, "lstm": 4}


def scorer_flops(scoring, num_keys, query_size, key_size, num_hiddens=None, keys_cached=True):
    """FLOPs to score one query against ``num_keys`` keys and mix the values (value size =
    ``key_size``). Returns a dict with ``matmul``, ``elementwise`` and ``total``.

    additive: W_q q (2 d_q h), [W_k k for every key (2 K d_k h) unless cached], h-wide add and
    tanh per key (2 K h), w_v (2 K h); dot: q.k per key (2 K d) and the 1/sqrt(d) scale (K).
    Both: softmax (~3 K) and the weighted sum of values (2 K d_v).
    """
    K = num_keys
    mix = 2 * K * key_size
    if scoring == "additive":
        h = num_hiddens
        matmul = 2 * query_size * h + 2 * K * h + mix
        if not keys_cached:
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
                  num_layers, tgt_vocab, keys_cached=True, src_vocab=None, tgt_table=False,
                  live_fraction=1.0):
    """Matmul FLOPs of one forward pass of encoder + Bahdanau decoder over a batch.

    Embedding look-ups cost no FLOPs. With additive scoring the key projection W_k k costs
    ``2 K H H`` once per sentence when ``keys_cached`` (d2l_lite), else at every step (d2l).
    The embeddings' share of the first layers' input gates costs ``2 G H E`` per token, or per
    vocabulary entry where the vocabulary is the smaller and the embedding table is projected
    instead (``d2l_lite.rnn.embedding_gates``): in the encoder when ``src_vocab`` is given
    (d2l_lite's encoder on the CPU), in the decoder when ``tgt_table`` (d2l_lite's).
    ``live_fraction`` is the share of the B x T decoder positions computed: 1 when the decoder
    runs every position, the targets' share of them when it skips their padding
    (``d2l_lite.packing``, as d2l_lite's ``Seq2Seq`` does in training).
    """
    G, H, E, L, B = GATES[rnn], num_hiddens, embed_size, num_layers, batch_size

    def embedding_rows(vocab, tokens, table):  # rows of the embedding's input-gate product
        return min(vocab, tokens) if table else tokens

    encoder = (2 * G * H * E * embedding_rows(src_vocab, B * src_len, src_vocab is not None)
               + B * src_len * (2 * G * H * H + (L - 1) * 2 * G * H * 2 * H))
    decoder_rnn = 2 * G * H * (H + H) + (L - 1) * 2 * G * H * (2 * H)  # per step, no embedding
    scorer = scorer_flops(scoring, src_len, H, H, H)["matmul"]  # per step, keys not counted
    per_step = decoder_rnn + scorer + 2 * H * tgt_vocab
    decoder_embedding = 2 * G * H * E * embedding_rows(tgt_vocab, B * tgt_len, tgt_table)
    keys = 2 * src_len * H * H if scoring == "additive" else 0
    keys_total = B * (keys if keys_cached else tgt_len * keys)
    positions = round(B * tgt_len * live_fraction)  # decoder steps computed, over all rows
    return encoder + decoder_embedding + keys_total + positions * per_step


def training_step_flops(*args, **kwargs):
    """About 3x ``forward_flops``: forward, then two products per product in the backward."""
    return 3 * forward_flops(*args, **kwargs)
