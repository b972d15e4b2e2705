import tracemalloc

import mne
import numpy as np
import pandas as pd
import pytest

from skeeg.datasets import make_event_windows, make_fixed_windows

SFREQ = 100.0


def _signal(n_channels=2, n_samples=1000):
    return np.random.default_rng(0).normal(size=(n_channels, n_samples))


def test_fixed_windows_match_direct_slicing():
    data = _signal()
    windows = make_fixed_windows(data, SFREQ, window_s=1.0, stride_s=0.5)
    X, y, meta = windows.X, windows.y, windows.metadata
    # 1000 samples, 100-sample windows every 50 samples: (1000 - 100) / 50 + 1.
    assert X.shape == (19, 2, 100)
    for i in range(19):
        np.testing.assert_array_equal(X[i], data[:, 50 * i : 50 * i + 100])
    np.testing.assert_allclose(meta["onset"], 0.5 * np.arange(19))
    assert y.tolist() == [0] * 19
    assert list(meta.columns) == [
        "subject",
        "recording",
        "onset",
        "label",
        "sleep_stage",
    ]
    assert (meta["sleep_stage"] == "unknown").all()


def test_fixed_windows_default_stride_is_non_overlapping_and_drops_tail():
    data = _signal(n_samples=1050)
    windows = make_fixed_windows(data, SFREQ, window_s=2.0, subject="s1")
    assert windows.X.shape == (5, 2, 200)
    np.testing.assert_array_equal(windows.X[4], data[:, 800:1000])
    assert (windows.metadata["subject"] == "s1").all()


def test_fixed_windows_are_a_copy_not_a_view():
    data = _signal()
    X, _ = make_fixed_windows(data, SFREQ, window_s=1.0, return_X_y=True)
    assert not np.shares_memory(X, data)


def test_fixed_windows_copy_the_recording_only_once():
    data = np.zeros((4, 200_000))
    # Warm up first: pandas' one-time allocations would otherwise count.
    make_fixed_windows(data[:, :1000], SFREQ, window_s=1.0)
    tracemalloc.start()
    X = make_fixed_windows(data, SFREQ, window_s=1.0).X
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # Non-overlapping windows hold every sample once: X is 6.4 MB; a second
    # copy of the recording would double the peak.
    assert X.nbytes == data.nbytes
    assert peak < 1.3 * X.nbytes


def test_fixed_windows_label_event_in_central_half():
    # 1-s windows every 0.5 s; window k starts at sample 50k, its central half
    # is samples [50k + 25, 50k + 75).
    data = _signal()
    events = [2.25, 2.74, 2.75, 7.1]
    # 2.25 s and 2.74 s -> only window 4 ([225, 275)); 2.75 s -> window 5
    # ([275, 325)); 7.1 s -> window 13 ([675, 725)) but not 14 ([725, 775)).
    windows = make_fixed_windows(data, SFREQ, window_s=1.0, stride_s=0.5, events=events)
    assert np.flatnonzero(windows.y).tolist() == [4, 5, 13]
    assert windows.metadata["label"].tolist() == windows.y.tolist()


def test_fixed_windows_center_fraction_one_is_whole_window():
    data = _signal()
    _, y = make_fixed_windows(
        data,
        SFREQ,
        window_s=1.0,
        stride_s=0.5,
        events=[2.1],
        center_fraction=1.0,
        return_X_y=True,
    )
    # Sample 210 lies in windows starting at 150 ([150, 250)) and 200.
    assert np.flatnonzero(y).tolist() == [3, 4]


def test_fixed_windows_annotations_on_raw_with_first_samp():
    data = _signal()
    info = mne.create_info(["a", "b"], SFREQ, "eeg")
    raw = mne.io.RawArray(data, info, first_samp=300, verbose=False)
    # Onsets given relative to the first sample (orig_time=None); MNE stores
    # them shifted by first_time = 3 s.
    raw.set_annotations(mne.Annotations([2.4], [0.2], ["spike"]))
    X, y = make_fixed_windows(
        raw, window_s=1.0, stride_s=0.5, events=raw.annotations, return_X_y=True
    )
    np.testing.assert_array_equal(X[3], data[:, 150:250])
    # Peak at 2.5 s -> sample 250 -> window 4 only.
    assert np.flatnonzero(y).tolist() == [4]
    standalone = mne.Annotations([2.4], [0.2], ["spike"])
    windows = make_fixed_windows(raw, window_s=1.0, stride_s=0.5, events=standalone)
    assert windows.y.tolist() == y.tolist()
    # The event table holds the onset relative to the first sample.
    assert windows.events.to_dict("list") == {
        "onset": [2.4],
        "duration": [0.2],
        "description": ["spike"],
        "time": [2.5],
    }


