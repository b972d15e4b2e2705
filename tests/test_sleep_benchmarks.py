"""The issue #14 benchmarks: sleep staging (SleepStager vs YASA) and the
Siamese-ES ablation. Their scoring rules on hand-built cases, against
scikit-learn, and smoke runs on the DREAMS excerpts (skipped without the
data; YASA is optional and never required)."""

from __future__ import annotations

import importlib.util
import json
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, cohen_kappa_score
from sklearn.utils import Bunch

from tests.conftest import REPO_ROOT, shared_data_dir

DREAMS = "dreams_spindles_CC-BY-NC-ND"


def _load(name: str):
    path = REPO_ROOT / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their module up in sys.modules.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def staging():
    return _load("sleep_staging")


@pytest.fixture(scope="module")
def ablation():
    return _load("siamese_es_ablation")


def _dreams():
    folder = shared_data_dir() / DREAMS
    if not folder.is_dir():
        pytest.skip(f"DREAMS excerpts not found at {folder}")
    return folder


# -- sleep staging --------------------------------------------------------------------
def test_score_row_leaves_out_epochs_without_a_stage(staging):
    y_true = np.array(["W", "N2", -1, "N2", "N3", "REM"], dtype=object)
    y_pred = np.array(["W", "N2", "N3", "N3", "N3", "N1"], dtype=object)
    row = staging.score_row(y_true, y_pred, stager="x")
    scored = [0, 1, 3, 4, 5]
    t, p = y_true[scored].astype(str), y_pred[scored].astype(str)
    assert row["n_epochs"] == 5
    assert row["accuracy"] == pytest.approx(accuracy_score(t, p))
    assert row["kappa"] == pytest.approx(cohen_kappa_score(t, p))
    # Rows are the expert's stages in STAGES order: one N2 scored as N3.
    assert row["confusion_matrix"][2][3] == 1
    assert sum(map(sum, row["confusion_matrix"])) == 5


def test_pooled_kappa_is_that_of_the_concatenated_excerpts(staging):
    rng = np.random.default_rng(0)
    stages = np.array(staging.STAGES, dtype=object)
    truth = {k: rng.choice(stages, 40) for k in (1, 2)}
    pred = {
        k: np.where(rng.random(40) < 0.6, truth[k], rng.choice(stages, 40))
        for k in truth
    }
    rows = [
        staging.score_row(
            truth[k], pred[k], stager="s", epoch_s=30.0, excerpt=k, seed=0
        )
        for k in truth
    ]
    row = staging.pooled(rows, "s", 30.0, (1, 2))
    t = np.concatenate([truth[1], truth[2]]).astype(str)
    p = np.concatenate([pred[1], pred[2]]).astype(str)
    assert row["kappa"] == pytest.approx(cohen_kappa_score(t, p))
    assert row["accuracy"] == pytest.approx(accuracy_score(t, p))
    assert row["mean_kappa"] == pytest.approx(np.mean([r["kappa"] for r in rows]))
    # An excerpt without a row leaves the pooled row out.
    assert staging.pooled(rows, "s", 30.0, (1, 2, 3)) is None


def test_yasa_refuses_the_50_hz_excerpt(staging):
    pytest.importorskip("yasa", reason="yasa is optional (pip install 'skeeg[bench]')")
    stages, status = staging.yasa_stages(_dreams().parent, 3)
    assert stages is None
    assert status.startswith("refused")


def test_sleep_staging_smoke_run(staging, tmp_path):
    folder = _dreams()
    result = staging.main(
        [
            "--size",
            "smoke",
            "--threads",
            "1",
            "--out",
            str(tmp_path),
            "--data",
            str(folder.parent),
        ]
    )
    saved = json.loads((tmp_path / "sleep_staging_smoke.json").read_text())
    stagers = {r["stager"] for r in saved["rows"]}
    assert set(staging.stager_names(staging.SIZES["smoke"].configs)) <= stagers
    has_yasa = importlib.util.find_spec("yasa") is not None
    assert (staging.YASA in stagers) == has_yasa
    assert set(result["yasa"].values()) == ({"ok"} if has_yasa else {"not importable"})
    # Excerpts 1 and 2 hold 60 30-s epochs each; the scored ones are counted.
    for row in saved["rows"]:
        assert 0 < row["n_epochs"] <= 60
    assert (tmp_path / "sleep_staging_smoke.txt").read_text().startswith("Pooled")


# -- Siamese-ES ablation ----------------------------------------------------------
def test_evaluate_counts_false_positives_per_stage_by_hand(ablation):
    y = np.array([1, 1, 0, 0, 0, 0, 0, 0])
    score = np.array([0.9, 0.6, 0.7, 0.2, 0.8, 0.1, 0.65, 0.3])
    data = Bunch(
        y=y,
        sleep_stage=np.array(
            ["N2", "N3", "N2", "N2", "N3", "W", "W", "N2"], dtype=object
        ),
        metadata=pd.DataFrame(
            {"kind": ["spike"] * 2 + ["spindle", "spindle"] + ["none"] * 4}
        ),
    )
    own = ablation.evaluate(data, {"score": score}, 0.5)
    # Predicted positive at 0.5: windows 0, 1, 2, 4, 6; negatives among them
    # 2 (N2, spindle), 4 (N3), 6 (W).
    assert own["fp"] == {"N2": 1, "N3": 1, "W": 1}
    assert own["fp_rate"] == {"N2": 1 / 3, "N3": 1.0, "W": 0.5}
    assert own["fp_rate_spindle"] == 0.5
    assert own["specificity"] == pytest.approx(3 / 6)
    # Sensitivity 82.11 % of 2 positives needs both: threshold 0.6, where
    # windows 2, 4 and 6 are still above.
    fixed = ablation.evaluate(data, {"score": score}, None)
    assert fixed["threshold"] == 0.6
    assert fixed["recall"] == 1.0
    assert fixed["precision"] == pytest.approx(2 / 5)


def test_siamese_es_ablation_smoke_run(ablation, tmp_path):
    folder = _dreams()
    ablation.main(
        [
            "--size",
            "smoke",
            "--threads",
            "1",
            "--out",
            str(tmp_path),
            "--data",
            str(folder.parent),
        ]
    )
    saved = json.loads((tmp_path / "siamese_es_ablation_smoke.json").read_text())
    assert [r["model"] for r in saved["rows"]] == list(ablation.MODELS)
    for row in saved["rows"]:
        assert row["fixed"]["recall"] >= ablation.SENSITIVITY
        # The sleep head is trained unless lambda_sleep=0 or no SiameseES.
        trained = row["model"] in ("Siamese-ES", "no fusion")
        assert (row["sleep"] is not None) == trained
    assert (tmp_path / "siamese_es_ablation_smoke.png").stat().st_size > 0
