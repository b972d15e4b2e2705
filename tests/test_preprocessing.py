import numpy as np
import pytest
from scipy.signal import butter, freqz, iirnotch, sosfreqz
from scipy.stats import zscore
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from skeeg.preprocessing import (
    BandpassFilter,
    BipolarMontage,
    ChannelSelector,
    NotchFilter,
    Resampler,
    Scaler,
    WindowStandardizer,
)


def _sinusoids(freq, sfreq, n_times, n_windows=2, n_channels=3, seed=0):
    """Unit sinusoids, random phases, shape (n_windows, n_channels, n_times)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_times) / sfreq
    phase = rng.uniform(0, 2 * np.pi, size=(n_windows, n_channels, 1))
    return np.sin(2 * np.pi * freq * t + phase)


def _amplitude(X, freq, sfreq, start, stop):
    """Least-squares amplitude of the ``freq`` sinusoid in samples start:stop."""
    t = np.arange(start, stop) / sfreq
    basis = np.column_stack(
        [np.sin(2 * np.pi * freq * t), np.cos(2 * np.pi * freq * t)]
    )
    segment = X[..., start:stop].reshape(-1, stop - start).T
    coef, *_ = np.linalg.lstsq(basis, segment, rcond=None)
    return np.hypot(coef[0], coef[1])


@pytest.mark.parametrize(
    "l_freq, h_freq, btype, cutoff",
    [
        (1.0, 50.0, "bandpass", [1.0, 50.0]),
        (0.3, 35.0, "bandpass", [0.3, 35.0]),
        (None, 50.0, "lowpass", 50.0),
        (20.0, None, "highpass", 20.0),
    ],
)
@pytest.mark.parametrize("freq", [10.0, 40.0, 60.0])
def test_bandpass_gain_matches_squared_butterworth_response(
    l_freq, h_freq, btype, cutoff, freq
):
    # 30 s: the 0.3 Hz high-pass edge transients last several seconds.
    sfreq, n_times = 256.0, 7680
    X = _sinusoids(freq, sfreq, n_times)
    Xt = BandpassFilter(sfreq, l_freq=l_freq, h_freq=h_freq).fit_transform(X)
    # Forward-backward filtering squares the magnitude response.
    sos = butter(4, cutoff, btype=btype, fs=sfreq, output="sos")
    _, h = sosfreqz(sos, worN=[freq], fs=sfreq)
    expected = np.abs(h[0]) ** 2
    # The middle of the window, away from the edge transients.
    measured = _amplitude(Xt, freq, sfreq, n_times // 4, 3 * n_times // 4)
    np.testing.assert_allclose(measured, expected, rtol=1e-3, atol=1e-4)


def test_bandpass_passes_10hz_and_strongly_attenuates_60hz():
    sfreq, n_times = 256.0, 2560
    filt = BandpassFilter(sfreq, l_freq=1.0, h_freq=50.0)
    middle = (n_times // 4, 3 * n_times // 4)
    pass_gain = _amplitude(
        filt.fit_transform(_sinusoids(10.0, sfreq, n_times)), 10.0, sfreq, *middle
    )
    stop_gain = _amplitude(
        filt.fit_transform(_sinusoids(60.0, sfreq, n_times)), 60.0, sfreq, *middle
    )
    np.testing.assert_allclose(pass_gain, 1.0, atol=1e-3)
    # Order 4 at 1.2 x the cut-off: |H|^2 = 1 / (1 + 1.2^8) ~ 0.19 (analog).
    assert np.all(stop_gain < 0.25)


def test_filters_keep_2d_input_2d():
    X = _sinusoids(10.0, 256.0, 512)[:, 0, :]
    for transformer in (BandpassFilter(256.0), NotchFilter(256.0)):
        Xt = transformer.fit_transform(X)
        assert Xt.shape == X.shape
        X3t = clone(transformer).fit_transform(X[:, np.newaxis, :])
        np.testing.assert_allclose(Xt, X3t[:, 0, :])


def test_bandpass_rejects_windows_shorter_than_the_padding():
    # 4 band-pass sections, none with trailing zeros: 3 * (2 * 4 + 1) = 27
    # padding samples, and sosfiltfilt needs more samples than that.
    filt = BandpassFilter(256.0, l_freq=1.0, h_freq=50.0, order=4)
    with pytest.raises(ValueError, match=r"n_times=27 .* at least 28"):
        filt.fit(np.zeros((2, 3, 27)))
    assert filt.fit_transform(np.zeros((2, 3, 28))).shape == (2, 3, 28)


@pytest.mark.parametrize(
    "freqs, sfreq",
    [(50.0, 256.0), (60.0, 256.0), ([50.0, 100.0], 500.0)],
)
def test_notch_gain_matches_squared_iirnotch_response(freqs, sfreq):
    n_times = int(10 * sfreq)
    middle = (n_times // 4, 3 * n_times // 4)
    notch = NotchFilter(sfreq, freq=freqs, quality=30.0)
    for freq in [10.0, *np.atleast_1d(freqs)]:
        Xt = notch.fit_transform(_sinusoids(freq, sfreq, n_times))
        expected = 1.0
        for f0 in np.atleast_1d(freqs):
            b, a = iirnotch(f0, 30.0, fs=sfreq)
            _, h = freqz(b, a, worN=[freq], fs=sfreq)
            expected *= np.abs(h[0]) ** 2
        measured = _amplitude(Xt, freq, sfreq, *middle)
        np.testing.assert_allclose(measured, expected, atol=1e-3)
        assert expected > 0.99 if freq == 10.0 else expected < 1e-6


@pytest.mark.parametrize(
    "sfreq, new_sfreq, n_times, n_out",
    [
        (1000.0, 512.0, 1500, 768),  # iEDeaL: 1.5 s windows at 512 Hz
        (250.0, 128.0, 2500, 1280),  # sleep study: 10 s windows at 128 Hz
        (128.0, 256.0, 100, 200),
        (256.0, 100.0, 256, 100),
    ],
)
def test_resampler_length_and_sinusoid_frequency(sfreq, new_sfreq, n_times, n_out):
    freq = 7.0
    X = _sinusoids(freq, sfreq, n_times, seed=1)
    resampler = Resampler(sfreq, new_sfreq).fit(X)
    Xt = resampler.transform(X)
    assert Xt.shape == (2, 3, n_out)
    assert resampler.n_times_out_ == n_out
    assert resampler.sfreq_out_ == new_sfreq
    # The same sinusoid (same phase) sampled at the new rate, away from edges.
    rng = np.random.default_rng(1)
    phase = rng.uniform(0, 2 * np.pi, size=(2, 3, 1))
    expected = np.sin(2 * np.pi * freq * np.arange(n_out) / new_sfreq + phase)
    edge = n_out // 10
    np.testing.assert_allclose(
        Xt[..., edge:-edge], expected[..., edge:-edge], atol=0.02
    )
    assert resampler.fit_transform(X[:, 0, :]).shape == (2, n_out)


def test_bipolar_chain_equals_consecutive_differences():
    X = np.random.default_rng(0).normal(size=(4, 5, 30))
    Xt = BipolarMontage().fit_transform(X)
    expected = np.stack([X[:, i] - X[:, i + 1] for i in range(4)], axis=1)
    np.testing.assert_array_equal(Xt, expected)


def test_bipolar_pairs_by_name_and_index():
    ch_names = ["Fp1", "F3", "C3", "P3"]
    X = np.random.default_rng(0).normal(size=(4, 4, 30))
    by_name = BipolarMontage([("Fp1", "F3"), ("P3", "F3")], ch_names=ch_names)
    by_index = BipolarMontage([(0, 1), (3, 1)])
    expected = np.stack([X[:, 0] - X[:, 1], X[:, 3] - X[:, 1]], axis=1)
    np.testing.assert_array_equal(by_name.fit_transform(X), expected)
    np.testing.assert_array_equal(by_index.fit_transform(X), expected)
    np.testing.assert_array_equal(by_name.pairs_, [[0, 1], [3, 1]])
    # One pair from 3-D input stays 3-D: (n_windows, 1, n_times).
    assert BipolarMontage([(2, 0)]).fit_transform(X).shape == (4, 1, 30)


def test_channel_selector_by_name_and_index():
    ch_names = ["C3-A2", "C4-A1", "F4-A1", "O2-A1"]
    X = np.random.default_rng(0).normal(size=(3, 4, 20))
    Xt = ChannelSelector(["O2-A1", "C3-A2"], ch_names=ch_names).fit_transform(X)
    np.testing.assert_array_equal(Xt, X[:, [3, 0], :])
    np.testing.assert_array_equal(ChannelSelector([1]).fit_transform(X), X[:, [1]])
    X2 = X[:, 0, :]
    np.testing.assert_array_equal(ChannelSelector([0]).fit_transform(X2), X2)
    assert ChannelSelector([0, 0]).fit_transform(X2).shape == (3, 2, 20)


def test_window_standardizer_matches_scipy_zscore():
    rng = np.random.default_rng(0)
    X = rng.normal(loc=5.0, scale=3.0, size=(4, 3, 50))
    expected = zscore(X, axis=-1)
    X[1, 2] = 7.0  # a flat channel maps to zeros
    expected[1, 2] = 0.0
    Xt = WindowStandardizer().fit_transform(X)
    np.testing.assert_allclose(Xt, expected, atol=1e-6)


def test_scaler_matches_standard_scaler_on_stacked_time_samples():
    rng = np.random.default_rng(0)
    scales = np.array([1.0, 10.0, 100.0])[:, np.newaxis]
    X_train = rng.normal(loc=3.0, size=(6, 3, 40)) * scales
    X_test = rng.normal(size=(2, 3, 40)) * scales

    def stacked(X):  # (n_windows * n_times, n_channels)
        return X.transpose(0, 2, 1).reshape(-1, X.shape[1])

    reference = StandardScaler().fit(stacked(X_train))
    scaler = Scaler().fit(X_train)
    np.testing.assert_allclose(scaler.mean_, reference.mean_)
    np.testing.assert_allclose(scaler.scale_, reference.scale_)
    Xt = scaler.transform(X_test)
    np.testing.assert_allclose(stacked(Xt), reference.transform(stacked(X_test)))


ALL_TRANSFORMERS = [
    BandpassFilter(128.0),
    NotchFilter(128.0),
    Resampler(128.0, 64.0),
    BipolarMontage(),
    ChannelSelector([0, 1]),
    WindowStandardizer(),
    Scaler(),
]


@pytest.mark.parametrize(
    "transformer", ALL_TRANSFORMERS, ids=lambda t: type(t).__name__
)
def test_transform_rejects_shape_change_after_fit(transformer):
    X = np.random.default_rng(0).normal(size=(4, 3, 64))
    transformer = clone(transformer).fit(X)
    with pytest.raises(ValueError, match="3 channels"):
        transformer.transform(X[:, :2])
    with pytest.raises(ValueError, match="64"):
        transformer.transform(X[..., :60])


@pytest.mark.parametrize(
    "transformer, match",
    [
        (BandpassFilter(sfreq=0.0), "sfreq"),
        (BandpassFilter(128.0, h_freq=64.0), "h_freq.*Nyquist"),
        (BandpassFilter(128.0, l_freq=-1.0), "l_freq"),
        (BandpassFilter(128.0, l_freq=30.0, h_freq=20.0), "l_freq"),
        (BandpassFilter(128.0, l_freq=None, h_freq=None), "l_freq and h_freq"),
        (BandpassFilter(128.0, order=0), "order"),
        (NotchFilter(128.0, freq=64.0), "freq.*Nyquist"),
        (NotchFilter(128.0, freq=[]), "freq"),
        (NotchFilter(128.0, quality=0.0), "quality"),
        (Resampler(128.0, new_sfreq=-1.0), "new_sfreq"),
        (Resampler(-128.0, new_sfreq=64.0), "sfreq"),
        (WindowStandardizer(eps=-1.0), "eps"),
        (BipolarMontage(pairs="ring"), "pairs"),
        (BipolarMontage(pairs=[(0, 3)]), "pairs.*index 3"),
        (BipolarMontage(pairs=[(1, 1)]), "pairs"),
        (BipolarMontage(pairs=[("Fp1", "F3")]), "ch_names is None"),
        (BipolarMontage(pairs=[(0, 1)], ch_names=["a", "b"]), "ch_names"),
        (ChannelSelector(["Cz"], ch_names=["C3", "C4", "O2"]), "Cz"),
        (ChannelSelector([]), "channels"),
        (ChannelSelector([-1]), "channels"),
    ],
    ids=lambda p: p if isinstance(p, str) else type(p).__name__,
)
def test_fit_rejects_bad_parameters_naming_them(transformer, match):
    X = np.zeros((2, 3, 64))
    with pytest.raises(ValueError, match=match):
        transformer.fit(X)


def test_bipolar_chain_needs_two_channels():
    with pytest.raises(ValueError, match="at least 2 channels"):
        BipolarMontage().fit(np.zeros((2, 64)))


def _flatten(X):
    return X.reshape(len(X), -1)


def test_pipeline_grid_search_over_filter_band():
    sfreq, n_times = 128.0, 128
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 30)
    # Class 1 carries a phase-locked 10 Hz rhythm; both classes carry strong
    # 40 Hz noise, so only the filter that removes 40 Hz separates them well.
    t = np.arange(n_times) / sfreq
    X = rng.normal(scale=0.5, size=(60, 2, n_times))
    X += 2.0 * np.sin(2 * np.pi * 40 * t + rng.uniform(0, 2 * np.pi, (60, 2, 1)))
    X[y == 1] += 0.5 * np.sin(2 * np.pi * 10 * t)
    pipe = Pipeline(
        [
            ("filter", BandpassFilter(sfreq)),
            ("flatten", FunctionTransformer(_flatten)),
            ("clf", LogisticRegression(max_iter=500)),
        ]
    )
    search = GridSearchCV(
        pipe,
        {"filter__h_freq": [20.0, 50.0], "clf__C": [1.0]},
        cv=StratifiedKFold(3, shuffle=True, random_state=0),
    )
    search.fit(X, y)
    assert search.best_params_["filter__h_freq"] == 20.0
    assert search.best_score_ > 0.9
    assert search.predict(X).shape == (60,)