def test_fixed_windows_integer_data_become_float():
    data = np.arange(40, dtype=np.int16).reshape(2, 20)
    X = make_fixed_windows(data, 10.0, window_s=1.0).X
    assert X.dtype == np.float64
    np.testing.assert_array_equal(X[1], data[:, 10:20].astype(float))


def test_fixed_windows_sleep_stage_from_epoch_tuple():
    data = _signal(n_samples=9000)  # 90 s
    meta = make_fixed_windows(
        data, SFREQ, window_s=10.0, hypnogram=(["W", "N2"], 30.0)
    ).metadata
    # Centres at 5, 15, ..., 85 s: three in epoch 0, three in epoch 1, three
    # after the scored 60 s.
    assert meta["sleep_stage"].tolist() == ["W"] * 3 + ["N2"] * 3 + ["unknown"] * 3


def test_fixed_windows_sleep_stage_from_annotations_and_dataframe():
    data = _signal(n_samples=6000)
    annot = mne.Annotations([0, 20, 40], [20, 20, 10], ["N1", "REM", "N3"])
    table = pd.DataFrame(
        {"onset": [0, 20, 40], "duration": [20, 20, 10], "stage": ["N1", "REM", "N3"]}
    )
    expected = ["N1", "N1", "REM", "REM", "N3", "unknown"]  # centres 5, 15, ..., 55
    for hypnogram in (annot, table):
        meta = make_fixed_windows(
            data, SFREQ, window_s=10.0, hypnogram=hypnogram
        ).metadata
        assert meta["sleep_stage"].tolist() == expected


def test_fixed_windows_raw_and_array_agree():
    data = _signal()
    raw = mne.io.RawArray(data, mne.create_info(2, SFREQ, "eeg"), verbose=False)
    from_raw = make_fixed_windows(raw, window_s=0.8, stride_s=0.3)
    from_array = make_fixed_windows(data, SFREQ, window_s=0.8, stride_s=0.3)
    np.testing.assert_array_equal(from_raw.X, from_array.X)
    assert from_raw.ch_names == ["0", "1"]
    assert from_array.ch_names == ["ch0", "ch1"]
    assert from_raw.sfreq == from_array.sfreq == SFREQ
    with pytest.raises(ValueError, match="sfreq=50"):
        make_fixed_windows(raw, 50.0, window_s=1.0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"window_s": 0.0}, "window_s"),
        ({"window_s": -1.0}, "window_s"),
        ({"window_s": 10.01}, "window_s.*longer than the recording"),
        ({"window_s": 1.0, "stride_s": 0.0}, "stride_s"),
        ({"window_s": 1.0, "center_fraction": 0.0}, "center_fraction"),
        ({"window_s": 1.0, "center_fraction": 1.5}, "center_fraction"),
    ],
)
def test_fixed_windows_validate_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_fixed_windows(_signal(), SFREQ, **kwargs)


def test_fixed_windows_validate_data_and_sfreq():
    with pytest.raises(ValueError, match=r"\(n_channels, n_samples\)"):
        make_fixed_windows(np.zeros((2, 3, 100)), SFREQ, window_s=0.5)
    with pytest.raises(ValueError, match="sfreq is required"):
        make_fixed_windows(_signal(), window_s=1.0)
    with pytest.raises(ValueError, match="sfreq"):
        make_fixed_windows(_signal(), -5.0, window_s=1.0)


def test_event_windows_are_centred_on_events():
    data = _signal()
    windows = make_event_windows(
        data, SFREQ, window_s=0.5, events=[1.0, 4.37, 9.0], labels=[2, 7, 3]
    )
    X, y, meta = windows.X, windows.y, windows.metadata
    # 50-sample windows start 25 samples before the event sample.
    assert X.shape == (3, 2, 50)
    np.testing.assert_array_equal(X[0], data[:, 75:125])
    np.testing.assert_array_equal(X[1], data[:, 412:462])
    np.testing.assert_array_equal(X[2], data[:, 875:925])
    assert y.tolist() == [2, 7, 3]
    np.testing.assert_allclose(meta["onset"], [0.75, 4.12, 8.75])


def test_event_windows_from_annotations_with_mapping():
    data = _signal()
    annot = mne.Annotations(
        [1.0, 3.0, 5.0, 7.0], [0.0, 1.0, 0.0, 0.0], ["spike", "BAD", "sharp", "spike"]
    )
    windows = make_event_windows(
        data, SFREQ, window_s=0.4, annotations=annot, mapping={"spike": 1, "sharp": 0}
    )
    assert windows.y.tolist() == [1, 0, 1]
    np.testing.assert_array_equal(windows.X[1], data[:, 480:520])
    # The BAD annotation, left out by the mapping, is not among the events.
    assert windows.events["description"].tolist() == ["spike", "sharp", "spike"]
    assert windows.events["time"].tolist() == [1.0, 5.0, 7.0]
    assert windows.events["label"].tolist() == [1, 0, 1]
    # Default mapping: sorted descriptions BAD=0, sharp=1, spike=2; the BAD
    # span is centred on its midpoint 3.5 s.
    X_all, y_all = make_event_windows(
        data, SFREQ, window_s=0.4, annotations=annot, return_X_y=True
    )
    assert y_all.tolist() == [2, 0, 1, 2]
    np.testing.assert_array_equal(X_all[1], data[:, 330:370])


