"""Analytic FLOP counts (one multiply-add = 2 FLOPs) for the §11.4 models.

Only matrix products are counted (they are nearly all of the arithmetic); each scorer also
states its element-wise work (``scorer_flops``), which for the additive scorer is not
negligible. A training step costs about 3x the forward pass (the backward pass computes two
products for each forward product). A scorer's own costs come from the scorer
(``matmul_flops``, ``elementwise_flops`` in ``d2l_lite.d2l.attention``).
"""

from ..d2l.attention import SCORERS

GATES = {"gru": 3, "lstm": 4}


def scorer_flops(scoring, num_keys, query_size, key_size, num_hiddens=None, keys_once=True):
    """FLOPs to score one query against ``num_keys`` keys and mix the values (value size =
    ``key_size``): a dict with ``matmul``, ``elementwise`` and ``total``. Both scorers add
    the softmax (~3 K) and the weighted sum of the values (2 K d_v)."""
    if scoring not in SCORERS:
        raise ValueError(f"unknown scoring {scoring!r}: choose one of {list(SCORERS)}")
    if scoring == "dot" and query_size != key_size:
        raise ValueError("dot-product scoring needs query_size == key_size")
    scorer = SCORERS[scoring](num_hiddens or query_size, 0.0)
    K = num_keys
    matmul = scorer.matmul_flops(K, query_size, key_size, keys_once) + 2 * K * key_size
    elementwise = scorer.elementwise_flops(K) + 3 * K
    return {"matmul": matmul, "elementwise": elementwise, "total": matmul + elementwise}


def forward_flops(rnn, scoring, batch_size, src_len, tgt_len, embed_size, num_hiddens,
                  num_layers, tgt_vocab, keys_once=False, live_fraction=1.0,
                  embedding_table=False):
    """Matmul FLOPs of one forward pass of encoder + Bahdanau decoder over a batch.

    Embedding look-ups cost no FLOPs. The scorer's preparation of the keys (additive
    scoring's ``W_k k``, ``2 K H H`` per sentence) happens at every decoder step (the
    reference decoder, as §11.4), or once per sentence when ``keys_once``
    (``d2l_lite.fast``). ``live_fraction`` is the share of the B x T decoder positions whose
    steps are computed: 1 for the reference, the targets' share when the padding is skipped
    (``FastSeq2Seq`` in training). The embedding's share of the decoder's input gates costs
    ``2 G H E`` per position, or per vocabulary entry when ``embedding_table`` and the
    vocabulary is the smaller (``fast.embedding_gates``).
    """
    G, H, E, L, B = GATES[rnn], num_hiddens, embed_size, num_layers, batch_size
    upper_layers = (L - 1) * 2 * G * H * 2 * H  # input and hidden products of layers 2..L
    encoder = B * src_len * (2 * G * H * (E + H) + upper_layers)
    rows = min(B * tgt_len, tgt_vocab) if embedding_table else B * tgt_len
    decoder_embedding = rows * 2 * G * H * E
    scoring_once = scorer_flops(scoring, src_len, H, H, H, keys_once=True)["matmul"]
    scoring_every = scorer_flops(scoring, src_len, H, H, H, keys_once=False)["matmul"]
    keys = B * (scoring_every - scoring_once)  # preparing the keys of B sentences
    per_step = (2 * G * H * (H + H) + upper_layers  # layer 0's [context; h] products, the rest
                + scoring_once + 2 * H * tgt_vocab)
    positions = round(B * tgt_len * live_fraction)
    keys_total = keys if keys_once else keys * tgt_len
    return encoder + decoder_embedding + keys_total + positions * per_step


def training_step_flops(*args, **kwargs):
    """About 3x ``forward_flops``: forward, then two products per product in the backward."""
    return 3 * forward_flops(*args, **kwargs)
