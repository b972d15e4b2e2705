"""Siamese-ES: the converter, the two-task loss, routing of ``sleep_stage``,
the ablation switches, and the IED metrics it is judged by."""

from __future__ import annotations

import numpy as np
import pytest
import sklearn
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import cross_validate
from sklearn.pipeline import Pipeline

from skeeg import SiameseESClassifier
from skeeg.evaluation.metrics import (
    false_positives_per_stage,
    specificity_score,
    specificity_scorer,
    threshold_at_sensitivity,
    window_scores,
)
from skeeg.models.siamese_es import FrequencyTemporalConverter, gabor_filters
from skeeg.preprocessing import Scaler

FAST = dict(
    width=8,
    max_epochs=12,
    batch_size=32,
    lr=0.01,
    loss="bce",
    validation_fraction=None,
    random_state=0,
)
STAGES = np.array(["W", "N2", "N3"])
SFREQ = 64.0


def two_task_dataset(n_windows=240, n_times=128, seed=0):
    """One-channel windows whose rhythm gives the stage and a spike the IED.

    W: 9 Hz alpha; N2: 14 Hz spindle burst; N3: 1.5 Hz delta, large. A third
    of the windows carry a biphasic spike (the IED) at a random time.
    Returns X (n, 1, n_times), y {0, 1}, stage (str), one per window.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(n_times) / SFREQ
    stage = rng.integers(3, size=n_windows)
    y = (rng.random(n_windows) < 1 / 3).astype(int)
    X = rng.normal(size=(n_windows, 1, n_times))
    phase = rng.uniform(0, 2 * np.pi, size=n_windows)
    for i in range(n_windows):
        if stage[i] == 0:
            X[i, 0] += 1.5 * np.sin(2 * np.pi * 9 * t + phase[i])
        elif stage[i] == 1:
            envelope = np.exp(-0.5 * ((t - t.mean()) / 0.3) ** 2)
            X[i, 0] += 3.0 * envelope * np.sin(2 * np.pi * 14 * t + phase[i])
        else:
            X[i, 0] += 3.0 * np.sin(2 * np.pi * 1.5 * t + phase[i])
        if y[i]:
            centre = rng.integers(n_times // 4, 3 * n_times // 4)
            u = (np.arange(n_times) - centre) / 1.5
            X[i, 0] += -6.0 * u * np.exp(-0.5 * u**2)
    return X, y, STAGES[stage]


@pytest.fixture(scope="module")
def two_task():
    return two_task_dataset()


# -- the converter ----------------------------------------------------------------
def test_stft_features_match_numpy_log_magnitude():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 3, 100))
    conv = FrequencyTemporalConverter(3, 100, n_fft=16, hop_length=8)
    out = conv(torch.tensor(x, dtype=torch.float32)).numpy()
    n_freqs = 16 // 2 + 1
    assert out.shape == (2, 3 * (n_freqs + 1), 100 // 8 + 1)
    # Frame 3 of window 1, channel 2: samples 3*8 - 8 .. 3*8 + 8 (centred).
    segment = x[1, 2, 24 - 8 : 24 + 8]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(16) / 16)  # periodic Hann
    expected = np.log(np.abs(np.fft.rfft(segment * window)) + 1e-10)
    channel = out[1, 2 * (n_freqs + 1) : 3 * (n_freqs + 1)]
    np.testing.assert_allclose(channel[:n_freqs, 3], expected, rtol=1e-4, atol=1e-4)
    # The last row of the channel is the raw signal averaged over the frame.
    assert np.isfinite(channel[n_freqs]).all()


def test_stft_peak_is_at_the_sine_frequency():
    n_times, n_fft = 256, 32
    x = np.sin(2 * np.pi * 5 / n_fft * np.arange(n_times))  # bin 5
    out = FrequencyTemporalConverter(1, n_times, n_fft=n_fft, hop_length=8)(
        torch.tensor(x[None, None], dtype=torch.float32)
    )
    assert int(out[0, : n_fft // 2 + 1, 10].argmax()) == 5


@pytest.mark.parametrize("n_times", [2, 3, 5, 9])
def test_converter_degrades_to_short_windows(n_times):
    for kind in ("stft", "filterbank"):
        conv = FrequencyTemporalConverter(1, n_times, kind=kind)
        assert conv.n_fft == n_times
        assert conv.n_frames >= 2  # BatchNorm needs two values per feature
        out = conv(torch.randn(1, 1, n_times))
        assert out.shape == (1, conv.n_features, conv.n_frames)
        assert torch.isfinite(out).all()


def test_gabor_filters_peak_at_their_centre_frequency():
    size = 128
    filters = gabor_filters(6, size)[:, 0].numpy()
    freqs = np.logspace(np.log10(1 / size), np.log10(0.45), 6)
    spectrum = np.abs(np.fft.rfft(filters, n=4096, axis=1))
    peaks = spectrum.argmax(axis=1) / 4096
    np.testing.assert_allclose(peaks[1:], freqs[1:], atol=2 / size)
    np.testing.assert_allclose(np.linalg.norm(filters, axis=1), 1.0, rtol=1e-5)


# -- the estimator ----------------------------------------------------------------
def test_fit_predict_shapes_both_tasks(bumps):
    X, y, _ = bumps
    stage = STAGES[np.arange(len(y)) % 3]
    clf = SiameseESClassifier(**FAST).fit(X, y, sleep_stage=stage)
    assert clf.predict_proba(X).shape == (len(X), 2)
    proba = clf.predict_sleep_proba(X)
    assert proba.shape == (len(X), 5)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert list(clf.sleep_classes_) == ["W", "N1", "N2", "N3", "REM"]
    assert set(clf.predict_sleep(X)) <= set(clf.sleep_classes_)
    assert clf.transform(X).shape == (len(X), 4 * FAST["width"])


def test_learns_an_easy_two_task_problem(two_task):
    X, y, stage = two_task
    X_test, y_test, stage_test = two_task_dataset(seed=1)
    clf = SiameseESClassifier(**FAST).fit(X, y, sleep_stage=stage)
    assert roc_auc_score(y_test, clf.predict_proba(X_test)[:, 1]) > 0.9
    # Chance is 1/3.
    assert np.mean(clf.predict_sleep(X_test) == stage_test) > 0.8


def test_sleep_stage_routes_through_pipeline_and_cross_validate(two_task):
    X, y, stage = two_task
    with sklearn.config_context(enable_metadata_routing=True):
        clf = SiameseESClassifier(**{**FAST, "max_epochs": 2})
        pipe = Pipeline(
            [("scale", Scaler()), ("clf", clf.set_fit_request(sleep_stage=True))]
        )
        result = cross_validate(
            pipe, X, y, cv=2, params={"sleep_stage": stage}, return_estimator=True
        )
    # Each fold's stages (sliced like X) reached the sleep head.
    for fitted in result["estimator"]:
        assert list(fitted[-1].sleep_classes_) == ["W", "N1", "N2", "N3", "REM"]


def test_sleep_stage_length_and_labels_are_checked(bumps):
    X, y, _ = bumps
    clf = SiameseESClassifier(**FAST)
    with pytest.raises(ValueError, match="sleep_stage has shape .79,., but X has 80"):
        clf.fit(X, y, sleep_stage=np.array(["W"] * 79))
    with pytest.raises(ValueError, match=r"labels \['S2'\] outside .*rk_to_aasm"):
        clf.fit(X, y, sleep_stage=np.array(["W", "S2"] * 40))
    with pytest.raises(ValueError, match="at least 2 distinct labels"):
        clf.set_params(sleep_stages=("W", "W")).fit(X, y)


def test_predict_sleep_needs_a_trained_sleep_head(bumps):
    X, y, _ = bumps
    stage = STAGES[np.arange(len(y)) % 3]
    for fitted in (
        SiameseESClassifier(**FAST).fit(X, y),
        SiameseESClassifier(**FAST).fit(X, y, sleep_stage=np.full(len(y), "?")),
        SiameseESClassifier(**FAST, lambda_sleep=0.0).fit(X, y, sleep_stage=stage),
    ):
        with pytest.raises(ValueError, match="sleep head was not trained"):
            fitted.predict_sleep(X)


@pytest.mark.parametrize(
    "params, error, match",
    [
        ({"lambda_sleep": -1.0}, ValueError, "The 'lambda_sleep' parameter of "),
        ({"fuse_sleep": "yes"}, TypeError, "The 'fuse_sleep' parameter of "),
        ({"converter": "wavelet"}, ValueError, "converter must be one of"),
        ({"n_fft": 0}, ValueError, "n_fft must be an int >= 1"),
        ({"dropout": 1.0}, ValueError, r"dropout must be a float in \[0, 1\)"),
        ({"sleep_stages": "W"}, TypeError, "sleep_stages must be a sequence"),
    ],
)
def test_bad_parameters_are_named(params, error, match, bumps):
    X, y, _ = bumps
    with pytest.raises(error, match=match):
        SiameseESClassifier(**{**FAST, **params}).fit(X, y)


# -- the loss and the ablations ------------------------------------------------
def _net_and_batch(clf, X, y, codes):
    net = clf.net_
    net.module_.train()
    y_pred = net.module_(torch.tensor(X, dtype=torch.float32))
    return net, y_pred, {"y": torch.tensor(y), "sleep_stage": torch.tensor(codes)}


def test_unknown_stages_are_masked_in_the_sleep_loss(bumps):
    X, y, _ = bumps
    stage = np.array(["W", "N2", "?", "N3", "unknown"] * 16, dtype=object)
    clf = SiameseESClassifier(**{**FAST, "max_epochs": 1}).fit(X, y, sleep_stage=stage)
    codes = np.array([0, 2, -1, 3, -1] * 16)
    net, (ied_logits, sleep_logits), y_true = _net_and_batch(clf, X, y, codes)
    ied = F.binary_cross_entropy_with_logits(ied_logits[:, 0], torch.tensor(y).float())
    known = codes >= 0
    sleep = F.cross_entropy(sleep_logits[known], torch.tensor(codes[known]))
    loss = net.get_loss((ied_logits, sleep_logits), y_true)
    torch.testing.assert_close(loss, ied + sleep)
    # No known stage: the IED loss alone.
    y_true["sleep_stage"] = torch.full((len(y),), -1)
    torch.testing.assert_close(net.get_loss((ied_logits, sleep_logits), y_true), ied)


def test_lambda_sleep_scales_and_zero_removes_the_sleep_loss(bumps):
    X, y, _ = bumps
    stage = STAGES[np.arange(len(y)) % 3]
    codes = np.array([0, 2, 3])[np.arange(len(y)) % 3]
    losses = {}
    for lam in (0.0, 0.5):
        clf = SiameseESClassifier(**{**FAST, "max_epochs": 1, "lambda_sleep": lam})
        clf.fit(X, y, sleep_stage=stage)
        net, y_pred, y_true = _net_and_batch(clf, X, y, codes)
        ied = F.binary_cross_entropy_with_logits(
            y_pred[0][:, 0], torch.tensor(y).float()
        )
        sleep = F.cross_entropy(y_pred[1], torch.tensor(codes))
        losses[lam] = (net.get_loss(y_pred, y_true), ied, sleep)
    torch.testing.assert_close(losses[0.0][0], losses[0.0][1])
    torch.testing.assert_close(losses[0.5][0], losses[0.5][1] + 0.5 * losses[0.5][2])


def test_uncertainty_weighting_follows_kendall(bumps):
    X, y, _ = bumps
    stage = STAGES[np.arange(len(y)) % 3]
    codes = np.array([0, 2, 3])[np.arange(len(y)) % 3]
    clf = SiameseESClassifier(
        **{**FAST, "max_epochs": 1, "uncertainty_weighting": True, "lambda_sleep": 2.0}
    ).fit(X, y, sleep_stage=stage)
    with torch.no_grad():
        clf.net_.module_.log_var.copy_(torch.tensor([0.3, -0.7]))
    net, y_pred, y_true = _net_and_batch(clf, X, y, codes)
    ied = F.binary_cross_entropy_with_logits(y_pred[0][:, 0], torch.tensor(y).float())
    sleep = F.cross_entropy(y_pred[1], torch.tensor(codes))
    s1, s2 = 0.3, -0.7
    expected = np.exp(-s1) * ied + s1 + 2.0 * (np.exp(-s2) * sleep + s2)
    torch.testing.assert_close(net.get_loss(y_pred, y_true), expected.float())
    # The log-variances are trained parameters.
    assert any(p is net.module_.log_var for p in net.module_.parameters())


@pytest.mark.parametrize(
    "fuse, detach, reaches",
    [(True, False, True), (True, True, False), (False, False, False)],
)
def test_fusion_switches_decide_whether_the_ied_loss_trains_the_sleep_branch(
    fuse, detach, reaches, bumps
):
    X, y, _ = bumps
    clf = SiameseESClassifier(
        **{**FAST, "max_epochs": 1, "fuse_sleep": fuse, "detach_sleep": detach}
    ).fit(X, y)
    module = clf.net_.module_
    assert module.head.in_features == (4 if fuse else 2) * FAST["width"]
    module.zero_grad()
    ied_logits, _ = module(torch.tensor(X, dtype=torch.float32))
    ied_logits.sum().backward()
    grads = [p.grad for p in module.sleep.parameters()]
    flowed = any(g is not None and bool(g.abs().sum() > 0) for g in grads)
    assert flowed == reaches


def test_validation_split_and_auto_threshold_with_two_targets(two_task):
    X, y, stage = two_task
    groups = np.arange(len(y)) % 8
    clf = SiameseESClassifier(
        **{**FAST, "max_epochs": 3, "validation_fraction": 0.25, "threshold": "auto"}
    ).fit(X, y, sleep_stage=stage, groups=groups)
    assert "valid_fbeta" in clf.net_.history[-1]
    assert 0 < clf.threshold_ < 1


# -- IED metrics at an operating point ------------------------------------------
def test_threshold_at_sensitivity_reaches_the_target():
    y = np.array([0, 0, 1, 0, 1, 1, 0, 1])
    score = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8])
    # Positives at 0.3, 0.5, 0.6, 0.8: 75 % sensitivity needs threshold 0.5.
    assert threshold_at_sensitivity(y, score, 0.75) == 0.5
    assert window_scores(y, score, threshold=0.5)["recall"] == 0.75
    assert threshold_at_sensitivity(y, score, 1.0) == 0.3
    with pytest.raises(ValueError, match="sensitivity must be a float in"):
        threshold_at_sensitivity(y, score, 0.0)


def test_specificity_and_false_positives_per_stage():
    y = np.array([0, 0, 0, 1, 0, 0, 1, 0])
    pred = np.array([1, 0, 1, 1, 0, 1, 0, 0])
    stage = np.array(["N2", "N2", "N2", "N2", "W", "W", "W", "REM"])
    # Negatives: 6; false positives at 0, 2 (N2) and 5 (W).
    assert specificity_score(y, pred) == 3 / 6
    per_stage = false_positives_per_stage(y, pred, stage)
    assert per_stage["N2"] == {
        "false_positives": 2,
        "negatives": 3,
        "false_positive_rate": 2 / 3,
    }
    assert per_stage["W"]["false_positives"] == 1
    assert per_stage["REM"]["false_positive_rate"] == 0.0


def test_specificity_scorer_uses_the_estimators_threshold(two_task):
    X, y, stage = two_task
    clf = SiameseESClassifier(**FAST).fit(X, y, sleep_stage=stage)
    assert specificity_scorer(clf, X, y) == specificity_score(y, clf.predict(X))
