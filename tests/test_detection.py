"""Event tables, event matching and streaming detection (skeeg.detection)."""

from __future__ import annotations

import csv
import itertools
import warnings

import mne
import numpy as np
import pandas as pd
import pytest
from scipy.signal import resample_poly
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from skeeg import SCClassifier
from skeeg.datasets import make_fixed_windows
from skeeg.detection import (
    EVENT_COLUMNS,
    as_events,
    detect_events,
    read_events,
    score_recording,
    to_annotations,
    windows_to_events,
    write_events,
)
from skeeg.evaluation.event_metrics import event_scores, match_events
from skeeg.features import SpikeFeatures
from skeeg.model_file import load_model, save_model
from skeeg.preprocessing import BandpassFilter, ChannelSelector, derivation_matrix

SFREQ = 100.0
CH_NAMES = ["EEG0", "EEG1", "EEG2"]


def planted_raw(seed: int, duration_s: float = 120.0):
    """Noise (10 µV) with spikes planted on two of three channels.

    Returns the Raw and the spike times: about 60 % of the slots every 3 s,
    jittered by ±0.5 s, so spikes are at least 2 s apart.
    """
    rng = np.random.default_rng(seed)
    n_samples = int(duration_s * SFREQ)
    x = rng.normal(scale=1e-5, size=(len(CH_NAMES), n_samples))
    slots = np.arange(2.0, duration_s - 2, 3.0)
    times = slots + rng.uniform(-0.5, 0.5, size=len(slots))
    times = times[rng.random(len(times)) < 0.6]
    t = np.arange(n_samples)
    for time in times:
        x[:2] += 8e-5 * np.exp(-0.5 * ((t - time * SFREQ) / 2.0) ** 2)
    info = mne.create_info(CH_NAMES, SFREQ, "eeg")
    return mne.io.RawArray(x, info, verbose=False), times


@pytest.fixture(scope="module")
def spike_model():
    """SpikeFeatures + logistic regression on 1 s windows, 0.5 s apart."""
    raw, times = planted_raw(seed=0, duration_s=300.0)
    windows = make_fixed_windows(
        raw, window_s=1.0, stride_s=0.5, events=times, center_fraction=1.0
    )
    model = make_pipeline(SpikeFeatures(), LogisticRegression(max_iter=1000))
    return model.fit(windows.X, windows.y)


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    """A FIF file (float32 on disk) with its planted spike times."""
    raw, times = planted_raw(seed=1)
    path = tmp_path_factory.mktemp("detection") / "planted_raw.fif"
    raw.save(path, verbose=False)
    return path, times


def full_load_scores(model, path, window_s, step_s, picks=None):
    """Every window of the fully loaded file, scored in one call."""
    raw = mne.io.read_raw(path, preload=True, verbose=False)
    if picks is not None:
        raw.pick(picks)
    windows = make_fixed_windows(raw, window_s=window_s, stride_s=step_s)
    return windows.metadata["onset"].to_numpy(), model.predict_proba(windows.X)[:, 1]


# -- the event table ----------------------------------------------------------
def test_as_events_fills_defaults():
    events = as_events(
        pd.DataFrame({"onset": [1.0, 4.0], "duration": [2.0, 0.0], "kind": "x"})
    )
    assert list(events.columns) == [*EVENT_COLUMNS, "kind"]
    np.testing.assert_array_equal(events["peak"], [2.0, 4.0])
    assert events["score"].isna().all()
    assert events["channels"].tolist() == [None, None]


def test_as_events_takes_times_as_point_events():
    events = as_events([3.0, 1.5])
    np.testing.assert_array_equal(events["onset"], [3.0, 1.5])
    np.testing.assert_array_equal(events["peak"], [3.0, 1.5])
    np.testing.assert_array_equal(events["duration"], [0.0, 0.0])


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (pd.DataFrame({"start": [1.0]}), "must have an 'onset' column"),
        (pd.DataFrame({"onset": [1.0], "duration": [-1.0]}), "durations must be >= 0"),
        (pd.DataFrame({"onset": [np.inf]}), "onset must be finite"),
        (pd.DataFrame({"onset": [1.0], "score": ["high"]}), "'score' must hold"),
    ],
)
def test_as_events_rejects_bad_tables(table, message):
    with pytest.raises(ValueError, match=message):
        as_events(table)


