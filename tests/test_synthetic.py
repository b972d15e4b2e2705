import numpy as np
import pytest
from scipy.stats import norm

from skeeg.datasets import load_sample, make_ied_dataset

SFREQ = 500.0
N_TIMES = 750  # 1.5 s at 500 Hz
PER_SUBJECT = 30000 // N_TIMES


@pytest.fixture(scope="module")
def sample():
    return load_sample()


@pytest.fixture(scope="module")
def background_windows(sample):
    """The sample cut into 1.5-s windows by hand, (400, 6, 750), subject-major."""
    data = sample.X[:, :, : PER_SUBJECT * N_TIMES]
    windows = data.reshape(10, 6, PER_SUBJECT, N_TIMES).transpose(0, 2, 1, 3)
    return windows.reshape(-1, 6, N_TIMES)


def robust_std(x):
    """MAD scaled to the std of a Gaussian, written out independently."""
    return np.median(np.abs(x - np.median(x))) / norm.ppf(0.75)


def channel_index(sample, events):
    return events["channel"].map(sample.ch_names.index).to_numpy()


def test_shapes_groups_and_prevalence(sample):
    data = make_ied_dataset(random_state=0)
    X, y, events = data.X, data.y, data.events
    assert X.shape == (10 * PER_SUBJECT, 5, N_TIMES)
    assert X.dtype == np.float64
    assert y.sum() == 20  # 5 % of 400
    np.testing.assert_array_equal(data.groups, np.repeat(sample.groups, PER_SUBJECT))
    assert set(np.unique(y)) == {0, 1}
    assert (
        events.groupby("window")["label"].first() == y[events.window.unique()]
    ).all()

    data = make_ied_dataset(prevalence=0.1, n_windows=123, random_state=1)
    assert data.X.shape[0] == len(data.y) == len(data.groups) == 123
    assert data.y.sum() == 12


def test_bunch_fields_metadata_and_return_X_y(sample):
    data = make_ied_dataset(prevalence=0.1, n_windows=123, random_state=1)
    assert set(data) == {
        "X",
        "y",
        "groups",
        "metadata",
        "events",
        "sfreq",
        "ch_names",
    }
    assert len(data.metadata) == len(data.X) == len(data.y) == len(data.groups)
    assert data.sfreq == SFREQ
    names = sample.ch_names
    assert data.ch_names == [
        f"{a}-{b}" for a, b in zip(names[:-1], names[1:], strict=True)
    ]
    assert len(data.ch_names) == data.X.shape[1]
    meta = data.metadata
    assert list(meta.columns) == ["subject", "onset", "label", "kind"]
    np.testing.assert_array_equal(meta["subject"], data.groups)
    np.testing.assert_array_equal(meta["label"], data.y)
    np.testing.assert_array_equal(
        meta["kind"].iloc[data.events.window], data.events.kind
    )
    assert (meta["kind"].drop(index=data.events.window) == "none").all()
    # Window starts are multiples of 1.5 s within each subject's 60 s.
    steps = meta["onset"] / 1.5
    np.testing.assert_allclose(steps, np.round(steps))
    assert meta["onset"].between(0, 60 - 1.5).all()
    result = make_ied_dataset(
        prevalence=0.1, n_windows=123, random_state=1, return_X_y=True
    )
    assert isinstance(result, tuple) and len(result) == 2
    np.testing.assert_array_equal(result[0], data.X)
    np.testing.assert_array_equal(result[1], data.y)
    referential = make_ied_dataset(bipolar=False, random_state=1)
    assert referential.ch_names == sample.ch_names


def test_same_seed_same_output_other_seed_differs():
    a = make_ied_dataset(random_state=7, hard_negative_fraction=0.3)
    b = make_ied_dataset(random_state=7, hard_negative_fraction=0.3)
    c = make_ied_dataset(random_state=8, hard_negative_fraction=0.3)
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.y, b.y)
    assert a.events.equals(b.events)
    assert a.metadata.equals(b.metadata)
    assert not np.array_equal(a.y, c.y)
    assert not np.array_equal(a.X, c.X)


def test_background_array_is_not_modified(sample):
    background = sample.X.copy()
    make_ied_dataset(
        background, sfreq=SFREQ, bipolar=False, hard_negative_fraction=1.0,
        random_state=0,
    )  # fmt: skip
    np.testing.assert_array_equal(background, sample.X)