def test_event_windows_past_the_edges_are_left_out_with_warning():
    data = _signal()
    with pytest.warns(RuntimeWarning, match="2 of 4 event windows"):
        windows = make_event_windows(
            data, SFREQ, window_s=1.0, events=[0.3, 5.0, 9.8, 9.5], labels=[1, 2, 3, 4]
        )
    assert windows.y.tolist() == [2, 4]
    np.testing.assert_array_equal(windows.X[1], data[:, 900:1000])
    # Only the windowed events are listed, one row per window.
    assert windows.events["time"].tolist() == [5.0, 9.5]
    assert windows.events["label"].tolist() == [2, 4]


def test_event_windows_validate_arguments():
    data = _signal()
    with pytest.raises(ValueError, match="exactly one"):
        make_event_windows(data, SFREQ, window_s=1.0)
    with pytest.raises(ValueError, match="exactly one"):
        make_event_windows(
            data,
            SFREQ,
            window_s=1.0,
            events=[1.0],
            annotations=mne.Annotations([1], [0], ["x"]),
        )
    with pytest.raises(ValueError, match="labels has 1 entries"):
        make_event_windows(data, SFREQ, window_s=1.0, events=[1.0, 2.0], labels=[1])
    with pytest.raises(ValueError, match="window_s"):
        make_event_windows(data, SFREQ, window_s=0, events=[1.0])


COMMON_FIELDS = {"X", "y", "groups", "metadata", "sfreq", "ch_names"}


def _check_bunch_against_X_y(windows, X, y):
    assert COMMON_FIELDS <= set(windows)
    assert len(windows.metadata) == len(windows.X) == len(windows.y)
    assert len(windows.groups) == len(windows.X)
    np.testing.assert_array_equal(X, windows.X)
    np.testing.assert_array_equal(y, windows.y)


def test_fixed_windows_bunch_fields_and_return_X_y():
    data = _signal()
    kwargs = {"window_s": 1.0, "stride_s": 0.5, "events": [2.25, 7.1, 0.4]}
    windows = make_fixed_windows(data, SFREQ, subject="s1", **kwargs)
    result = make_fixed_windows(data, SFREQ, subject="s1", return_X_y=True, **kwargs)
    assert isinstance(result, tuple) and len(result) == 2
    _check_bunch_against_X_y(windows, *result)
    assert set(windows) == COMMON_FIELDS | {"events"}
    assert windows.sfreq == SFREQ
    assert windows.groups.tolist() == ["s1"] * len(windows.X)
    # The event table is sorted by time; event times have no duration.
    assert windows.events["time"].tolist() == [0.4, 2.25, 7.1]
    assert windows.events["onset"].tolist() == [0.4, 2.25, 7.1]
    assert (windows.events["duration"] == 0).all()
    # Without events there is no event table.
    assert "events" not in make_fixed_windows(data, SFREQ, window_s=1.0)


def test_windows_groups_fall_back_to_the_recording():
    data = _signal()
    windows = make_fixed_windows(data, SFREQ, window_s=1.0, recording="night1")
    assert windows.groups.tolist() == ["night1"] * 10
    windows = make_fixed_windows(
        data, SFREQ, window_s=1.0, subject="s2", recording="night1"
    )
    assert windows.groups.tolist() == ["s2"] * 10
    windows = make_event_windows(
        data, SFREQ, window_s=1.0, events=[2.0, 5.0], recording="night1"
    )
    assert windows.groups.tolist() == ["night1"] * 2


def test_event_windows_bunch_fields_and_return_X_y():
    data = _signal()
    kwargs = {"window_s": 0.5, "events": [1.0, 4.37, 9.0], "labels": [2, 7, 3]}
    windows = make_event_windows(data, SFREQ, subject="s1", **kwargs)
    result = make_event_windows(data, SFREQ, subject="s1", return_X_y=True, **kwargs)
    assert isinstance(result, tuple) and len(result) == 2
    _check_bunch_against_X_y(windows, *result)
    assert set(windows) == COMMON_FIELDS | {"events"}
    assert windows.ch_names == ["ch0", "ch1"]
    assert len(windows.events) == len(windows.X)
    assert windows.events["time"].tolist() == [1.0, 4.37, 9.0]
    assert windows.events["label"].tolist() == [2, 7, 3]
    assert windows.groups.tolist() == ["s1"] * 3
