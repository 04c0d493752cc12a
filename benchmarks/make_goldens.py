"""Record d2l 1.0.3's outputs as goldens for tests/test_parity.py.

Run once, with d2l installed (``pip install --no-deps d2l==1.0.3``) and the corpus at
``$D2L_LITE_DATA/fra-eng/fra.txt``:

    python -m benchmarks.make_goldens

It writes ``tests/goldens/d2l_1.0.3.pt``. Everything here is computed by d2l's own code on
fixed inputs; nothing from d2l_lite is used.
"""

import hashlib
import os
from pathlib import Path

import torch

from benchmarks.d2l_reference import import_d2l
from d2l_lite.d2l.download import data_root
from d2l_lite.settings import HPARAMS, PROBES

GOLDENS = Path(__file__).resolve().parents[1] / "tests" / "goldens"

PROBES_EN, PROBES_FR = (list(x) for x in zip(*PROBES))
DATA_CONFIGS = [dict(num_steps=9, num_train=512, num_val=128),
                dict(num_steps=5, num_train=100, num_val=20),
                dict(num_steps=12, num_train=3000, num_val=500)]


def digest(tensor):
    return hashlib.sha256(tensor.contiguous().numpy().tobytes()).hexdigest()


def data_goldens(d2l):
    out = []
    for cfg in DATA_CONFIGS:
        data = d2l.MTFraEng(batch_size=4, **cfg)
        built = data.build(PROBES_EN + ["zyx unknownword ."], PROBES_FR + ["qwv motinconnu ."])
        out.append(dict(
            config=cfg,
            shapes=[tuple(a.shape) for a in data.arrays],
            dtypes=[str(a.dtype) for a in data.arrays],
            arrays=[digest(a) for a in data.arrays],
            src_tokens=data.src_vocab.idx_to_token,
            tgt_tokens=data.tgt_vocab.idx_to_token,
            built=[a.clone() for a in built],
        ))
    return out


def attention_goldens(d2l):
    g = torch.Generator().manual_seed(0)
    X = torch.randn(2, 3, 5, generator=g)
    out = dict(X=X, softmax_1d=d2l.masked_softmax(X.clone(), torch.tensor([2, 4])),
               softmax_2d=d2l.masked_softmax(X.clone(), torch.tensor([[1, 3, 5], [2, 4, 0]])))
    queries, keys = torch.randn(2, 1, 20, generator=g), torch.randn(2, 10, 2, generator=g)
    values = torch.randn(2, 10, 4, generator=g)
    valid_lens = torch.tensor([2, 6])
    torch.manual_seed(0)
    additive = d2l.AdditiveAttention(num_hiddens=8, dropout=0.1)
    additive.eval()
    out["additive"] = dict(queries=queries, keys=keys, values=values, valid_lens=valid_lens,
                           output=additive(queries, keys, values, valid_lens),
                           weights=additive.attention_weights,
                           state_dict=additive.state_dict())
    q, k = torch.randn(2, 1, 2, generator=g), keys
    dot = d2l.DotProductAttention(dropout=0.5)
    dot.eval()
    out["dot"] = dict(queries=q, keys=k, values=values, valid_lens=valid_lens,
                      output=dot(q, k, values, valid_lens), weights=dot.attention_weights)
    return out


def bleu_goldens(d2l):
    pairs = [("il est mouillé .", "il est calme ."), ("va !", "va !"), ("", "va !"),
             ("je suis chez moi .", "je suis chez moi ."), ("a b c d", "a b c d e f g"),
             ("a a a a", "a a b"), ("x y", "a b c")]
    return [(p, lab, k, d2l.bleu(p, lab, k)) for p, lab in pairs for k in (1, 2, 4)]