def test_ied_peak_is_snr_times_local_robust_std(sample, background_windows):
    data = make_ied_dataset(
        bipolar=False, prevalence=0.2, slow_wave_probability=0.0,
        hard_negative_fraction=0.0, amplitude_snr=(3.0, 4.0), random_state=2,
        lowpass_hz=None,
    )  # fmt: skip
    X, y, events = data.X, data.y, data.events
    diff = X - background_windows
    # Only positive windows were touched.
    assert np.abs(diff[y == 0]).max() == 0
    assert len(events) == y.sum() == 80
    focal = channel_index(sample, events)
    for (_, event), f in zip(events.iterrows(), focal, strict=True):
        w = event.window
        trough = diff[w, f].argmin()
        assert N_TIMES // 4 <= trough < 3 * N_TIMES // 4
        assert trough == round(event.peak_s * SFREQ)
        snr = -diff[w, f].min() / robust_std(background_windows[w, f])
        assert 3.0 <= snr <= 4.0
        assert snr == pytest.approx(event.snr, rel=1e-9)
        # Surface negative: the complex never goes positive.
        assert diff[w].max() <= 0


def test_field_decays_geometrically_from_focus(sample, background_windows):
    data = make_ied_dataset(
        bipolar=False,
        field_decay=0.3,
        hard_negative_fraction=0.0,
        lowpass_hz=None,
        random_state=3,
    )
    X, events = data.X, data.events
    diff = X - background_windows
    distance = np.abs(np.arange(6)[None, :] - channel_index(sample, events)[:, None])
    peaks = -diff[events.window].min(axis=-1)  # (n_events, 6)
    np.testing.assert_allclose(peaks, peaks.max(axis=1, keepdims=True) * 0.3**distance)


def test_bipolar_montage_shows_phase_reversal_at_focus(sample, background_windows):
    data = make_ied_dataset(
        hard_negative_fraction=0.0, prevalence=0.2, lowpass_hz=None, random_state=4
    )
    X, events = data.X, data.events
    bipolar = background_windows[:, :-1] - background_windows[:, 1:]
    diff = X - bipolar
    focal = channel_index(sample, events)
    inner = (focal > 0) & (focal < 5)
    assert inner.sum() > 10
    for (_, event), f in zip(events[inner].iterrows(), focal[inner], strict=True):
        t = round(event.peak_s * SFREQ)
        expected = (1 - 0.5) * -event.amplitude
        # The derivation ending at the focus goes positive, the next negative.
        assert diff[event.window, f - 1, t] == pytest.approx(expected, rel=1e-9)
        assert diff[event.window, f, t] == pytest.approx(-expected, rel=1e-9)


def _negative_lobe(trace):
    """(first, peak, last) sample of the negative run around the minimum."""
    peak = int(trace.argmin())
    first = peak
    while first > 0 and trace[first - 1] < 0:
        first -= 1
    last = peak
    while last < len(trace) - 1 and trace[last + 1] < 0:
        last += 1
    return first, peak, last


@pytest.mark.parametrize(
    "spike_fraction, kind, low_s, high_s",
    [(1.0, "spike", 0.020, 0.070), (0.0, "sharp", 0.070, 0.200)],
)
def test_transient_duration_and_asymmetry(
    sample, background_windows, spike_fraction, kind, low_s, high_s
):
    data = make_ied_dataset(
        bipolar=False, prevalence=0.25, spike_fraction=spike_fraction,
        slow_wave_probability=0.0, hard_negative_fraction=0.0, random_state=5,
        lowpass_hz=None,
    )  # fmt: skip
    X, events = data.X, data.events
    assert (events.kind == kind).all()
    diff = X - background_windows
    for (_, event), f in zip(
        events.iterrows(), channel_index(sample, events), strict=True
    ):
        first, peak, last = _negative_lobe(diff[event.window, f])
        # Base to base: the zero samples either side bound the transient.
        duration = (last - first + 2) / SFREQ
        assert low_s <= duration <= high_s
        assert duration == pytest.approx(event.duration_s)
        # Steeper rise than fall: the apex comes before the midpoint.
        assert peak - first < last - peak


def test_slow_wave_follows_with_same_polarity_and_lower_amplitude(
    sample, background_windows
):
    data = make_ied_dataset(
        bipolar=False, prevalence=0.1, slow_wave_probability=1.0,
        hard_negative_fraction=0.0, random_state=6, lowpass_hz=None,
    )  # fmt: skip
    X, events = data.X, data.events
    diff = X - background_windows
    for (_, event), f in zip(
        events.iterrows(), channel_index(sample, events), strict=True
    ):
        trace = diff[event.window, f]
        end = round((event.onset_s + event.duration_s) * SFREQ)
        assert trace[end] == 0  # the transient is back at baseline
        slow = trace[end + 1 :]
        n_slow = np.count_nonzero(slow)
        assert 0.150 <= n_slow / SFREQ <= 0.350
        assert n_slow / SFREQ == pytest.approx(event.slow_wave_s)
        assert (slow[:n_slow] < 0).all()
        assert 0.25 < slow.min() / trace.min() < 0.75


