"""The benchmark: it runs in a quick configuration, and the speed figures the docs quote are
those of benchmarks/results.json, measured on the tree's code."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from study_checks import changes

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_benchmark_runs_in_its_quick_configuration(data_root, monkeypatch):
    from benchmarks import bench_training

    monkeypatch.setenv("D2L_LITE_DATA", str(data_root))
    subprocess.run([sys.executable, "-m", "benchmarks.bench_training", "--quick",
                    "--no-d2l"], check=True, cwd=REPO, capture_output=True)
    results = json.loads((REPO / "_build" / "bench" / "results.json").read_text())
    assert results["config"] == bench_training.QUICK and results["fit"] is None  # no d2l here
    assert set(results["steps"]) == {"gru-additive", "gru-dot", "lstm-additive", "lstm-dot"}
    for row in results["steps"].values():
        assert set(row["ms"]) == {"fast", "reference"} and all(
            0 < ms < 60_000 for ms in row["ms"].values())
        check_interval(row["fast_vs_reference"], n=bench_training.QUICK["rounds"])
    for row in results["ablation"].values():
        assert [p["after"] for p in row["pieces"]] == ["cells", "keys-once", "fast"]
        for piece in row["pieces"]:
            check_interval(piece["change"], n=bench_training.QUICK["rounds"])


def check_interval(interval, n):
    """A relative change of time as the benchmark records it (-0.3: 30% less time): inside
    its interval, over n pairs (with the quick configuration's two rounds, a wide one)."""
    assert interval["low"] <= interval["mean"] <= interval["high"] and interval["mean"] > -1
    assert interval["n"] == n and interval["level"] == 0.95


def test_the_docs_quote_the_figures_of_the_results_file_measured_on_the_trees_code():
    from benchmarks import bench_training

    results = json.loads(bench_training.RESULTS.read_text())
    changed = changes(results, "benchmarks.bench_training")
    assert not changed, (f"benchmarks/results.json measured other code than the tree's "
                         f"({changed}): run python -m benchmarks.bench_training")
    summary = bench_training.summary(results)
    for doc in bench_training.DOCS:
        block = bench_training.BLOCK.search(doc.read_text())
        assert block, f"{doc} has no benchmark block"
        assert summary in block[0], f"{doc}'s figures are not benchmarks/results.json's: run " \
                                    f"python -m benchmarks.bench_training"


def check_full_record(results):
    """A record the docs can quote: the full configuration and the comparison with d2l 1.0.3,
    its ratio's interval over every seed."""
    from benchmarks import bench_training

    assert results["config"] == bench_training.FULL, (
        "benchmarks/results.json holds another configuration than the full one: run python "
        "-m benchmarks.bench_training")
    assert results["d2l"] == "1.0.3" and results["fit"], (
        "benchmarks/results.json has no comparison with d2l 1.0.3: pip install --no-deps "
        "d2l==1.0.3 and run python -m benchmarks.bench_training")
    fit = results["fit"]
    assert fit["epochs"] == bench_training.FULL["epochs"]
    for impl in ("fast", "d2l"):
        assert all(len(v) == bench_training.FULL["seeds"] for v in fit["runs"][impl].values())
    ratio = fit["ratio"]
    assert ratio["n"] == bench_training.FULL["seeds"] and ratio["level"] == 0.95
    assert ratio["low"] <= ratio["mean"] <= ratio["high"]


def test_the_results_file_holds_the_full_configuration_and_the_d2l_comparison():
    from benchmarks import bench_training

    results = json.loads(bench_training.RESULTS.read_text())
    check_full_record(results)
    for other in (dict(results, fit=None, d2l=None), dict(results, config=bench_training.QUICK)):
        with pytest.raises(AssertionError):
            check_full_record(other)


@pytest.mark.parametrize("with_d2l, told, stops", [(False, False, True), (False, True, False),
                                                   (True, False, False)])
def test_a_run_without_d2l_never_replaces_a_record_with_the_comparison(tmp_path, with_d2l,
                                                                       told, stops):
    from benchmarks import bench_training

    record = tmp_path / "results.json"
    record.write_text(bench_training.RESULTS.read_text())
    if stops:
        with pytest.raises(SystemExit, match=r"d2l 1.0.3 is not installed.*--no-d2l"):
            bench_training.keeps_comparison(record, with_d2l, told)
    else:
        bench_training.keeps_comparison(record, with_d2l, told)
    assert record.read_text() == bench_training.RESULTS.read_text()
    record.write_text(json.dumps(dict(json.loads(record.read_text()), fit=None)))
    bench_training.keeps_comparison(record, with_d2l=False, told=False)  # nothing to lose
