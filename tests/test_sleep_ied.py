import numpy as np
import pandas as pd
import pytest
from scipy.signal import periodogram

from skeeg.datasets import load_dreams, make_sleep_ied_dataset

FOLDER = "dreams_spindles_CC-BY-NC-ND"
SFREQ = 200.0
WINDOW_S = 1.5
STRIDE_S = 1.0
EXCERPTS = [1, 3, 7]  # 100, 50 and 200 Hz native; 7 is the only one with REM
RATES = {"W": 0.1, "N1": 0.15, "N2": 0.2, "N3": 0.3, "REM": 0.5}
SPINDLE_FRACTION = 0.03
# The DREAMS hypnogram coding, written out independently of the loader.
DREAMS_CODE_TO_STAGE = {5: "W", 4: "REM", 3: "N1", 2: "N2", 1: "N3", 0: "N3"}


@pytest.fixture(scope="module")
def dreams_path(shared_data):
    path = shared_data / FOLDER
    if not path.is_dir():
        pytest.skip(f"DREAMS data not found at {path}")
    return path


@pytest.fixture(scope="module")
def data(dreams_path):
    return make_sleep_ied_dataset(
        dreams_path,
        excerpts=EXCERPTS,
        sfreq=SFREQ,
        window_s=WINDOW_S,
        stride_s=STRIDE_S,
        ied_rate=RATES,
        spindle_fraction=SPINDLE_FRACTION,
        random_state=0,
    )


def _hypnogram_codes(path, excerpt):
    return np.loadtxt(path / f"Hypnogram_excerpt{excerpt}.txt", skiprows=1).astype(int)


def _spindle_spans(path, excerpt):
    """(onset, end) of every expert spindle, both scorers, from the text files."""
    spans = [
        np.loadtxt(f, skiprows=1, ndmin=2)
        for f in sorted(path.glob(f"Visual_scoring*_excerpt{excerpt}.txt"))
    ]
    spans = np.concatenate(spans)
    return spans[:, 0], spans[:, 0] + spans[:, 1]


