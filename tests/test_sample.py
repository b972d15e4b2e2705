from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from skeeg.datasets import load_sample


@pytest.fixture(scope="module")
def eegmat(shared_data):
    path = shared_data / "eegmat"
    if not path.is_dir():
        pytest.skip(f"eegmat data not found at {path}")
    return path


@pytest.fixture(scope="module")
def sample():
    return load_sample()


def test_sample_shapes_and_metadata(sample):
    assert sample.X.shape == (10, 6, 60 * 500)
    assert sample.X.dtype == np.float64
    assert sample.sfreq == 500.0
    assert sample.ch_names == [
        "EEG Fp1",
        "EEG F7",
        "EEG T3",
        "EEG T5",
        "EEG O1",
        "EEG O2",
    ]
    assert list(sample.groups) == [
        f"Subject{i:02d}" for i in (0, 1, 2, 3, 4, 5, 6, 7, 9, 10)
    ]
    # Values from the eegmat README: five bad (0) and five good (1) counters.
    assert list(sample.y) == [0, 1, 1, 1, 0, 1, 0, 1, 0, 0]


def test_sample_bunch_fields_and_return_X_y(sample):
    assert set(sample) == {
        "X",
        "y",
        "groups",
        "metadata",
        "sfreq",
        "ch_names",
        "tmin",
        "description",
    }
    assert len(sample.metadata) == len(sample.X) == len(sample.y) == 10
    assert len(sample.groups) == 10
    assert list(sample.metadata.columns) == ["subject", "count_quality"]
    np.testing.assert_array_equal(sample.metadata["subject"], sample.groups)
    np.testing.assert_array_equal(sample.metadata["count_quality"], sample.y)
    result = load_sample(return_X_y=True)
    assert isinstance(result, tuple) and len(result) == 2
    np.testing.assert_array_equal(result[0], sample.X)
    np.testing.assert_array_equal(result[1], sample.y)


def test_sample_is_in_volts(sample):
    std = sample.X.std(axis=-1)
    # Scalp EEG is tens of microvolts: per-channel std in [1 µV, 100 µV].
    assert np.all((std > 1e-6) & (std < 1e-4))


def test_sample_description_carries_attribution(sample):
    for needle in ("Zyma", "Goldberger", "ODC-By 1.0", "What was changed"):
        assert needle in sample.description


def test_sample_file_fits_size_budget():
    data_dir = Path(__file__).resolve().parents[1] / "skeeg" / "datasets" / "data"
    total = sum(f.stat().st_size for f in data_dir.iterdir())
    assert total <= 5 * 1024**2


def test_sample_matches_edf_slice(sample, eegmat):
    mne = pytest.importorskip("mne")
    for i, subject in enumerate(sample.groups):
        raw = mne.io.read_raw_edf(
            eegmat / f"{subject}_1.edf", include=sample.ch_names, verbose="error"
        )
        start = int(round(sample.tmin * raw.info["sfreq"]))
        stop = start + sample.X.shape[-1]
        expected = raw.get_data(picks=sample.ch_names, start=start, stop=stop)
        # 1 pV is a thousandth of one EDF count (~2 nV): the same numbers.
        np.testing.assert_allclose(sample.X[i], expected, rtol=0, atol=1e-12)


def test_sample_count_quality_matches_subject_table(sample, eegmat):
    info = pd.read_csv(eegmat / "subject-info.csv").set_index("Subject")
    expected = info.loc[list(sample.groups), "Count quality"].to_numpy()
    np.testing.assert_array_equal(sample.y, expected)
