"""End to end: bundled real EEG -> injected IEDs -> Pipeline -> grouped CV."""

from __future__ import annotations

import numpy as np
import pytest
import sklearn
from imblearn.pipeline import Pipeline as ImbPipeline
from sklearn.model_selection import GroupKFold, cross_validate
from sklearn.pipeline import Pipeline

from skeeg import SCClassifier
from skeeg.datasets import make_ied_dataset
from skeeg.evaluation.metrics import window_scores
from skeeg.evaluation.out_of_fold import grouped_oof_proba
from skeeg.preprocessing import BandpassFilter, Resampler, Scaler
from skeeg.sampling import RandomWindowUnderSampler
from tests.conftest import bump_dataset


def _sc_pipeline(loss: str, max_epochs: int) -> Pipeline:
    return Pipeline(
        [
            ("bandpass", BandpassFilter(sfreq=500.0, l_freq=1.0, h_freq=50.0)),
            ("resample", Resampler(sfreq=500.0, new_sfreq=250.0)),
            ("scale", Scaler()),
            (
                "sc",
                SCClassifier(
                    loss=loss,
                    width=16,
                    optimizer="adam",
                    lr=3e-3,
                    batch_size=64,
                    max_epochs=max_epochs,
                    random_state=0,
                ),
            ),
        ]
    )


@pytest.mark.slow
def test_iedeal_pipeline_f1_beats_prevalence_baseline():
    # The README demo's setting: 5 % prevalence, IED-like artefacts in 10 %
    # of the other windows, 5-fold GroupKFold by subject.
    data = make_ied_dataset(
        stride_s=0.5, prevalence=0.05, amplitude_snr=(10.0, 15.0), random_state=0
    )
    X, y, groups = data.X, data.y, data.groups
    proba, _ = grouped_oof_proba(
        _sc_pipeline("sasu", 15), X, y, groups, fit_groups_param="sc__groups"
    )
    # Flagging every window gives F1 = 2p / (1 + p), the prevalence baseline.
    baseline_f1 = 2 * y.mean() / (1 + y.mean())
    assert window_scores(y, proba)["f1"] > 2 * baseline_f1


@pytest.mark.slow
def test_sample_to_grouped_cv_beats_prevalence_baseline():
    # Discharges 10-15 times the background's robust std stand out as clearly
    # as textbook spikes do; the generator's default range is subtler.
    data = make_ied_dataset(
        stride_s=0.5,
        prevalence=0.1,
        amplitude_snr=(10.0, 15.0),
        hard_negative_fraction=0.0,
        random_state=0,
    )
    X, y, groups = data.X, data.y, data.groups
    pipe = _sc_pipeline("bce", 10)
    proba, _ = grouped_oof_proba(
        pipe, X, y, groups, n_splits=3, fit_groups_param="sc__groups"
    )
    scores = window_scores(y, proba)
    # A ranking by chance has AUPRC = prevalence and AUROC = 0.5. (F1 at the
    # 0.5 threshold is not asserted: measured on held-out subjects it stays
    # near the prevalence baseline on this data; see docs/iedeal_ablation.md.)
    assert scores["auprc"] > 2 * y.mean()
    assert scores["auroc"] > 0.65


def test_window_undersampler_before_sc_in_imblearn_pipeline():
    X, y, groups = bump_dataset(n_windows=96, prevalence=0.2)
    pipe = ImbPipeline(
        [
            ("scale", Scaler()),
            ("under", RandomWindowUnderSampler(random_state=0)),
            (
                "sc",
                SCClassifier(
                    width=8,
                    n_blocks=2,
                    max_epochs=3,
                    optimizer="adam",
                    validation_fraction=None,
                    random_state=0,
                ),
            ),
        ]
    )
    result = cross_validate(
        pipe,
        X,
        y,
        groups=groups,
        cv=GroupKFold(2),
        return_estimator=True,
        return_indices=True,
        scoring="f1",
    )
    for fitted, train in zip(
        result["estimator"], result["indices"]["train"], strict=True
    ):
        kept = y[train][fitted.named_steps["under"].sample_indices_]
        assert np.bincount(kept)[0] == np.bincount(kept)[1] == y[train].sum()
    assert np.all(np.isfinite(result["test_score"]))


def test_metadata_routing_brings_groups_to_fit(bumps):
    X, y, _ = bumps
    too_few_groups = np.arange(len(X)) % 2
    with sklearn.config_context(enable_metadata_routing=True):
        clf = SCClassifier(
            width=4, n_blocks=1, max_epochs=1, validation_fraction=0.2
        ).set_fit_request(groups=True)
        # Each training fold holds one of the two groups, too few for a
        # group-aware validation split: the error proves that the training
        # fold's groups reached fit through routing.
        with pytest.raises(ValueError, match="needs at least 5 groups, got 1"):
            cross_validate(
                clf,
                X,
                y,
                cv=GroupKFold(2),
                params={"groups": too_few_groups},
                error_score="raise",
            )
