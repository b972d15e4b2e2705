"""Smoke test of the benchmark scripts (tiny size, real data)."""

from __future__ import annotations

import importlib.util
import json
import math
import sys

import pytest

from tests.conftest import REPO_ROOT, shared_data_dir


def _load_benchmark(name: str):
    path = REPO_ROOT / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their module up in sys.modules.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_iedeal_ablation_smoke_writes_every_row(tmp_path):
    """Reads the real data and runs 8 tiny cross-validations (tens of seconds)."""
    data = shared_data_dir()
    if not (data / "eegmat").is_dir() or not (data / "bonn_epilepsy").is_dir():
        pytest.skip(f"eegmat and bonn_epilepsy not found under {data}")
    ablation = _load_benchmark("iedeal_ablation")
    result = ablation.main(
        ["--size", "smoke", "--data", str(data), "--out", str(tmp_path)]
    )
    json_result = (tmp_path / "iedeal_ablation_smoke.json").read_text()
    assert '"rows"' in json_result
    assert (tmp_path / "iedeal_ablation_smoke_f1.png").stat().st_size > 0

    # 2 eegmat prevalences + 2 Bonn tasks x 1 prevalence, 1 seed.
    settings = {(r["dataset"], r["task"], r["prevalence"]) for r in result["rows"]}
    assert settings == {
        ("eegmat", "injected_IED", 0.25),
        ("eegmat", "injected_IED", 0.10),
        ("bonn", "S_vs_rest", 0.10),
        ("bonn", "NF_vs_ZO", 0.10),
    }
    # 2 SC losses and the classical detector per setting.
    assert len(result["rows"]) == 4 * 3
    assert {(r["model"], r["loss"]) for r in result["rows"]} == {
        ("SC", "bce"),
        ("SC", "sasu"),
        ("features", "logreg"),
    }
    for row in result["rows"]:
        for metric in ("f1", "f2", "precision", "recall", "auprc", "auroc", "fit_s"):
            assert math.isfinite(row[metric]), (row, metric)
        assert row["n_pos"] == round(row["prevalence"] * row["n_windows"])
    meta = result["metadata"]
    assert {"torch", "skorch", "sklearn", "skeeg"} <= set(meta["versions"])
    assert meta["seeds"] == [0]
    assert "--size smoke" in meta["command"]


@pytest.mark.slow
def test_iedeal_paper_protocol_smoke_pairs_every_loss(tmp_path, monkeypatch):
    """Bonn S-vs-rest, 2 folds, 1 seed: Tables 3 and 4 and the control."""
    data = shared_data_dir()
    if not (data / "bonn_epilepsy").is_dir():
        pytest.skip(f"bonn_epilepsy not found under {data}")
    protocol = _load_benchmark("iedeal_paper_protocol")
    result = protocol.main(
        ["--size", "smoke", "--data", str(data), "--out", str(tmp_path)]
    )
    rows = result["rows"]
    names = set(protocol.TABLE3) | set(protocol.TABLE4)
    control = {f"{n}@steps" for n in protocol.TABLE3 if n != "sasu"}
    assert {r["loss"] for r in rows} == names | control
    assert len(rows) == 2 * len(names | control)  # 2 folds x 1 seed
    by = {(r["loss"], r["fold"]): r for r in rows}
    for fold in (0, 1):
        sasu = by[("sasu", fold)]
        # PreBCE's 3 epochs run before max_epochs; the others run max_epochs.
        assert sasu["epochs_run"] == by[("bce", fold)]["epochs_run"] + 3
        # The control cuts every other loss to SaSu's number of steps (to the
        # nearest whole epoch).
        bce_epoch_steps = by[("bce", fold)]["steps"] / by[("bce", fold)]["epochs_run"]
        assert abs(by[("bce@steps", fold)]["steps"] - sasu["steps"]) <= bce_epoch_steps
    assert set(result["learning_rates"]["bonn/S_vs_rest/0.1"]) == names
    text = (tmp_path / "iedeal_paper_smoke.txt").read_text()
    assert "Table 3, step-matched control" in text and "Table 4" in text

    # A resumed run keeps the finished units and their learning rates, and
    # trains nothing again; a half-done unit is dropped and run again.
    saved = tmp_path / "iedeal_paper_smoke.json"
    cut = json.loads(saved.read_text())
    cut["rows"] = [
        r for r in cut["rows"] if not (r["fold"] == 1 and r["loss"] == "bce")
    ]
    saved.write_text(json.dumps(cut))
    calls = []
    monkeypatch.setattr(
        protocol,
        "fit_and_score",
        lambda loss, *args: calls.append(loss) or {**by[(loss, 1)], "fit_s": -1.0},
    )
    resumed = protocol.main(
        ["--size", "smoke", "--data", str(data), "--out", str(tmp_path)]
        + ["--resume", str(saved)]
    )
    # fold 1 only: each variant once, each non-SaSu loss again for the control
    assert sorted(calls) == sorted(protocol.variants() + [*protocol.TABLE3[:-1]])
    assert len(resumed["rows"]) == len(rows)
    assert resumed["learning_rates"] == json.loads(json.dumps(result["learning_rates"]))
    assert {r["fold"] for r in resumed["rows"] if r["fit_s"] == -1.0} == {1}
