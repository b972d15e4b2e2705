import shutil

import mne
import numpy as np
import pytest

from skeeg.datasets import read_raw


def _raw(n_channels=3, n_samples=500, sfreq=250.0):
    data = np.random.default_rng(0).normal(scale=20e-6, size=(n_channels, n_samples))
    info = mne.create_info([f"EEG{i}" for i in range(n_channels)], sfreq, "eeg")
    return mne.io.RawArray(data, info, verbose=False), data


@pytest.mark.parametrize("name", ["rec_raw.fif", "rec_raw.fif.gz"])
def test_read_raw_fif_round_trip_keeps_samples(tmp_path, name):
    raw, data = _raw()
    raw.save(tmp_path / name, fmt="double", verbose=False)
    back = read_raw(tmp_path / name)
    assert back.preload
    assert back.info["sfreq"] == 250.0
    np.testing.assert_array_equal(back.get_data(), data)


def test_read_raw_brainvision_reads_hand_written_header(tmp_path):
    # A BrainVision triplet written by hand: float32 multiplexed samples in µV.
    values = np.arange(20, dtype=np.float32).reshape(10, 2)  # (n_samples, n_channels)
    values.tofile(tmp_path / "rec.eeg")
    (tmp_path / "rec.vhdr").write_text(
        "Brain Vision Data Exchange Header File Version 1.0\n\n"
        "[Common Infos]\nCodepage=UTF-8\nDataFile=rec.eeg\nMarkerFile=rec.vmrk\n"
        "DataFormat=BINARY\nDataOrientation=MULTIPLEXED\nNumberOfChannels=2\n"
        "SamplingInterval=4000\n\n"
        "[Binary Infos]\nBinaryFormat=IEEE_FLOAT_32\n\n"
        "[Channel Infos]\nCh1=Fz,,1,µV\nCh2=Cz,,1,µV\n",
        encoding="utf-8",
    )
    (tmp_path / "rec.vmrk").write_text(
        "Brain Vision Data Exchange Marker File, Version 1.0\n\n"
        "[Common Infos]\nCodepage=UTF-8\nDataFile=rec.eeg\n\n"
        "[Marker Infos]\nMk1=New Segment,,1,1,0\n",
        encoding="utf-8",
    )
    raw = read_raw(tmp_path / "rec.vhdr")
    assert raw.ch_names == ["Fz", "Cz"]
    assert raw.info["sfreq"] == 250.0  # 4000 µs sampling interval
    np.testing.assert_allclose(raw.get_data(), values.T * 1e-6)


def test_read_raw_edf_from_shared_data_is_in_volts(tmp_path, shared_data):
    edf = shared_data / "eegmat" / "Subject00_2.edf"
    if not edf.is_file():
        pytest.skip(f"shared eegmat data not found at {edf}")
    # Clinical systems often write upper-case ".EDF"; the dispatch must not care.
    upper = tmp_path / "SUBJECT00_2.EDF"
    shutil.copyfile(edf, upper)
    raw = read_raw(upper, preload=False)
    # Layout from shared/data/README.md: 21 signals, 500 Hz, 62 s task.
    assert len(raw.ch_names) == 21
    assert raw.info["sfreq"] == 500.0
    assert raw.n_times == 62 * 500
    # EEG in volts: tens of µV, not tens of units.
    assert 1e-7 < raw.get_data(picks="EEG Cz").std() < 1e-3


def test_read_raw_rejects_unsupported_extension(tmp_path):
    path = tmp_path / "rec.csv"
    path.write_text("1,2,3\n")
    with pytest.raises(ValueError, match=r"rec\.csv.*\.edf, \.bdf, \.fif"):
        read_raw(path)


def test_read_raw_missing_file_names_path(tmp_path):
    path = tmp_path / "absent.edf"
    with pytest.raises(FileNotFoundError, match="absent.edf"):
        read_raw(path)
