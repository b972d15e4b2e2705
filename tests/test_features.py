"""SpikeFeatures, BandPowers and SigmaPower against hand-computed values and
closed forms, and SpikeFeatures as a detector front end."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline

from skeeg.features import BandPowers, SigmaPower, SpikeFeatures
from tests.conftest import bump_dataset


def test_features_match_hand_computation():
    # One window, two channels; median |x| over both channels is 1.
    x = np.array([[[1.0, -1.0, 4.0, 1.0], [1.0, 1.0, -1.0, 1.0]]])
    features = SpikeFeatures().fit_transform(x).reshape(2, 4)
    # Channel 0: max |x| = 4; |dx| = 2, 5, 3; Teager with repeated edges:
    # 1 - 1*(-1) = 2, 1 - 1*4 = -3, 16 - (-1)*1 = 17, 1 - 4*1 = -3.
    np.testing.assert_allclose(np.exp(features[0]), [4.0, 10 / 3, 17.0, 5.0])
    # Channel 1: max |x| = 1; |dx| = 0, 2, 2; Teager 0, 2, 2, 2.
    np.testing.assert_allclose(np.exp(features[1]), [1.0, 4 / 3, 2.0, 2.0])


def test_features_ignore_the_gain():
    X, _, _ = bump_dataset(n_windows=10)
    features = SpikeFeatures().fit(X)
    np.testing.assert_allclose(features.transform(X), features.transform(1e-6 * X))


def test_feature_names_follow_the_columns():
    X, _, _ = bump_dataset(n_windows=4, n_channels=2)
    names = SpikeFeatures().fit(X).get_feature_names_out()
    assert list(names[:5]) == [
        "ch0_max_abs",
        "ch0_line_length",
        "ch0_teager",
        "ch0_max_slope",
        "ch1_max_abs",
    ]


def test_bad_eps_is_a_clear_error():
    X, _, _ = bump_dataset(n_windows=4)
    with pytest.raises(ValueError, match="eps must be a float > 0"):
        SpikeFeatures(eps=0).fit(X)


def test_simple_detector_finds_bumps():
    X, y, _ = bump_dataset(n_windows=300, seed=1)
    X_test, y_test, _ = bump_dataset(n_windows=300, seed=2)
    detector = make_pipeline(SpikeFeatures(), LogisticRegression(max_iter=1000))
    detector.fit(X, y)
    assert roc_auc_score(y_test, detector.predict_proba(X_test)[:, 1]) > 0.9


def _sines(sfreq=128.0, seconds=10.0, parts=((2.0, 10.0),)):
    """Sum of sines ``A sin(2 pi f t)`` for (A, f) in ``parts``."""
    t = np.arange(round(sfreq * seconds)) / sfreq
    return sum(a * np.sin(2 * np.pi * f * t) for a, f in parts)


def test_band_power_of_a_sine_is_half_its_squared_amplitude():
    # A sine of amplitude A has power A^2 / 2, all of it in its band.
    x = _sines(parts=((2.0, 10.0), (1.0, 20.0)))
    bands = [(1, 4), (4, 8), (8, 13), (13, 30), (30, 45)]
    powers = BandPowers(128.0, bands=bands, log=False).fit_transform(x[None, None])
    np.testing.assert_allclose(powers[0], [0, 0, 2.0, 0.5, 0], atol=1e-3)


def test_band_powers_are_channel_major_and_logged():
    X = np.stack([_sines(parts=((1.0, 10.0),)), _sines(parts=((3.0, 20.0),))])[None]
    bands = [(8, 13), (13, 30)]
    transformer = BandPowers(128.0, bands=bands).fit(X)
    assert list(transformer.get_feature_names_out()) == [
        "ch0_8-13Hz",
        "ch0_13-30Hz",
        "ch1_8-13Hz",
        "ch1_13-30Hz",
    ]
    powers = np.exp(transformer.transform(X)[0])
    np.testing.assert_allclose(powers[[0, 3]], [0.5, 4.5], rtol=1e-3)
    assert powers[1] < 1e-6 and powers[2] < 1e-6


def test_band_powers_segment_is_capped_by_the_window():
    X = np.random.default_rng(0).normal(size=(3, 2, 100))
    transformer = BandPowers(128.0, bands=[(1, 4)]).fit(X)
    assert transformer.nperseg_ == 100
    assert transformer.transform(X).shape == (3, 2)


@pytest.mark.parametrize("bands", [[(4, 1)], [(30, 80)], [], [(-1, 4)], [1, 4]])
def test_bad_bands_are_a_clear_error(bands):
    X = np.zeros((2, 1, 256))
    with pytest.raises(ValueError, match="bands must be"):
        BandPowers(128.0, bands=bands).fit(X)


def test_relative_sigma_power_of_two_sines_is_their_power_share():
    # 1-s windows at 100 Hz: 1-Hz bins, a sine's Hann leakage stays within one
    # bin of it. 13 Hz (bins 12-14) lies in both bands, 7 Hz (bins 6-8) in
    # the broad band only: relative power a^2 / (a^2 + b^2), sigma power
    # a^2 / 2.
    a, b = 20e-6, 10e-6
    X = np.stack(
        [
            _sines(100.0, 1.0, ((a, 13.0),)),
            _sines(100.0, 1.0, ((b, 7.0),)),
            _sines(100.0, 1.0, ((a, 13.0), (b, 7.0))),
        ]
    )[:, None]
    features = SigmaPower(100.0, log=False).fit_transform(X)
    np.testing.assert_allclose(features[0], [a**2 / 2, 1.0], rtol=1e-9)
    assert features[1, 0] < 1e-12 * a**2 and features[1, 1] < 1e-12
    np.testing.assert_allclose(features[2], [a**2 / 2, a**2 / (a**2 + b**2)], rtol=1e-9)


def test_sigma_power_is_channel_major_and_logged():
    X = np.stack([_sines(100.0, 1.0, ((2.0, 13.0),)), np.zeros(100)])[None]
    transformer = SigmaPower(100.0).fit(X)
    assert list(transformer.get_feature_names_out()) == [
        "ch0_sigma",
        "ch0_relative_sigma",
        "ch1_sigma",
        "ch1_relative_sigma",
    ]
    features = transformer.transform(X)[0]
    np.testing.assert_allclose(features[:2], [np.log(2.0), 0.0], atol=1e-9)
    # A flat channel: no power, relative power 0, both floored before the log.
    np.testing.assert_array_equal(features[2:], np.log(np.finfo(np.float64).tiny))


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"sigma": (20.0, 30.0)}, "sigma=.*sfreq/2 = 25"),
        ({"broad": (16.0, 4.0)}, "broad=.*0 <= lo < hi"),
        ({"sigma": (11.0,)}, "sigma=.*must be \\(lo, hi\\)"),
        ({"sigma": (11.1, 11.4)}, "sigma=.*holds no frequency of a 100-sample"),
    ],
)
def test_bad_sigma_bands_are_a_clear_error(params, match):
    X = np.zeros((2, 1, 100))
    with pytest.raises(ValueError, match=match):
        SigmaPower(50.0, **params).fit(X)
