"""Smoke test of benchmarks/subject_classification.py (tiny size, real eegmat)."""

from __future__ import annotations

import importlib.util
import math
import sys

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from tests.conftest import REPO_ROOT, bump_dataset, shared_data_dir


def _load_benchmark():
    path = REPO_ROOT / "benchmarks" / "subject_classification.py"
    spec = importlib.util.spec_from_file_location("subject_classification", path)
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their module up in sys.modules.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_labelled_only_fits_the_labelled_windows_alone():
    X, y, _ = bump_dataset(n_windows=60, n_channels=1, n_times=8)
    X = X[:, 0]
    y_masked = np.where(np.arange(60) % 3 == 0, -1, y)
    benchmark = _load_benchmark()
    model = benchmark.LabelledOnly(LogisticRegression()).fit(X, y_masked)
    keep = y_masked != -1
    reference = LogisticRegression().fit(X[keep], y[keep])
    np.testing.assert_allclose(model.predict_proba(X), reference.predict_proba(X))
    np.testing.assert_array_equal(model.classes_, [0, 1])


def test_paired_comparison_matches_hand_computed_differences():
    benchmark = _load_benchmark()
    smate = [0.7, 0.6, 0.9]
    alone = [0.5, 0.65, 0.6]
    rows = [
        {
            "table": "rest_vs_task",
            "label_fraction": 0.1,
            "model": model,
            "seed": 0,
            "fold": fold,
            "window_roc_auc": score,
            "subject_roc_auc": 1.0 if model == "SMATE" else 0.5,
        }
        for model, scores in (("SMATE", smate), ("SMATE_labelled_only", alone))
        for fold, score in enumerate(scores)
    ]
    (window, subject) = benchmark.paired_comparisons(rows)
    assert (window["model"], window["reference"]) == ("SMATE", "SMATE_labelled_only")
    assert window["mean_diff"] == pytest.approx((0.2 - 0.05 + 0.3) / 3)
    assert (window["n_better"], window["n"]) == (2, 3)
    # Paired t: mean 0.15, sd of (0.2, -0.05, 0.3) = 0.180..., t = 1.44, 2 dof.
    assert window["p_value"] == pytest.approx(0.286, abs=1e-3)
    assert subject["mean_diff"] == pytest.approx(0.5)


@pytest.mark.slow
def test_smoke_size_fills_every_cell(tmp_path):
    """4 subjects, 2 folds, 1 epoch: about 20 s on one core."""
    data = shared_data_dir()
    if not (data / "eegmat").is_dir():
        pytest.skip(f"eegmat not found under {data}")
    benchmark = _load_benchmark()
    size = benchmark.SIZES["smoke"]

    # Preprocessing: z-scored per subject and channel.
    windows = benchmark.load_data(data, size)
    for subject in np.unique(windows["groups"]):
        X = windows["X"][windows["groups"] == subject].astype(np.float64)
        np.testing.assert_allclose(X.mean(axis=(0, 2)), 0, atol=1e-5)
        np.testing.assert_allclose(X.std(axis=(0, 2)), 1, rtol=1e-5)
    assert windows["X"].shape[1:] == (4, round(size.sfreq * benchmark.WINDOW_S))

    result = benchmark.main(
        ["--size", "smoke", "--data", str(data), "--out", str(tmp_path)]
    )
    stem = tmp_path / "subject_classification_smoke"
    for suffix in (".json", ".txt", "_tsne.png", "_fractions.png"):
        assert stem.with_name(stem.name + suffix).stat().st_size > 0

    rows = result["rows"]
    # Each cell has one row per fold (counters: per fold and condition).
    for table, model, fraction in benchmark.cells(size):
        cell = [
            r
            for r in rows
            if (r["table"], r["model"], r["label_fraction"]) == (table, model, fraction)
        ]
        conditions = 2 if table == "counters" else 1
        assert len(cell) == size.n_splits * conditions, (table, model, fraction)
        for r in cell:
            labelled, total = r["n_train_labelled"], r["n_train_windows"]
            assert (labelled == total) == (fraction == 1.0), r
            assert r["subject_unit"] == (
                "subject+label" if table == "rest_vs_task" else "subject"
            )
            for metric in ("window_accuracy", "subject_accuracy", "fit_seconds"):
                assert math.isfinite(r[metric]), (r, metric)
    assert {(r["model"], r["label_fraction"]) for r in result["not_applicable"]} == {
        ("SMATE", 0.0),
        ("TapNet", 0.0),
        ("HMM", 0.0),
    }
    assert result["skipped"] == []
    assert ("SMATE", "SMATE_labelled_only") in {
        (p["model"], p["reference"])
        for p in result["paired"]
        if p["label_fraction"] == 0.5
    }
    assert set(result["anova"]) == {"window_roc_auc", "subject_roc_auc"}
    meta = result["metadata"]
    assert {"torch", "skorch", "sklearn", "hmmlearn", "skeeg"} <= set(meta["versions"])
    assert "--size smoke" in meta["command"]
    assert meta["n_subjects"] == 4