def test_annotations_count_from_the_first_sample():
    # A Raw whose first sample is 2.5 s after the start of the acquisition.
    info = mne.create_info(["a", "b"], SFREQ, "eeg")
    raw = mne.io.RawArray(np.zeros((2, 1000)), info, first_samp=250, verbose=False)
    raw.set_meas_date(1e9)
    events = as_events(
        pd.DataFrame(
            {
                "onset": [1.0, 3.5],
                "duration": [0.5, 1.0],
                "peak": [1.1, 4.2],
                "score": [0.9, 0.7],
                "channels": [("a",), None],
            }
        )
    )
    raw.set_annotations(to_annotations(events, description="spike"))
    # MNE stores the onsets from the acquisition start: 2.5 s later.
    np.testing.assert_allclose(raw.annotations.onset, [3.5, 6.0])
    back = as_events(raw.annotations, raw=raw)
    pd.testing.assert_frame_equal(back[list(EVENT_COLUMNS)], events)
    assert back["description"].tolist() == ["spike", "spike"]


def test_events_tsv_is_bids_and_reads_back(tmp_path):
    events = as_events(
        pd.DataFrame(
            {
                "onset": [0.5, 10.25],
                "duration": [1.5, 0.0],
                "score": [0.875, np.nan],
                "channels": [("Fp1", "F3"), None],
            }
        )
    )
    path = write_events(events, tmp_path / "sub-01_task-sleep_events.tsv")
    with open(path, newline="") as file:
        rows = list(csv.reader(file, delimiter="\t"))
    assert rows[0][:2] == ["onset", "duration"]  # BIDS: these two come first
    assert rows[2][rows[0].index("score")] == "n/a"
    assert rows[1][rows[0].index("channels")] == "Fp1,F3"
    back = read_events(path)
    pd.testing.assert_frame_equal(back[list(EVENT_COLUMNS)], events)
    assert back["trial_type"].tolist() == ["detection", "detection"]


def test_bids_na_duration_is_a_point_event(tmp_path):
    path = tmp_path / "events.tsv"
    path.write_text("onset\tduration\ttrial_type\n2.5\tn/a\tspike\n")
    events = read_events(path)
    assert events[["onset", "duration", "peak"]].values.tolist() == [[2.5, 0, 2.5]]


def test_events_csv_reads_back(tmp_path):
    events = as_events([1.0, 2.0])
    back = read_events(write_events(events, tmp_path / "events.csv"))
    pd.testing.assert_frame_equal(back[list(EVENT_COLUMNS)], events)


def test_write_events_refuses_unknown_format_and_overwriting(tmp_path):
    with pytest.raises(
        ValueError, match=r"ending in \.tsv, \.csv or \.edf, got '\.txt'"
    ):
        write_events([1.0], tmp_path / "events.txt")
    path = write_events([1.0], tmp_path / "events.tsv")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        write_events([2.0], path)
    write_events([2.0], path, overwrite=True)
    assert read_events(path)["onset"].tolist() == [2.0]


