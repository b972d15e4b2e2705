"""The README demo (skeeg.demo): folds in parallel give the serial results,
which it also writes to ``results.json``."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from joblib import cpu_count
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

import skeeg.datasets
import skeeg.demo
from skeeg.demo import demo_jobs, run_ied_demo
from skeeg.evaluation.out_of_fold import grouped_oof_proba
from skeeg.training import threads
from tests.conftest import bump_dataset

MAKE_IED_DATASET = skeeg.datasets.make_ied_dataset
OUT_OF_FOLD = skeeg.demo._out_of_fold


def _small_demo_data(**kwargs):
    """The demo's data with non-overlapping windows: a third as many."""
    return MAKE_IED_DATASET(**{**kwargs, "stride_s": 1.5})


def _demo_probabilities(monkeypatch, out, n_jobs: int) -> tuple[list, list]:
    """The out-of-fold probabilities of each model of the demo, and its rows."""
    probas = []

    def recorded(*args, **kwargs):
        for name, (proba, seconds) in OUT_OF_FOLD(*args, **kwargs):
            probas.append(proba)
            yield name, (proba, seconds)

    monkeypatch.setattr(skeeg.demo, "_out_of_fold", recorded)
    rows = run_ied_demo(out, epochs=1, n_jobs=n_jobs)
    return probas, rows


@pytest.mark.slow
@pytest.mark.skipif(cpu_count() < 2, reason="needs 2 CPUs for 2 jobs")
def test_parallel_folds_give_the_serial_probabilities(monkeypatch, tmp_path):
    monkeypatch.setattr(skeeg.datasets, "make_ied_dataset", _small_demo_data)
    serial, serial_rows = _demo_probabilities(monkeypatch, tmp_path / "1", 1)
    parallel, parallel_rows = _demo_probabilities(monkeypatch, tmp_path / "2", 2)
    assert len(serial) == 3  # SC+SaSu, SC+BCE, features+logreg
    assert not np.isnan(serial[0]).any()  # every window scored once
    for one, two in zip(serial, parallel, strict=True):
        np.testing.assert_array_equal(one, two)
    results = json.loads((tmp_path / "1" / "results.json").read_text())
    assert results["rows"] == serial_rows
    assert results["settings"] == {
        "prevalence": 0.05,
        "epochs": 1,
        "seed": 0,
        "n_jobs": 1,
        "n_jobs_asked": 1,
        "sc_threads": 1,
    }
    assert results["data"]["n_windows"] == len(serial[0])
    assert results["versions"]["torch"] == torch.__version__
    for one, two in zip(serial_rows, parallel_rows, strict=True):
        assert one.pop("fit_s") > 0 and two.pop("fit_s") > 0
        assert one == two


@pytest.mark.parametrize(("busy", "expected"), [(0.0, 2), (0.9, 1), (2.0, 1)])
def test_auto_jobs_are_the_free_cores(monkeypatch, busy, expected):
    # 2 CPUs that torch may use; other processes keep `busy` cores busy.
    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda pid: {0, 1})
    monkeypatch.setattr(threads, "allowed_threads", lambda: 2)
    monkeypatch.setattr(threads, "other_busy_cores", lambda: busy)
    assert demo_jobs("auto") == expected
    assert demo_jobs(-1) == -1 and demo_jobs(None) is None


def test_out_of_fold_matches_cross_validate():
    X, y, groups = bump_dataset()
    flat = make_pipeline(
        FunctionTransformer(lambda X: X.reshape(len(X), -1)), LogisticRegression()
    )
    [(name, (proba, seconds))] = skeeg.demo._out_of_fold(
        {"flat": (flat, None)}, X, y, groups, n_jobs=1
    )
    expected, _ = grouped_oof_proba(flat, X, y, groups, fit_groups_param=None)
    assert name == "flat"
    np.testing.assert_array_equal(proba, expected)
    assert seconds > 0