def test_stage_at_each_window_centre_matches_the_hypnogram(data, dreams_path):
    assert data.X.shape == (len(data.y), 1, int(WINDOW_S * SFREQ))
    np.testing.assert_array_equal(data.sleep_stage, data.metadata["sleep_stage"])
    for excerpt in EXCERPTS:
        rows = data.groups == f"excerpt{excerpt}"
        codes = _hypnogram_codes(dreams_path, excerpt)
        centre = data.metadata["onset"].to_numpy()[rows] + WINDOW_S / 2
        expected = [DREAMS_CODE_TO_STAGE[codes[int(c // 5.0)]] for c in centre]
        assert data.sleep_stage[rows].tolist() == expected


def test_regular_windows_tile_each_excerpt_at_the_stride(data, dreams_path):
    for excerpt in EXCERPTS:
        meta = data.metadata[data.metadata["subject"] == f"excerpt{excerpt}"]
        regular = meta.loc[meta["kind"] != "spindle", "onset"].to_numpy()
        scored_s = 5.0 * len(_hypnogram_codes(dreams_path, excerpt))
        n = int(np.floor((scored_s - WINDOW_S) / STRIDE_S)) + 1
        np.testing.assert_allclose(regular, np.arange(n) * STRIDE_S)
        # Recording order: spindle-centred windows sit among them by onset.
        assert np.all(np.diff(meta["onset"].to_numpy()) >= 0)


def test_positives_per_excerpt_and_stage_follow_the_rates(data):
    meta = data.metadata
    regular = meta[meta["kind"] != "spindle"]
    counts = regular.groupby(["subject", "sleep_stage"])["label"].agg(["size", "sum"])
    for (_, stage), row in counts.iterrows():
        assert row["sum"] == int(round(RATES[stage] * row["size"]))
    assert meta.loc[meta["kind"] == "spindle", "label"].eq(0).all()
    # Every positive window holds one IED, listed in events with its stage.
    events = data.events
    assert len(events) == data.y.sum()
    np.testing.assert_array_equal(np.sort(events["window"]), np.flatnonzero(data.y))
    np.testing.assert_array_equal(
        events["sleep_stage"], data.sleep_stage[events["window"]]
    )
    np.testing.assert_array_equal(events["subject"], data.groups[events["window"]])
    assert set(events["kind"]) == {"spike", "sharp"}
    assert (
        events["kind"].to_numpy() == meta["kind"].to_numpy()[events["window"]]
    ).all()


def test_only_positive_windows_differ_from_the_background(data, dreams_path):
    background = load_dreams(dreams_path, excerpts=EXCERPTS, window_s=5.0, sfreq=SFREQ)
    n_times = data.X.shape[-1]
    events = data.events.set_index("window")
    for excerpt in EXCERPTS:
        name = f"excerpt{excerpt}"
        signal = background.X[background.groups == name, 0].ravel()
        for row in np.flatnonzero(data.groups == name):
            start = int(round(data.metadata["onset"].iloc[row] * SFREQ))
            added = data.X[row, 0] - signal[start : start + n_times]
            if not data.y[row]:
                assert not added.any()
                continue
            event = events.loc[row]
            peak = int(round(event["peak_s"] * SFREQ))
            assert added[peak] == pytest.approx(event["amplitude"], rel=1e-9)
            assert event["amplitude"] < 0  # surface-negative discharge
            assert event["recording_peak_s"] == pytest.approx(
                data.metadata["onset"].iloc[row] + event["peak_s"]
            )


def test_excerpt_recorded_at_50_hz_gets_band_limited_discharges(data, dreams_path):
    background = load_dreams(dreams_path, excerpts=[3, 7], window_s=5.0, sfreq=SFREQ)
    n_times = data.X.shape[-1]
    share_above_35_hz = {}
    for name in ("excerpt3", "excerpt7"):
        signal = background.X[background.groups == name, 0].ravel()
        shares = []
        for row in np.flatnonzero((data.groups == name) & (data.y == 1)):
            start = int(round(data.metadata["onset"].iloc[row] * SFREQ))
            freqs, power = periodogram(
                data.X[row, 0] - signal[start : start + n_times], SFREQ
            )
            shares.append(power[freqs > 35].sum() / power.sum())
        share_above_35_hz[name] = max(shares)
    # Excerpt 3 holds nothing above 25 Hz: its discharges pass a 22.5-Hz
    # low-pass (4th-order Butterworth, forward and backward: power gain
    # (1 + (35 / 22.5) ** 8) ** -2 < 1e-3 at 35 Hz). Excerpt 7 (200 Hz native)
    # gets the 45-Hz acquisition low-pass only.
    assert share_above_35_hz["excerpt3"] < 1e-3
    assert share_above_35_hz["excerpt7"] > 1e-2


def test_spindle_centred_negatives_lie_on_an_expert_spindle(data, dreams_path):
    meta = data.metadata
    regular_negatives = np.count_nonzero((meta["kind"] != "spindle") & (data.y == 0))
    expected = round(SPINDLE_FRACTION * regular_negatives / (1 - SPINDLE_FRACTION))
    centred = meta[meta["kind"] == "spindle"]
    assert len(centred) == expected > 0
    assert (centred["spindle"] == 1).all()
    for excerpt in EXCERPTS:
        onset, end = _spindle_spans(dreams_path, excerpt)
        rows = centred[centred["subject"] == f"excerpt{excerpt}"]
        for centre in rows["onset"].to_numpy() + WINDOW_S / 2:
            # Within half a sample (the window start is rounded to a sample).
            tol = 0.5 / SFREQ
            assert np.any((onset - tol <= centre) & (centre <= end + tol))


def test_same_seed_same_data_other_seed_differs(data, dreams_path):
    params = dict(
        excerpts=EXCERPTS,
        window_s=WINDOW_S,
        stride_s=STRIDE_S,
        ied_rate=RATES,
        spindle_fraction=SPINDLE_FRACTION,
    )
    X, y = make_sleep_ied_dataset(
        dreams_path, random_state=0, return_X_y=True, **params
    )
    np.testing.assert_array_equal(X, data.X)
    np.testing.assert_array_equal(y, data.y)
    other = make_sleep_ied_dataset(dreams_path, random_state=1, **params)
    assert not np.array_equal(other.y, data.y)
    # The seed draws the injections and the spindles, not the regular windows.
    columns = ["subject", "onset", "sleep_stage"]
    regular = [
        d.metadata.loc[d.metadata["kind"] != "spindle", columns].reset_index(drop=True)
        for d in (data, other)
    ]
    pd.testing.assert_frame_equal(*regular)


def test_too_large_spindle_fraction_names_the_bound(dreams_path):
    with pytest.raises(ValueError, match=r"spindle_fraction <= 0\.0"):
        make_sleep_ied_dataset(
            dreams_path, excerpts=[7], spindle_fraction=0.5, random_state=0
        )


@pytest.mark.parametrize(
    "params, match",
    [
        ({"ied_rate": {"W": 0.1}}, r"ied_rate must give one rate .*missing"),
        ({"ied_rate": {**RATES, "R": 0.1}}, r"unknown \['R'\]"),
        ({"ied_rate": {**RATES, "N3": 0.7}}, r"ied_rate\['N3'\]"),
        ({"ied_rate": [0.1] * 5}, "ied_rate must be None or a mapping"),
        ({"spindle_fraction": 1.0}, "spindle_fraction must be"),
        ({"spindle_fraction": -0.1}, "spindle_fraction must be"),
        ({"sfreq": 100.0}, "sfreq must be at least 150"),
        ({"sfreq": 200.1}, "whole number of samples"),
        ({"window_s": 0.5}, "window_s must be"),
        ({"stride_s": 0.0}, "stride_s must be"),
        ({"amplitude_snr": (3.0, 1.0)}, "amplitude_snr must be"),
        ({"spike_fraction": 2}, "spike_fraction must be"),
        ({"lowpass_hz": 150.0}, "lowpass_hz must be"),
    ],
)
def test_bad_parameters_raise_before_reading_data(tmp_path, params, match):
    with pytest.raises(ValueError, match=match):
        make_sleep_ied_dataset(tmp_path / "absent", random_state=0, **params)


def test_rates_giving_no_positive_window_raise(dreams_path):
    with pytest.raises(ValueError, match="gives no positive window"):
        make_sleep_ied_dataset(
            dreams_path, excerpts=[7], ied_rate=dict.fromkeys(RATES, 0.0)
        )


def test_missing_folder_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="DREAMS data folder"):
        make_sleep_ied_dataset(tmp_path / "absent")