def test_events_edf_holds_the_recording_its_annotations_and_the_events(tmp_path):
    raw, _ = planted_raw(seed=4, duration_s=20.5)
    raw.set_meas_date(1.6e9)
    raw.set_annotations(mne.Annotations([0.5], [0.0], ["lights off"]))
    events = as_events(
        pd.DataFrame(
            {
                "onset": [1.25, 7.0],
                "duration": [0.5, 1.5],
                "score": [0.9, 0.7],
                "channels": [("EEG1",), None],
            }
        )
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the padding warning is documented
        path = write_events(events, tmp_path / "night.edf", raw=raw)
    back = mne.io.read_raw_edf(path, preload=True, verbose=False)
    assert back.ch_names == CH_NAMES
    # 16-bit samples over the channels' common range: error <= one step.
    x = raw.get_data()
    step = (x.max() - x.min()) / (2**16 - 1)
    np.testing.assert_allclose(back.get_data()[:, : raw.n_times], x, atol=step)
    table = read_events(path)
    detections = table[table["description"] == "detection"].reset_index(drop=True)
    np.testing.assert_allclose(detections["onset"], [1.25, 7.0])
    np.testing.assert_allclose(detections["duration"], [0.5, 1.5])
    assert detections["channels"].tolist() == [("EEG1",), None]
    # The Raw's own annotation is kept; the 0.5 s padded to a whole record
    # is marked.
    described = dict(zip(table["description"], table["onset"], strict=False))
    assert described["lights off"] == pytest.approx(0.5)
    assert described["BAD_ACQ_SKIP"] == pytest.approx(20.5)


def test_write_events_edf_needs_the_recording(tmp_path):
    raw, _ = planted_raw(seed=4, duration_s=5.0)
    with pytest.raises(ValueError, match="needs the recording: pass raw="):
        write_events([1.0], tmp_path / "events.edf")
    with pytest.raises(ValueError, match="for .edf files only"):
        write_events([1.0], tmp_path / "events.tsv", raw=raw)


# -- matching -----------------------------------------------------------------
def test_peak_tolerance_boundary_is_inclusive():
    # |10.5 - 10.0| = 0.5 is exactly representable: matched at 0.5, not below.
    assert len(match_events([10.5], [10.0], tolerance_s=0.5)) == 1
    assert len(match_events([10.5], [10.0], tolerance_s=0.49)) == 0
    # A boundary computed from sample indices (31 / 10 - 2.6 != 0.5 in floats).
    assert len(match_events([31 / 10], [2.6], tolerance_s=0.5)) == 1


def test_second_detection_of_one_reference_is_false():
    scores = event_scores([5.0, 5.2], [5.1], recording_duration_s=1800.0)
    assert (scores["n_matched"], scores["n_false"], scores["n_missed"]) == (1, 1, 0)
    assert scores["precision"] == 0.5
    assert scores["recall"] == 1.0
    assert scores["false_per_hour"] == 2.0  # one false detection in half an hour


def test_matching_maximises_pairs_where_greedy_would_not():
    # Detection 1.45 may go to either reference; 0.5 only to 1.0. Closest
    # pair first (1.45-1.0, 0.45 s) would leave one match; two are possible.
    matches = match_events([0.5, 1.45], [1.0, 2.0], tolerance_s=0.6)
    assert matches[["detected", "reference"]].values.tolist() == [[0, 0], [1, 1]]
    np.testing.assert_allclose(matches["peak_offset_s"], [-0.5, -0.55])


def test_matching_prefers_the_closest_of_equal_size():
    matches = match_events([1.3, 1.1], [1.0], tolerance_s=0.5)
    assert matches["detected"].tolist() == [1]


def test_iou_threshold_boundary():
    detected = pd.DataFrame({"onset": [0.0], "duration": [4.0]})
    reference = pd.DataFrame({"onset": [2.0], "duration": [2.0]})  # IoU 2/4
    matches = match_events(detected, reference, method="iou", iou_threshold=0.5)
    assert matches["iou"].tolist() == [0.5]
    assert match_events(detected, reference, method="iou", iou_threshold=0.51).empty
    # Touching intervals do not overlap, even at threshold 0.
    touching = pd.DataFrame({"onset": [4.0], "duration": [1.0]})
    assert match_events(detected, touching, method="iou", iou_threshold=0).empty


def test_iou_rejects_point_events():
    with pytest.raises(ValueError, match="reference has 1 zero-duration"):
        match_events(
            pd.DataFrame({"onset": [0.0], "duration": [1.0]}), [0.5], method="iou"
        )


def brute_force_matches(allowed: np.ndarray) -> int:
    """The largest number of pairs of a one-to-one matching, by enumeration."""
    n_det, n_ref = allowed.shape
    best = 0
    for refs in itertools.permutations(range(n_ref), min(n_det, n_ref)):
        for dets in itertools.permutations(range(n_det), len(refs)):
            best = max(
                best, int(sum(allowed[d, r] for d, r in zip(dets, refs, strict=True)))
            )
    return best


@pytest.mark.parametrize("seed", range(6))
def test_matching_size_equals_brute_force(seed):
    rng = np.random.default_rng(seed)
    det_on, ref_on = rng.uniform(0, 6, size=4), rng.uniform(0, 6, size=4)
    det_dur, ref_dur = rng.uniform(0.5, 2, size=4), rng.uniform(0.5, 2, size=4)
    detected = pd.DataFrame({"onset": det_on, "duration": det_dur})
    reference = pd.DataFrame({"onset": ref_on, "duration": ref_dur})
    # Peak rule, by hand.
    det_peak, ref_peak = det_on + det_dur / 2, ref_on + ref_dur / 2
    allowed = np.abs(det_peak[:, None] - ref_peak[None, :]) <= 1.0
    matches = match_events(detected, reference, tolerance_s=1.0)
    assert len(matches) == brute_force_matches(allowed)
    assert allowed[matches["detected"], matches["reference"]].all()
    # IoU rule, by hand.
    det_end, ref_end = det_on + det_dur, ref_on + ref_dur
    inter = np.minimum(det_end[:, None], ref_end) - np.maximum(det_on[:, None], ref_on)
    union = np.maximum(det_end[:, None], ref_end) - np.minimum(det_on[:, None], ref_on)
    allowed = np.clip(inter, 0, None) / union >= 0.2
    matches = match_events(detected, reference, method="iou", iou_threshold=0.2)
    assert len(matches) == brute_force_matches(allowed)
    assert allowed[matches["detected"], matches["reference"]].all()


def test_event_scores_known_counts():
    # 2 of 4 detections match 2 of 3 references; 2 false in 2 hours.
    scores = event_scores(
        [1.0, 2.0, 3.0, 10.0], [1.2, 2.6, 5.0], recording_duration_s=7200.0
    )
    assert scores["n_matched"] == 2
    assert scores["precision"] == 0.5
    assert scores["recall"] == pytest.approx(2 / 3)
    assert scores["f1"] == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    assert scores["false_per_hour"] == 1.0


@pytest.mark.parametrize(
    ("detected", "reference", "expected"),
    [
        ([], [1.0, 2.0], {"precision": "z", "recall": 0.0, "f1": 0.0}),
        ([1.0, 2.0], [], {"precision": 0.0, "recall": "z", "f1": 0.0}),
        ([], [], {"precision": "z", "recall": "z", "f1": "z"}),
    ],
)
@pytest.mark.parametrize("zero_division", [0.0, 1.0])
def test_event_scores_of_empty_lists(detected, reference, expected, zero_division):
    scores = event_scores(
        detected, reference, recording_duration_s=3600.0, zero_division=zero_division
    )
    for name, value in expected.items():
        assert scores[name] == (zero_division if value == "z" else value), name
    assert scores["false_per_hour"] == len(detected)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "centre"}, "method must be 'peak' or 'iou'"),
        ({"tolerance_s": -1.0}, "tolerance_s"),
        ({"iou_threshold": 1.5}, "iou_threshold"),
        ({"recording_duration_s": 0.0}, "recording_duration_s"),
    ],
)
def test_bad_scoring_parameters(kwargs, message):
    kwargs = {"recording_duration_s": 60.0, **kwargs}
    with pytest.raises(ValueError, match=message):
        event_scores([1.0], [1.0], **kwargs)