def test_hard_negatives_look_like_their_artefact(sample, background_windows):
    data = make_ied_dataset(
        bipolar=False,
        prevalence=0.01,
        hard_negative_fraction=1.0,
        lowpass_hz=None,
        random_state=9,
    )
    X, y, events = data.X, data.y, data.events
    diff = X - background_windows
    negatives = events[events.label == 0]
    assert len(negatives) == (y == 0).sum()
    assert set(negatives.kind) == {"muscle", "pop", "blink"}
    assert (y[negatives.window] == 0).all()
    focal = channel_index(sample, negatives)
    freqs = np.fft.rfftfreq(N_TIMES, 1 / SFREQ)
    band = (freqs >= 15) & (freqs <= 75)
    for (_, event), f in zip(negatives.iterrows(), focal, strict=True):
        touched = np.flatnonzero(np.abs(diff[event.window]).max(axis=-1) > 0)
        if event.kind == "pop":
            np.testing.assert_array_equal(touched, [f])
            onset = round(event.onset_s * SFREQ)
            assert diff[event.window, f, onset] == pytest.approx(event.amplitude)
            assert (diff[event.window, f, :onset] == 0).all()
        elif event.kind == "blink":
            # Fp1 (weight 1) and F7 (0.2) only; positive, largest at Fp1.
            np.testing.assert_array_equal(touched, [0, 1])
            peaks = diff[event.window, :2].max(axis=-1)
            np.testing.assert_allclose(peaks, [event.amplitude, 0.2 * event.amplitude])
            assert diff[event.window].min() >= 0
            assert 0.2 <= event.duration_s <= 0.4
        else:
            assert f in touched and len(touched) <= 2 and np.ptp(touched) <= 1
            power = np.abs(np.fft.rfft(diff[event.window, f])) ** 2
            assert power[band].sum() > 0.9 * power.sum()
            assert 0.1 <= event.duration_s <= 0.5


def test_pop_in_bipolar_montage_touches_only_derivations_of_its_electrode(
    sample, background_windows
):
    data = make_ied_dataset(
        prevalence=0.01, hard_negative_fraction=1.0, lowpass_hz=None, random_state=10
    )
    X, events = data.X, data.events
    diff = X - (background_windows[:, :-1] - background_windows[:, 1:])
    pops = events[events.kind == "pop"]
    for (_, event), f in zip(pops.iterrows(), channel_index(sample, pops), strict=True):
        touched = np.flatnonzero(np.abs(diff[event.window]).max(axis=-1) > 0)
        expected = [d for d in (f - 1, f) if 0 <= d < 5]
        np.testing.assert_array_equal(touched, expected)


def test_event_times_are_consistent_with_recording(sample):
    data = make_ied_dataset(hard_negative_fraction=0.2, random_state=11)
    groups, events = data.groups, data.events
    window_start = (events.window % PER_SUBJECT) * 1.5
    np.testing.assert_allclose(events.recording_peak_s, window_start + events.peak_s)
    np.testing.assert_allclose(events.recording_onset_s, window_start + events.onset_s)
    np.testing.assert_array_equal(events.subject, groups[events.window])


