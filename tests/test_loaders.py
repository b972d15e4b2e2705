import mne
import numpy as np
import pandas as pd
import pytest

from skeeg.datasets import load_bonn, load_dreams, load_eegmat


def _folder(shared_data, name):
    path = shared_data / name
    if not path.is_dir():
        pytest.skip(f"shared data set {name!r} not found at {path}")
    return path


@pytest.mark.parametrize("loader", [load_bonn, load_eegmat, load_dreams])
def test_loader_missing_folder_names_it(tmp_path, loader):
    with pytest.raises(FileNotFoundError, match="no_such_set"):
        loader(tmp_path / "no_such_set")


def test_bonn_whole_segments_match_loadtxt_in_volts(shared_data):
    path = _folder(shared_data, "bonn_epilepsy")
    data = load_bonn(path, sets=("E", "N"))
    assert data.X.shape == (200, 1, 4097)
    assert data.X.dtype == np.float64
    assert data.sfreq == 173.61
    np.testing.assert_allclose(
        data.X[0, 0], np.loadtxt(path / "E_S" / "S001.txt") * 1e-6
    )
    # Set C is stored as upper-case .TXT.
    np.testing.assert_allclose(
        data.X[199, 0], np.loadtxt(path / "C_N" / "N100.TXT") * 1e-6
    )
    assert data.y.tolist() == ["S"] * 100 + ["N"] * 100
    assert data.groups[0] == "S001"
    assert data.groups[199] == "N100"
    assert "Andrzejak" in data.description
    assert "licence" in data.description.lower()


def test_bonn_windows_are_consecutive_slices(shared_data):
    path = _folder(shared_data, "bonn_epilepsy")
    data = load_bonn(path, sets=["Z"], window_s=5.0)
    # round(5 * 173.61) = 868 samples; 4097 // 868 = 4 windows per segment.
    assert data.X.shape == (400, 1, 868)
    z001 = np.loadtxt(path / "A_Z" / "Z001.txt") * 1e-6
    for k in range(4):
        np.testing.assert_allclose(data.X[k, 0], z001[868 * k : 868 * (k + 1)])
    assert data.groups[:5].tolist() == ["Z001"] * 4 + ["Z002"]
    np.testing.assert_allclose(data.metadata["onset"][:4], np.arange(4) * 868 / 173.61)


def test_bonn_rejects_unknown_set(shared_data):
    path = _folder(shared_data, "bonn_epilepsy")
    with pytest.raises(ValueError, match="'X'"):
        load_bonn(path, sets=["X"])


def test_eegmat_windows_labels_and_subject_info(shared_data):
    path = _folder(shared_data, "eegmat")
    data = load_eegmat(path, subjects=[0, "Subject01"], window_s=2.0)
    assert len(data.ch_names) == 19
    assert "EEG A2-A1" not in data.ch_names and "ECG ECG" not in data.ch_names
    # README: rest 182 s and task 62 s -> 91 and 31 windows of 2 s per subject.
    assert data.X.shape == (2 * (91 + 31), 19, 1000)
    assert data.y.tolist() == ([0] * 91 + [1] * 31) * 2
    assert data.groups.tolist() == ["Subject00"] * 122 + ["Subject01"] * 122

    raw = mne.io.read_raw_edf(path / "Subject01_2.edf", verbose=False)
    expected = raw.get_data(picks=data.ch_names)[:, 3000:4000]
    np.testing.assert_allclose(data.X[122 + 91 + 3], expected)

    info = pd.read_csv(path / "subject-info.csv").set_index("Subject")
    by_subject = data.metadata.groupby("subject")["count_quality"].unique()
    for subject in ("Subject00", "Subject01"):
        assert by_subject[subject].tolist() == [info.loc[subject, "Count quality"]]
    assert "Zyma" in data.description


def test_eegmat_channel_and_condition_selection(shared_data):
    path = _folder(shared_data, "eegmat")
    data = load_eegmat(path, subjects=[4], channels=["EEG Cz"], condition=["task"])
    assert data.ch_names == ["EEG Cz"]
    assert data.X.shape == (31, 1, 1000)
    assert set(data.y) == {1}
    with pytest.raises(ValueError, match="Subject36"):
        load_eegmat(path, subjects=[36])
    with pytest.raises(ValueError, match="EEG Xx"):
        load_eegmat(path, subjects=[4], channels=["EEG Xx"])
    with pytest.raises(ValueError, match="condition"):
        load_eegmat(path, subjects=[4], condition=["sleep"])


DREAMS_AASM = {5: "W", 4: "REM", 3: "N1", 2: "N2", 1: "N3", 0: "N3"}


