"""The attending study: each arm's model differs from §11.4's only where its hypothesis says,
the decoder variants do what they claim, and the study runs in its smoke configuration."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from d2l_lite.d2l.seq2seq import Seq2SeqAttentionDecoder
from d2l_lite.studies import attending
from d2l_lite.studies.variants import QueryAfterDecoder, StartDecoder, swap_decoder

REPO = Path(__file__).resolve().parents[1]
SMALL = dict(embed_size=8, num_hiddens=16, num_layers=2, dropout=0.2, lr=0.005)


class Vocab(dict):
    def __missing__(self, token):
        return 0


class Data:
    """What ``make_model`` reads of a data module."""
    src_vocab = Vocab({f"s{i}": i for i in range(11)}, **{"<pad>": 11})
    tgt_vocab = Vocab({f"t{i}": i for i in range(12)}, **{"<pad>": 12})


def batch(seed=0, B=3, K=5, T=4):
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(0, 11, (B, K), generator=g)
    tgt = torch.randint(0, 12, (B, T), generator=g)
    return src, tgt, torch.tensor([K, K - 1, 2]), tgt


def params(model):
    return {k: v for k, v in model.state_dict().items()}


@pytest.mark.parametrize("name", [n for n in attending.ARMS if n != "§11.4"])
def test_every_arm_shares_each_weight_it_has_in_common_with_section_11_4(name):
    reference = params(attending.make_model(Data(), attending.ARMS["§11.4"], 0, SMALL))
    arm = attending.ARMS[name]
    model = params(attending.make_model(Data(), arm, 0, SMALL))
    same = [k for k in model if k in reference and model[k].shape == reference[k].shape]
    assert same, name
    differ = [k for k in same if not torch.equal(model[k], reference[k])]
    if arm.get("encoder") != "bidirectional":  # a new encoder changes what it draws
        assert differ == [], (name, differ)
    assert any(k.startswith("decoder.") for k in same)


def test_a_decoder_started_from_zeros_or_a_constant_ignores_the_encoders_state():
    model = attending.make_model(Data(), attending.ARMS["§11.4"], 0, SMALL)
    swap_decoder(model, StartDecoder, 0, SMALL, "additive", start="zeros")
    enc_outputs = model.encoder(batch()[0], batch()[2])
    state = model.decoder.init_state(enc_outputs, batch()[2])
    assert torch.count_nonzero(state[1]) == 0
    swap_decoder(model, StartDecoder, 0, SMALL, "additive", start="learned")
    state = model.decoder.init_state(enc_outputs, batch()[2])
    assert state[1].shape == enc_outputs[1].shape
    assert torch.equal(state[1][:, 0], state[1][:, 1])  # the same for every sentence
    with pytest.raises(ValueError, match="unknown start 'last'"):
        StartDecoder(12, 8, 16, 2, start="last")


def test_the_query_after_decoder_takes_its_query_after_the_step():
    torch.manual_seed(0)
    decoder = QueryAfterDecoder(12, 8, 16, 2).eval()
    enc = torch.randn(5, 3, 16), torch.randn(2, 3, 16)
    valid = torch.tensor([5, 4, 2])
    X = torch.randint(0, 12, (3, 4))
    logits, state = decoder(X, decoder.init_state(enc, valid))
    assert logits.shape == (3, 4, 12) and state[3].shape == (3, 1, 16)
    # step by step, the first step's query is the state after reading y_0 and c_0 = 0
    state = decoder.init_state(enc, valid)
    x = torch.cat((torch.zeros(3, 1, 16), decoder.embedding(X[:, :1])), -1)
    out, _ = decoder.rnn(x.permute(1, 0, 2), state[1])
    context = decoder.attention(out.permute(1, 0, 2), state[0], state[0], valid)
    first = decoder.dense(torch.cat((out.permute(1, 0, 2), context), -1))
    torch.testing.assert_close(logits[:, :1], first)
    # and a step-by-step decoding gives the same logits as the whole sequence at once
    state, steps = decoder.init_state(enc, valid), []
    for t in range(4):
        step, state = decoder(X[:, t:t + 1], state)
        steps.append(step)
    torch.testing.assert_close(torch.cat(steps, 1), logits)


def test_the_query_after_arm_is_the_reference_model_with_its_decoder():
    model = attending.make_model(Data(), attending.ARMS["query after"], 0, SMALL)
    assert type(model.decoder) is QueryAfterDecoder
    assert isinstance(model.decoder, Seq2SeqAttentionDecoder)
    loss = model.training_step(batch())
    loss.backward()
    assert torch.isfinite(loss)


@pytest.mark.slow
def test_the_study_runs_in_its_smoke_configuration(data_root, tmp_path):
    out = tmp_path / "attending.json"
    subprocess.run([sys.executable, "-m", "d2l_lite.studies.attending", "--smoke", "--out",
                    out], check=True, capture_output=True, cwd=REPO,
                   env={**__import__("os").environ, "D2L_LITE_DATA": str(data_root)})
    results = json.loads(out.read_text())
    assert [r["arm"] for r in results["runs"]] == list(attending.ARMS)
    n = len(results["data"]["natural_sources"])
    for run in results["runs"]:
        natural = run["natural"]
        assert len(natural["hypotheses"]) == n and natural["buckets"]
        assert len(run["history"]) == attending.SMOKE["model"]["max_epochs"]
        if run["arm"] != "no attention":
            assert len(natural["uniform_hypotheses"]) == n
            assert all(e is None or 0 <= e <= 1 for e in natural["entropy"])
            assert all("entropy" in h and "uniform_chrf" in h for h in run["history"])