# -- windows to events ----------------------------------------------------------
def scored_windows(scores, step=1.0, window=1.0):
    onset = np.arange(len(scores)) * step
    return pd.DataFrame(
        {"onset": onset, "duration": np.full(len(scores), window), "score": scores}
    )


def test_touching_windows_merge_into_one_event():
    windows = scored_windows([0.1, 0.9, 0.8, 0.2, 0.7])
    events = windows_to_events(windows, threshold=0.5)
    np.testing.assert_array_equal(events["onset"], [1.0, 4.0])
    np.testing.assert_array_equal(events["duration"], [2.0, 1.0])
    np.testing.assert_array_equal(events["peak"], [1.5, 4.5])  # best window centre
    np.testing.assert_array_equal(events["score"], [0.9, 0.7])


def test_overlapping_windows_merge_and_peak_at_the_best():
    # 1 s windows every 0.5 s: windows 1-3 overlap, window 3 scores highest.
    windows = scored_windows([0.2, 0.6, 0.7, 0.95, 0.1], step=0.5)
    events = windows_to_events(windows, threshold=0.5)
    assert events[["onset", "duration", "peak", "score"]].values.tolist() == [
        [0.5, 2.0, 2.0, 0.95]
    ]


def test_merge_gap_joins_nearby_events():
    windows = scored_windows([0.9, 0.1, 0.8, 0.1, 0.1, 0.7])
    assert len(windows_to_events(windows, merge_gap_s=0.0)) == 3
    events = windows_to_events(windows, merge_gap_s=1.0)
    assert events[["onset", "duration"]].values.tolist() == [[0.0, 3.0], [5.0, 1.0]]


