"""FrameFeatures against closed forms, and HMMClassifier against its formulas
and on windows that differ in frequency content."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest
from hmmlearn.hmm import GaussianHMM
from scipy.special import softmax
from scipy.stats import norm

from skeeg import HMMClassifier
from skeeg.estimators.hmm_classifier import compact_covars
from skeeg.evaluation import mask_labels
from skeeg.features import FRAME_FEATURES, FrameFeatures
from tests.conftest import bump_dataset

SFREQ = 128.0


def sine_windows(n_windows=60, n_channels=2, n_times=256, noise=0.3, seed=0):
    """Noisy sines, 6 Hz for class 0 and 12 Hz for class 1, random phases.

    Returns X (n_windows, n_channels, n_times), y in {0, 1}, and groups
    (6 subjects, each with windows of both classes).
    """
    rng = np.random.default_rng(seed)
    y = np.arange(n_windows) % 2
    rng.shuffle(y)
    freq = np.where(y == 1, 12.0, 6.0)[:, None, None]
    phase = rng.uniform(0, 2 * np.pi, size=(n_windows, n_channels, 1))
    t = np.arange(n_times) / SFREQ
    X = np.sin(2 * np.pi * freq * t + phase)
    X += noise * rng.normal(size=X.shape)
    groups = np.arange(n_windows) % 6
    return X, y, groups


# -- FrameFeatures -------------------------------------------------------------


def test_frame_features_match_hand_computation():
    # One frame of one channel: x = 1, 2, 4, 8.
    x = np.array([[[1.0, 2.0, 4.0, 8.0]]])
    features = FrameFeatures(frame_len=4).fit_transform(x)
    assert features.shape == (1, 1, 6)
    mean = 15 / 4
    var = (1 + 4 + 16 + 64) / 4 - mean**2  # 7.1875
    m4 = np.mean((np.array([1, 2, 4, 8]) - mean) ** 4)
    var_dx = (1 + 4 + 16) / 3 - (7 / 3) ** 2  # dx = 1, 2, 4
    var_ddx = (1 + 4) / 2 - 1.5**2  # ddx = 1, 2
    mobility = np.sqrt(var_dx / var)
    complexity = np.sqrt(var_ddx / var_dx) / mobility
    expected = [mean, np.sqrt(var), m4 / var**2 - 3, var, mobility, complexity]
    np.testing.assert_allclose(features[0, 0], expected)


@pytest.mark.parametrize("freq", [4.0, 8.0, 16.0])
def test_sine_hjorth_parameters_match_closed_form(freq):
    # Whole periods: mean 0, variance 1/2, excess kurtosis 3/2 - 3. The
    # first difference of sin(w n) is 2 sin(w/2) cos(w (n + 1/2)), so the
    # mobility is 2 sin(w / 2) with w = 2 pi f / sfreq, and the complexity
    # (mobility of a sinusoid over that of a sinusoid) is 1. Frames of 1280
    # samples: the differences' end effects are O(1 / 1280).
    t = np.arange(2560) / SFREQ
    x = np.sin(2 * np.pi * freq * t)[None, None]
    features = FrameFeatures(frame_s=10.0, sfreq=SFREQ).fit_transform(x)
    assert features.shape == (1, 2, 6)
    mean, std, kurt, activity, mobility, complexity = features[0].T
    np.testing.assert_allclose(mean, 0.0, atol=1e-12)
    np.testing.assert_allclose(std, np.sqrt(0.5))
    np.testing.assert_allclose(kurt, -1.5)
    np.testing.assert_allclose(activity, 0.5)
    np.testing.assert_allclose(mobility, 2 * np.sin(np.pi * freq / SFREQ), rtol=1e-3)
    np.testing.assert_allclose(complexity, 1.0, rtol=2e-3)


def test_constant_frames_are_zero_and_warning_free():
    X = np.full((2, 3, 40), 7.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        features = FrameFeatures(frame_len=10).fit_transform(X)
    assert features.shape == (2, 4, 18)
    per_feature = features.reshape(2, 4, 3, 6)
    np.testing.assert_array_equal(per_feature[..., 0], 7.0)
    np.testing.assert_array_equal(per_feature[..., 1:], 0.0)


def test_frame_grid_with_overlap():
    X = np.random.default_rng(0).normal(size=(3, 2, 1000))
    ff = FrameFeatures(frame_len=128, overlap=0.5).fit(X)
    assert (ff.frame_len_, ff.step_, ff.n_frames_) == (128, 64, 14)
    means = ff.transform(X)[..., 0::6]  # the "mean" of each channel
    for k in range(14):
        np.testing.assert_allclose(
            means[:, k], X[:, :, 64 * k : 64 * k + 128].mean(axis=2)
        )


def test_frame_length_in_seconds_and_capped_at_the_window():
    X = np.zeros((2, 1, 100))
    assert FrameFeatures(frame_s=0.25, sfreq=200.0).fit(X).frame_len_ == 50
    capped = FrameFeatures(frame_len=500).fit(X)
    assert (capped.frame_len_, capped.n_frames_) == (100, 1)
    # The default is 128 samples, here capped too.
    assert FrameFeatures().fit(np.zeros((2, 1, 300))).frame_len_ == 128


def test_frame_feature_names_follow_the_columns():
    X = np.zeros((2, 2, 64))
    names = FrameFeatures().fit(X).get_feature_names_out()
    assert list(names) == [f"ch{c}_{f}" for c in range(2) for f in FRAME_FEATURES]
    assert list(names[:6]) == [
        "ch0_mean",
        "ch0_std",
        "ch0_kurtosis",
        "ch0_activity",
        "ch0_mobility",
        "ch0_complexity",
    ]


@pytest.mark.parametrize(
    "params, match",
    [
        ({"frame_len": 64, "frame_s": 1.0}, "Give frame_len or frame_s, not both"),
        ({"frame_s": 1.0}, "frame_s=1.0 needs sfreq"),
        ({"frame_len": 0}, "'frame_len' parameter of FrameFeatures must be"),
        ({"overlap": 1.0}, "'overlap' parameter of FrameFeatures must be"),
    ],
)
def test_frame_features_reject_bad_parameters(params, match):
    with pytest.raises(ValueError, match=match):
        FrameFeatures(**params).fit(np.zeros((2, 1, 64)))


# -- HMMClassifier ----------------------------------------------------------------


def test_separates_frequencies():
    X, y, _ = sine_windows(seed=0)
    X_test, y_test, _ = sine_windows(seed=1)
    clf = HMMClassifier(frame_len=32, random_state=0).fit(X, y)
    assert clf.mode_ == "supervised"
    assert len(clf.hmms_) == 2
    assert clf.score(X_test, y_test) > 0.95


def test_one_state_log_likelihood_is_a_gaussian_closed_form():
    # With one state an HMM is a Gaussian: its maximum-likelihood mean and
    # variance are those of the class's standardised frames (hmmlearn adds
    # a 0.01 prior to the summed squares, negligible over 300 frames).
    X, y, _ = sine_windows(n_windows=60, seed=2)
    X_test, _, _ = sine_windows(n_windows=10, seed=3)
    clf = HMMClassifier(n_states=1, frame_len=16, random_state=0).fit(X, y)

    def standardised_frames(windows):
        frames = FrameFeatures(frame_len=16).fit_transform(windows)
        train = FrameFeatures(frame_len=16).fit_transform(X).reshape(-1, 12)
        return (frames - train.mean(axis=0)) / train.std(axis=0)

    train_frames = standardised_frames(X)
    test_frames = standardised_frames(X_test)
    log_lik = np.empty((10, 2))
    for c in (0, 1):
        class_frames = train_frames[y == c].reshape(-1, 12)
        mu, sd = class_frames.mean(axis=0), class_frames.std(axis=0)
        log_lik[:, c] = norm.logpdf(test_frames, mu, sd).sum(axis=(1, 2))
    # Equal priors: the log-odds are the log-likelihood ratio.
    np.testing.assert_allclose(
        clf.decision_function(X_test), log_lik[:, 1] - log_lik[:, 0], rtol=1e-3
    )


def test_predict_proba_is_the_posterior_with_class_priors():
    X, y, _ = sine_windows(n_windows=60, noise=2.0, seed=4)
    keep = np.flatnonzero(y == 0)[:10].tolist() + np.flatnonzero(y == 1).tolist()
    X, y = X[keep], y[keep]  # 10 vs 30 windows: priors 1/4, 3/4
    clf = HMMClassifier(n_states=2, frame_len=32, random_state=0).fit(X, y)
    np.testing.assert_allclose(clf.class_prior_, [0.25, 0.75])
    X_test, _, _ = sine_windows(n_windows=20, noise=2.0, seed=5)
    frames = clf.scaler_.transform(
        clf.features_.transform(X_test).reshape(-1, 12)
    ).reshape(20, -1, 12)
    log_lik = np.array([[hmm.score(w) for hmm in clf.hmms_] for w in frames])
    log_post = log_lik + np.log([0.25, 0.75])
    np.testing.assert_allclose(
        clf.decision_function(X_test), log_post[:, 1] - log_post[:, 0], rtol=1e-9
    )
    np.testing.assert_allclose(
        clf.predict_proba(X_test), softmax(log_post, axis=1), atol=1e-12
    )
    # predict says classes_[1] exactly where the log-odds are positive.
    np.testing.assert_array_equal(
        clf.predict(X_test), (clf.decision_function(X_test) > 0).astype(int)
    )


def test_three_classes():
    rng = np.random.default_rng(0)
    freqs = np.array([4.0, 12.0, 30.0])
    y = np.repeat([0, 1, 2], 20)
    t = np.arange(128) / SFREQ
    X = np.sin(2 * np.pi * freqs[y][:, None, None] * t + rng.uniform(0, 6, (60, 1, 1)))
    X += 0.3 * rng.normal(size=X.shape)
    labels = np.array(["delta", "alpha", "beta"])[y]
    clf = HMMClassifier(n_states=2, frame_len=32, random_state=0).fit(X, labels)
    assert list(clf.classes_) == ["alpha", "beta", "delta"]
    assert clf.predict_proba(X).shape == (60, 3)
    assert clf.decision_function(X).shape == (60, 3)
    assert clf.score(X, labels) > 0.95


def test_unsupervised_mode_with_a_tenth_of_the_labels():
    X, y, groups = sine_windows(n_windows=80, seed=6)
    y_masked = mask_labels(y, 0.1, random_state=0)
    assert (y_masked != -1).sum() == 8
    clf = HMMClassifier(frame_len=32, random_state=0).fit(X, y_masked)
    assert clf.mode_ == "unsupervised"
    assert len(clf.hmms_) == 1
    X_test, y_test, _ = sine_windows(n_windows=80, seed=7)
    assert clf.score(X_test, y_test) > 0.9
    np.testing.assert_allclose(clf.predict_proba(X_test).sum(axis=1), 1.0)


def test_unsupervised_state_classes_follow_the_soft_majority_rule():
    X, y, _ = sine_windows(n_windows=40, seed=8)
    y_masked = np.where(np.arange(40) < 6, y, -1)
    clf = HMMClassifier(n_states=3, frame_len=32, random_state=0).fit(X, y_masked)
    labelled = y_masked != -1
    frames = clf.scaler_.transform(clf.features_.transform(X[labelled]).reshape(-1, 12))
    n_frames = clf.features_.n_frames_
    occupancy = (
        clf.hmms_[0]
        .predict_proba(frames, lengths=[n_frames] * labelled.sum())
        .reshape(labelled.sum(), n_frames, -1)
        .mean(axis=1)
    )
    prior = np.bincount(y[labelled]) / labelled.sum()
    for s in range(3):
        n_c = [occupancy[y[labelled] == c, s].sum() for c in (0, 1)]
        expected = (np.array(n_c) + prior) / (sum(n_c) + 1)
        np.testing.assert_allclose(clf.state_class_proba_[s], expected)


def test_supervised_mode_ignores_unlabelled_windows():
    X, y, _ = sine_windows(seed=9)
    y_masked = np.where(np.arange(len(y)) % 3 == 0, y, -1)
    labelled = y_masked != -1
    masked = HMMClassifier(mode="supervised", frame_len=32, random_state=0)
    masked.fit(X, y_masked)
    subset = HMMClassifier(frame_len=32, random_state=0).fit(X[labelled], y[labelled])
    np.testing.assert_array_equal(masked.predict_proba(X), subset.predict_proba(X))


def test_needs_a_labelled_window_in_two_classes():
    X, y, _ = sine_windows(seed=10)
    y_one = np.where(y == 1, 1, -1)
    with pytest.raises(ValueError, match="needs at least 2 classes with at least"):
        HMMClassifier(frame_len=32).fit(X, y_one)
    with pytest.raises(ValueError, match="y has 0 class"):
        HMMClassifier(frame_len=32).fit(X, np.full(len(y), -1))


def test_random_state_makes_fit_reproducible():
    X, y, _ = sine_windows(noise=1.0, seed=11)
    a = HMMClassifier(frame_len=32, random_state=0).fit(X, y).decision_function(X)
    b = HMMClassifier(frame_len=32, random_state=0).fit(X, y).decision_function(X)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"n_states": 0}, "'n_states' parameter of HMMClassifier must be"),
        ({"covariance_type": "diagonal"}, "'covariance_type' parameter"),
        ({"mode": "semi"}, "'mode' parameter of HMMClassifier must be"),
        ({"frame_len": 32, "frame_s": 1.0}, "Give frame_len or frame_s, not both"),
    ],
)
def test_rejects_bad_parameters(params, match):
    X, y, _ = sine_windows(n_windows=8)
    with pytest.raises(ValueError, match=match):
        HMMClassifier(**params).fit(X, y)


def test_predict_rejects_channel_count_change():
    X, y, _ = sine_windows(n_windows=20)
    clf = HMMClassifier(frame_len=32, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match=r"X has 1 channels, but HMMClassifier"):
        clf.predict(X[:, :1])


def test_importing_the_hmm_leaves_torch_out():
    code = (
        "import sys, skeeg.estimators.hmm_classifier; "
        "assert 'torch' not in sys.modules, 'torch'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("covariance_type", ["spherical", "diag", "full", "tied"])
def testcompact_covars_is_what_the_setter_takes(covariance_type):
    # hmmlearn's covars_ getter gives full matrices; the model file stores the
    # compact form its setter takes, which must give the same matrices back.
    rng = np.random.default_rng(0)
    A = rng.standard_normal((3, 4, 4))
    full = A @ A.transpose(0, 2, 1) + np.eye(4)
    compact = {
        "spherical": np.array([1.5, 2.0, 3.0]),
        "diag": rng.uniform(1, 2, (3, 4)),
        "full": full,
        "tied": full[0],
    }[covariance_type]
    hmm = GaussianHMM(n_components=3, covariance_type=covariance_type)
    hmm.n_features = 4
    hmm.covars_ = compact
    np.testing.assert_array_equal(compact_covars(hmm.covars_, covariance_type), compact)


@pytest.mark.parametrize("covariance_type", ["diag", "full"])
def test_no_state_ends_with_nan_parameters(covariance_type):
    # Short windows, few frames: with some seeds EM empties a state, whose
    # means were 0 / 0 before the states' pseudo-frame (8 of 40 seeds, diag).
    X, y, _ = bump_dataset(n_windows=80, n_channels=3, n_times=64, seed=1)
    for seed in range(20):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf = HMMClassifier(covariance_type=covariance_type, random_state=seed)
            clf.fit(X, y)
        for hmm in clf.hmms_:
            assert np.isfinite(hmm.startprob_).all(), seed
            assert np.isfinite(hmm.means_).all(), seed
            assert np.isfinite(hmm.covars_).all(), seed
        assert np.isfinite(clf.predict_proba(X)).all(), seed