def test_raw_input_matches_array_input(sample):
    mne = pytest.importorskip("mne")
    info = mne.create_info(sample.ch_names, SFREQ, ch_types="eeg")
    raws = [mne.io.RawArray(x, info, verbose="error") for x in sample.X]
    from_raw = make_ied_dataset(raws, subjects=sample.groups, random_state=12)
    from_array = make_ied_dataset(
        sample.X, sfreq=SFREQ, ch_names=sample.ch_names, subjects=sample.groups,
        random_state=12,
    )  # fmt: skip
    np.testing.assert_array_equal(from_raw.X, from_array.X)
    assert from_raw.events.equals(from_array.events)
    assert from_raw.metadata.equals(from_array.metadata)
    assert from_raw.ch_names == from_array.ch_names
    # A 2-D array is one subject; ch_names picks channels out of a Raw.
    data = make_ied_dataset(sample.X[0], sfreq=SFREQ, prevalence=0.1, random_state=0)
    assert data.X.shape == (PER_SUBJECT, 5, N_TIMES)
    assert data.ch_names == ["ch0-ch1", "ch1-ch2", "ch2-ch3", "ch3-ch4", "ch4-ch5"]
    assert (data.groups == 0).all()
    # No frontal name, so no blinks.
    assert set(data.events.kind) <= {"spike", "sharp", "muscle", "pop"}
    data = make_ied_dataset(raws[0], ch_names=["EEG T3", "EEG T5"], prevalence=0.1)
    assert data.X.shape == (PER_SUBJECT, 1, N_TIMES)
    assert data.ch_names == ["EEG T3-EEG T5"]


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"prevalence": 0.0}, "prevalence"),
        ({"prevalence": 0.6}, "prevalence"),
        ({"prevalence": 0.001}, "prevalence"),  # rounds to 0 positives of 400
        ({"window_s": 0.5}, "window_s"),
        ({"window_s": 100.0}, "window_s"),
        ({"n_windows": 0}, "n_windows"),
        ({"n_windows": 401}, "n_windows"),
        ({"spike_fraction": 1.5}, "spike_fraction"),
        ({"slow_wave_probability": -0.1}, "slow_wave_probability"),
        ({"amplitude_snr": (4.0, 2.0)}, "amplitude_snr"),
        ({"amplitude_snr": (0.0, 2.0)}, "amplitude_snr"),
        ({"field_decay": 1.0}, "field_decay"),
        ({"hard_negative_fraction": 2.0}, "hard_negative_fraction"),
        ({"sfreq": 500.0}, "sfreq"),
    ],
)
def test_bad_parameters_raise_naming_the_parameter(kwargs, name):
    with pytest.raises(ValueError, match=name):
        make_ied_dataset(**kwargs)


def test_bad_background_raises(sample):
    with pytest.raises(TypeError, match="background"):
        make_ied_dataset("recording.edf")
    with pytest.raises(TypeError, match="background"):
        make_ied_dataset([])
    with pytest.raises(ValueError, match="background"):
        make_ied_dataset(np.zeros(10), sfreq=SFREQ)
    with pytest.raises(ValueError, match="sfreq"):
        make_ied_dataset(sample.X)
    with pytest.raises(ValueError, match="sfreq"):
        make_ied_dataset(sample.X, sfreq=100.0)
    with pytest.raises(ValueError, match="ch_names"):
        make_ied_dataset(sample.X, sfreq=SFREQ, ch_names=["a", "b"])
    with pytest.raises(ValueError, match="subjects"):
        make_ied_dataset(sample.X, sfreq=SFREQ, subjects=["only-one"])


def _energy_above(x, sfreq, freq):
    """Share of the energy of ``x`` (last axis) above ``freq`` Hz."""
    spectrum = np.abs(np.fft.rfft(x, axis=-1)) ** 2
    freqs = np.fft.rfftfreq(x.shape[-1], 1 / sfreq)
    return spectrum[..., freqs > freq].sum() / spectrum.sum()


@pytest.mark.parametrize("lowpass_hz", [45.0, 30.0])
def test_injected_waveforms_are_band_limited_like_the_background(
    sample, background_windows, lowpass_hz
):
    kwargs = dict(
        bipolar=False, prevalence=0.2, hard_negative_fraction=0.5, random_state=13
    )
    filtered = make_ied_dataset(lowpass_hz=lowpass_hz, **kwargs)
    raw = make_ied_dataset(lowpass_hz=None, **kwargs)
    added = filtered.X - background_windows
    drawn = raw.X - background_windows
    # Butterworth order 4 run forwards and backwards: |H(2 fc)|^2 = 1/(1+2^16).
    above = _energy_above(added, SFREQ, 2 * lowpass_hz)
    assert above < 1e-4
    # Drawn as they are, the sharp transients, pops and bursts reach far above.
    assert _energy_above(drawn, SFREQ, 2 * lowpass_hz) > 100 * above
    # Same draws: the filter changes the waveforms, not what or where.
    assert filtered.events[["window", "kind", "peak_s"]].equals(
        raw.events[["window", "kind", "peak_s"]]
    )
    focal = channel_index(sample, filtered.events)
    peaks = np.round(filtered.events.peak_s.to_numpy() * SFREQ).astype(int)
    windows = filtered.events.window.to_numpy()
    np.testing.assert_allclose(
        filtered.events.amplitude, added[windows, focal, peaks], rtol=1e-9
    )


@pytest.mark.parametrize("lowpass_hz", [0.0, 250.0, "45"])
def test_bad_lowpass_raises_naming_it(lowpass_hz):
    with pytest.raises(ValueError, match="lowpass_hz"):
        make_ied_dataset(lowpass_hz=lowpass_hz)