def test_dreams_native_rate_matches_text_files(shared_data):
    path = _folder(shared_data, "dreams_spindles_CC-BY-NC-ND")
    data = load_dreams(path, excerpts=[1], sfreq=100.0)
    signal = np.loadtxt(path / "excerpt1.txt", skiprows=1) * 1e-6
    assert data.X.shape == (360, 1, 500)
    np.testing.assert_allclose(data.X[:, 0].ravel(), signal)
    assert data.ch_names == ["C3-A1"]

    codes = np.loadtxt(path / "Hypnogram_excerpt1.txt", skiprows=1).astype(int)
    assert data.y.tolist() == [DREAMS_AASM[c] for c in codes]
    assert set(data.groups) == {"excerpt1"}

    spindles = data.events
    assert list(spindles.columns) == ["excerpt", "scorer", "onset", "duration"]
    assert (spindles["excerpt"] == 1).all()
    for scorer in (1, 2):
        table = np.loadtxt(path / f"Visual_scoring{scorer}_excerpt1.txt", skiprows=1)
        rows = spindles[spindles["scorer"] == scorer]
        np.testing.assert_allclose(rows[["onset", "duration"]].to_numpy(), table)

    # A window is a spindle window when a scorer-1 midpoint is in its central
    # half, [5i + 1.25, 5i + 3.75) s.
    table = np.loadtxt(path / "Visual_scoring1_excerpt1.txt", skiprows=1)
    mids = table[:, 0] + table[:, 1] / 2
    expected = [
        int(any(5 * i + 1.25 <= m < 5 * i + 3.75 for m in mids)) for i in range(360)
    ]
    assert data.metadata["spindle"].tolist() == expected
    assert "BY-NC-ND" in data.description


def test_dreams_resamples_excerpt3_to_common_rate(shared_data):
    path = _folder(shared_data, "dreams_spindles_CC-BY-NC-ND")
    data = load_dreams(path, excerpts=[3, 1], sfreq=100.0)
    assert data.X.shape == (720, 1, 500)
    assert data.ch_names == ["C3-A1"]
    native = np.loadtxt(path / "excerpt3.txt", skiprows=1) * 1e-6  # 50 Hz
    upsampled = data.X[:360, 0].ravel()
    # Upsampling by 2 keeps the original samples at the even positions, up to
    # the interpolation filter's error.
    r = np.corrcoef(upsampled[::2], native)[0, 1]
    assert r > 0.99
    assert data.groups[:360].tolist() == ["excerpt3"] * 360
    assert data.groups[360:].tolist() == ["excerpt1"] * 360


def test_dreams_native_rate_needs_one_rate(shared_data):
    path = _folder(shared_data, "dreams_spindles_CC-BY-NC-ND")
    with pytest.raises(ValueError, match="different sampling rates"):
        load_dreams(path, excerpts=[1, 2], sfreq=None)
    data = load_dreams(path, excerpts=[7], sfreq=None)
    assert data.sfreq == 200.0
    assert data.X.shape == (360, 1, 1000)
    with pytest.raises(ValueError, match="9"):
        load_dreams(path, excerpts=[9])


COMMON_FIELDS = {"X", "y", "groups", "metadata", "sfreq", "ch_names"}


def _check_bunch_against_X_y(data, result):
    assert COMMON_FIELDS <= set(data)
    assert len(data.metadata) == len(data.X) == len(data.y) == len(data.groups)
    assert isinstance(result, tuple) and len(result) == 2
    np.testing.assert_array_equal(result[0], data.X)
    np.testing.assert_array_equal(result[1], data.y)


def test_bonn_bunch_fields_and_return_X_y(shared_data):
    path = _folder(shared_data, "bonn_epilepsy")
    data = load_bonn(path, sets=["S"], window_s=5.0)
    _check_bunch_against_X_y(
        data, load_bonn(path, sets=["S"], window_s=5.0, return_X_y=True)
    )
    assert set(data) == COMMON_FIELDS | {"description"}


def test_eegmat_bunch_fields_and_return_X_y(shared_data):
    path = _folder(shared_data, "eegmat")
    kwargs = {"subjects": [4], "channels": ["EEG Cz", "EEG Pz"]}
    data = load_eegmat(path, **kwargs)
    _check_bunch_against_X_y(data, load_eegmat(path, return_X_y=True, **kwargs))
    assert set(data) == COMMON_FIELDS | {"description"}
    assert data.ch_names == ["EEG Cz", "EEG Pz"]


def test_dreams_bunch_events_hold_every_spindle_scoring(shared_data):
    path = _folder(shared_data, "dreams_spindles_CC-BY-NC-ND")
    data = load_dreams(path, excerpts=[7, 1])
    _check_bunch_against_X_y(data, load_dreams(path, excerpts=[7, 1], return_X_y=True))
    assert set(data) == COMMON_FIELDS | {"events", "hypnogram", "description"}
    assert "spindles" not in data
    # Scorer 1 scored both excerpts, scorer 2 only excerpts 1-6.
    expected = []
    for excerpt, scorers in ((7, (1,)), (1, (1, 2))):
        for scorer in scorers:
            file = path / f"Visual_scoring{scorer}_excerpt{excerpt}.txt"
            table = np.loadtxt(file, skiprows=1, ndmin=2)
            expected += [(excerpt, scorer, *row) for row in table.tolist()]
    rows = data.events[["excerpt", "scorer", "onset", "duration"]]
    assert len(rows) == len(expected)
    np.testing.assert_allclose(rows.to_numpy(dtype=float), np.array(expected))