def test_threshold_is_strict_and_nothing_above_gives_no_event():
    windows = scored_windows([0.5, 0.2])
    events = windows_to_events(windows, threshold=0.5)
    assert events.empty
    assert list(events.columns) == list(EVENT_COLUMNS)


# -- streaming detection --------------------------------------------------------
@pytest.mark.parametrize(
    ("chunk_s", "step_s"),
    [(0.37, 0.5), (1.0, 0.5), (7.33, 0.5), (1000.0, 0.5), (2.3, 0.7), (0.9, 2.5)],
)
def test_chunked_scores_equal_the_fully_loaded_recording(
    spike_model, recording, chunk_s, step_s
):
    path, _ = recording
    windows = score_recording(
        spike_model, path, window_s=1.0, step_s=step_s, chunk_s=chunk_s, batch_size=7
    )
    onset, scores = full_load_scores(spike_model, path, 1.0, step_s)
    np.testing.assert_allclose(windows["onset"], onset)
    np.testing.assert_allclose(windows["score"], scores, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(windows["duration"], 1.0)


def test_reads_are_bounded_and_never_repeat(spike_model, recording, monkeypatch):
    path, _ = recording
    raw = mne.io.read_raw(path, preload=False, verbose=False)
    spans = []
    get_data = raw.get_data

    def recording_get_data(*args, start, stop, **kwargs):
        spans.append((start, stop))
        return get_data(*args, start=start, stop=stop, **kwargs)

    monkeypatch.setattr(raw, "get_data", recording_get_data)
    progress = []
    score_recording(
        spike_model,
        raw,
        window_s=1.0,
        step_s=0.5,
        chunk_s=2.3,
        progress=lambda done, total: progress.append((done, total)),
    )
    assert progress[-1] == (239, 239)  # (120 s - 1 s) / 0.5 s + 1 windows
    assert np.all(np.diff([done for done, _ in progress]) >= 0)
    spans = np.array(spans)
    assert np.all(spans[:, 1] - spans[:, 0] <= 230)  # one chunk at a time
    assert np.all(spans[1:, 0] == spans[:-1, 1])  # each sample read once
    assert (spans[0, 0], spans[-1, 1]) == (0, raw.n_times)  # 120 s: no tail left


def test_detects_the_planted_spikes(spike_model, recording):
    path, times = recording
    events = detect_events(spike_model, path, window_s=1.0, step_s=0.5)
    # A detection's peak is the centre of a 1 s window holding the spike.
    scores = event_scores(events, times, recording_duration_s=120.0, tolerance_s=0.5)
    assert scores["f1"] >= 0.9, scores
    assert scores["n_reference"] == len(times) >= 20


def test_window_length_comes_from_the_model(spike_model, recording):
    path, _ = recording
    implicit = score_recording(spike_model, path, step_s=0.5)
    explicit = score_recording(spike_model, path, window_s=1.0, step_s=0.5)
    pd.testing.assert_frame_equal(implicit, explicit)


def test_threshold_defaults_to_the_models(recording):
    path, _ = recording
    raw, times = planted_raw(seed=2, duration_s=60.0)
    windows = make_fixed_windows(
        raw, window_s=1.0, stride_s=0.5, events=times, center_fraction=1.0
    )
    model = SCClassifier(
        width=4,
        max_epochs=2,
        threshold="auto",
        validation_fraction=0.2,
        batch_size=64,
        random_state=0,
    ).fit(windows.X, windows.y)
    scores = score_recording(model, path, window_s=1.0, step_s=0.5)
    at_model = windows_to_events(scores, threshold=model.threshold_)
    # The test means something only if the model's threshold changes the events.
    assert not at_model.equals(windows_to_events(scores, threshold=0.5))
    pd.testing.assert_frame_equal(
        detect_events(model, path, window_s=1.0, step_s=0.5), at_model
    )


def test_rate_mismatch_is_a_clear_error(spike_model, recording):
    path, _ = recording
    raw, times = planted_raw(seed=3, duration_s=30.0)
    windows = make_fixed_windows(raw, window_s=1.0, events=times, center_fraction=1.0)
    # The band-pass was designed for 200 Hz: the model expects 200 Hz input.
    model = make_pipeline(
        BandpassFilter(sfreq=200.0, l_freq=1.0, h_freq=40.0),
        SpikeFeatures(),
        LogisticRegression(),
    ).fit(windows.X, windows.y)
    with pytest.raises(
        ValueError,
        match=r"sampled at 100 Hz, but the model expects 200 Hz "
        r"\(BandpassFilter.sfreq=200.0\)",
    ):
        score_recording(model, path, window_s=1.0)
    with pytest.raises(ValueError, match=r"expects 250 Hz \(sfreq argument\)"):
        score_recording(spike_model, path, sfreq=250.0)


@pytest.mark.parametrize(
    ("model_sfreq", "up", "down"), [(64.0, 16, 25), (256.0, 64, 25)]
)
@pytest.mark.parametrize("chunk_s", [0.37, 3.1, 1000.0])
def test_resampled_stream_equals_resampling_the_whole_recording(
    recording, model_sfreq, up, down, chunk_s
):
    path, _ = recording
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3, int(model_sfreq)))
    model = make_pipeline(
        BandpassFilter(sfreq=model_sfreq, l_freq=1.0, h_freq=30.0),
        SpikeFeatures(),
        LogisticRegression(),
    ).fit(X, np.arange(40) % 2)
    streamed = score_recording(model, path, step_s=0.5, chunk_s=chunk_s, resample=True)
    # The whole recording resampled at once, by scipy directly.
    data = mne.io.read_raw(path, preload=True, verbose=False).get_data()
    whole = resample_poly(data, up, down, axis=1)
    windows = make_fixed_windows(whole, sfreq=model_sfreq, window_s=1.0, stride_s=0.5)
    np.testing.assert_allclose(streamed["onset"], windows.metadata["onset"])
    np.testing.assert_allclose(
        streamed["score"], model.predict_proba(windows.X)[:, 1], rtol=1e-9, atol=1e-12
    )