def vocab_goldens(d2l):
    tokens = [["the", "cat", "sat"], ["the", "dog", "sat", "down"], ["a", "cat"]]
    vocab = d2l.Vocab(tokens, min_freq=2, reserved_tokens=["<pad>", "<bos>"])
    return dict(tokens=tokens, idx_to_token=vocab.idx_to_token,
                lookup=vocab[["the", "cat", "zebra", "<pad>"]],
                to_tokens=vocab.to_tokens([0, 3, 4]))


def model_goldens(d2l):
    """A small §11.4 model: weights, a batch, and d2l's logits, weights and loss (eval mode)."""
    torch.manual_seed(0)
    vocab_size, embed_size, num_hiddens, num_layers = 10, 8, 16, 2
    encoder = d2l.Seq2SeqEncoder(vocab_size, embed_size, num_hiddens, num_layers, 0.1)
    decoder = d2l.Seq2SeqAttentionDecoder(vocab_size, embed_size, num_hiddens, num_layers, 0.1)
    model = d2l.Seq2Seq(encoder, decoder, tgt_pad=1, lr=0.01)
    g = torch.Generator().manual_seed(1)
    src = torch.randint(0, vocab_size, (4, 7), generator=g)
    tgt = torch.randint(0, vocab_size, (4, 7), generator=g)
    src_valid_len = torch.tensor([7, 3, 5, 1])
    label = torch.randint(0, vocab_size, (4, 7), generator=g)
    model.eval()
    logits = model(src, tgt, src_valid_len)
    weights = torch.cat([w for w in decoder.attention_weights], 1)  # (B, T, K)
    loss = model.loss(logits, label)  # d2l's: averaged over all tokens, padding included
    loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    preds, steps = model.predict_step((src, tgt, src_valid_len, label), "cpu", 5, True)
    return dict(state_dict={k: v.clone() for k, v in model.state_dict().items()},
                batch=(src, tgt, src_valid_len, label), logits=logits.detach(),
                weights=weights.detach(), loss=loss.detach(), grads=grads, preds=preds,
                predict_weights=torch.cat([s[0] for s in steps], 1))


def translation_goldens(d2l):
    """§11.4 as printed: seed 0, 30 epochs; the four probe translations and their BLEU."""
    hp = HPARAMS
    args = (hp["embed_size"], hp["num_hiddens"], hp["num_layers"], hp["dropout"])
    torch.manual_seed(0)
    data = d2l.MTFraEng(batch_size=hp["batch_size"])
    encoder = d2l.Seq2SeqEncoder(len(data.src_vocab), *args)
    decoder = d2l.Seq2SeqAttentionDecoder(len(data.tgt_vocab), *args)
    model = d2l.Seq2Seq(encoder, decoder, tgt_pad=data.tgt_vocab["<pad>"], lr=hp["lr"])
    model.board.display = False
    d2l.Trainer(max_epochs=hp["max_epochs"], gradient_clip_val=hp["gradient_clip_val"],
                num_gpus=1).fit(model, data)
    preds, _ = model.predict_step(data.build(PROBES_EN, PROBES_FR), "cpu", data.num_steps)
    out = []
    for fr, p in zip(PROBES_FR, preds):
        tokens = []
        for token in data.tgt_vocab.to_tokens(p):
            if token == "<eos>":
                break
            tokens.append(token)
        out.append((tokens, d2l.bleu(" ".join(tokens), fr, k=2)))
    return out


def main():
    root = str(data_root())  # $D2L_LITE_DATA, as d2l_lite reads it
    d2l = import_d2l(os.path.join(root, "fra-eng", "fra.txt"))
    goldens = dict(torch=str(torch.__version__), data=data_goldens(d2l),
                   attention=attention_goldens(d2l), bleu=bleu_goldens(d2l),
                   vocab=vocab_goldens(d2l), model=model_goldens(d2l),
                   translations=translation_goldens(d2l))
    torch.save(goldens, GOLDENS / "d2l_1.0.3.pt")
    for tokens, score in goldens["translations"]:
        print(" ".join(tokens), f"{score:.3f}")


if __name__ == "__main__":
    main()