def test_resample_needs_the_models_rate(spike_model, recording):
    path, _ = recording
    with pytest.raises(ValueError, match="resample=True needs the model's sampling"):
        score_recording(spike_model, path, resample=True)


def test_missing_channels_are_a_clear_error(spike_model, recording):
    path, _ = recording
    with pytest.raises(ValueError, match=r"lacks the channels \['Cz'\]"):
        score_recording(spike_model, path, ch_names=["EEG0", "Cz", "EEG2"])


def test_picks_must_follow_the_models_channel_order(spike_model, recording):
    path, _ = recording
    with pytest.raises(ValueError, match=r"selects \['EEG2', 'EEG1', 'EEG0'\]"):
        score_recording(
            spike_model, path, picks=["EEG2", "EEG1", "EEG0"], ch_names=CH_NAMES
        )


def test_channel_count_mismatch_is_a_clear_error(spike_model, recording):
    path, _ = recording
    with pytest.raises(
        ValueError, match=r"2 channels are picked .* \(n_channels_in_=3\)"
    ):
        score_recording(spike_model, path, picks=["EEG0", "EEG1"])


def test_window_length_mismatch_is_a_clear_error(spike_model, recording):
    path, _ = recording
    with pytest.raises(ValueError, match=r"200 samples .* \(n_times_in_=100, 1 s\)"):
        score_recording(spike_model, path, window_s=2.0)


def test_multiclass_model_is_refused(recording):
    path, _ = recording
    X = np.random.default_rng(0).normal(size=(30, 3, 100))
    model = make_pipeline(SpikeFeatures(), LogisticRegression()).fit(
        X, np.arange(30) % 3
    )
    with pytest.raises(ValueError, match="binary classifier"):
        score_recording(model, path)


def test_recording_of_another_type_is_a_type_error(spike_model):
    with pytest.raises(TypeError, match="recording must be an mne.io.BaseRaw"):
        score_recording(spike_model, np.zeros((3, 1000)))


def test_real_edf_streams_like_the_full_load(shared_data):
    """A real EDF read lazily in chunks, through a model that names its
    channels (ChannelSelector's ch_names)."""
    path = shared_data / "eegmat" / "Subject00_1.edf"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    raw = mne.io.read_raw(path, preload=False, verbose=False)
    keep = ["EEG Fp1", "EEG C3", "EEG O2"]
    windows = make_fixed_windows(raw.copy().load_data(), window_s=2.0, stride_s=2.0)
    labels = np.random.default_rng(0).integers(0, 2, len(windows.y))
    model = make_pipeline(
        ChannelSelector(keep, ch_names=raw.ch_names),
        SpikeFeatures(),
        LogisticRegression(),
    ).fit(windows.X, labels)
    streamed = score_recording(model, path, step_s=1.5, chunk_s=7.3)
    onset, scores = full_load_scores(model, path, 2.0, 1.5)
    np.testing.assert_allclose(streamed["onset"], onset)
    np.testing.assert_allclose(streamed["score"], scores, rtol=1e-12, atol=1e-12)


# -- the montage travels with the model ---------------------------------------
def test_a_model_of_bipolar_windows_runs_on_the_referential_recording(tmp_path):
    referential, times = planted_raw(seed=4, duration_s=60.0)
    bipolar = mne.set_bipolar_reference(
        referential.copy().load_data(),
        anode=["EEG0", "EEG1"],
        cathode=["EEG1", "EEG2"],
        verbose=False,
    )
    assert bipolar.ch_names == ["EEG0-EEG1", "EEG1-EEG2"]
    windows = make_fixed_windows(
        bipolar, window_s=1.0, stride_s=0.5, events=times, center_fraction=1.0
    )
    model = make_pipeline(SpikeFeatures(), LogisticRegression(max_iter=1000))
    model.fit(windows.X, windows.y)
    path = save_model(
        model, tmp_path / "m.skeeg", sfreq=SFREQ, ch_names=bipolar.ch_names
    )
    loaded = load_model(path)
    on_referential = score_recording(loaded, referential, ch_names=bipolar.ch_names)
    on_bipolar = score_recording(loaded, bipolar, ch_names=bipolar.ch_names)
    np.testing.assert_allclose(on_referential["score"], on_bipolar["score"])
    # A recording that really lacks an electrode still gets the clear error.
    with pytest.raises(ValueError, match=r"lacks the channels \['EEG1-EEG2'\]"):
        score_recording(
            loaded,
            referential.copy().drop_channels(["EEG2"]),
            ch_names=bipolar.ch_names,
        )


def test_derivation_matrix_reads_bipolar_names():
    sources, matrix = derivation_matrix(
        ["EEG A2-A1", "EEG Fp1-EEG F7", "EEG F7"],
        ["EEG Fp1", "EEG F7", "EEG A2-A1"],
    )
    assert sources == ["EEG A2-A1", "EEG Fp1", "EEG F7"]
    np.testing.assert_array_equal(matrix, [[1, 0, 0], [0, 1, -1], [0, 0, 1]])
    with pytest.raises(ValueError, match="more than one bipolar pair"):
        derivation_matrix(["a-b-c"], ["a", "b-c", "a-b", "c"])
