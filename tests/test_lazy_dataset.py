"""LazyWindows: windows read from disk on demand, and the estimators on it."""

from __future__ import annotations

import pickle
import subprocess
import sys

import mne
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GroupKFold, cross_validate
from sklearn.utils import _safe_indexing

from skeeg import SCClassifier
from skeeg.datasets import LazyWindows, make_fixed_windows
from skeeg.estimators.hmm_classifier import HMMClassifier
from skeeg.estimators.siamese_es_classifier import SiameseESClassifier
from skeeg.estimators.xcm_classifier import XCMClassifier
from skeeg.features import FrameFeatures
from skeeg.preprocessing import WindowStandardizer
from skeeg.training.batches import windows_dataset
from tests.conftest import REPO_ROOT
from tests.test_common import DEEP_ESTIMATORS

SFREQ = 100.0
CH_NAMES = ["Fp1", "Fp2", "C3"]
#: Recording lengths in samples (whole EDF data records of 1 s).
LENGTHS = (3000, 2000, 2500)


def _write(path, data, sfreq=SFREQ, ch_names=CH_NAMES, annotations=None):
    info = mne.create_info(list(ch_names), sfreq, "eeg")
    raw = mne.io.RawArray(data, info, verbose=False)
    if annotations is not None:
        raw.set_annotations(annotations)
    if str(path).endswith(".fif"):
        raw.save(path, overwrite=True, verbose=False)
    else:
        mne.export.export_raw(path, raw, overwrite=True, verbose=False)
    return str(path)


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    """Three EDF recordings; a bump marks the annotated spikes of each."""
    folder = tmp_path_factory.mktemp("lazy")
    rng = np.random.default_rng(0)
    paths = []
    for r, n in enumerate(LENGTHS):
        data = rng.normal(scale=10e-6, size=(len(CH_NAMES), n))
        spikes = np.array([3.5, 9.5, 14.5]) + r
        data[:, (spikes * SFREQ).astype(int)] += 200e-6
        annotations = mne.Annotations(
            list(spikes) + [17.2], [0, 0, 0, 2.0], ["spike"] * 3 + ["artifact"]
        )
        paths.append(_write(folder / f"rec{r}.edf", data, annotations=annotations))
    return paths


@pytest.fixture(scope="module")
def dataset(recordings):
    return LazyWindows(recordings, window_s=1.0, annotations="spike")


def test_window_count_and_onsets_match_closed_form(recordings):
    ds = LazyWindows(recordings, window_s=2.0, stride_s=0.7)
    n_times, stride = 200, 70
    counts = [(n - n_times) // stride + 1 for n in LENGTHS]
    assert ds.shape == (sum(counts), len(CH_NAMES), n_times)
    assert len(ds) == sum(counts) and ds.ndim == 3 and ds.dtype == np.float32
    meta = ds.metadata
    for r, count in enumerate(counts):
        rows = meta[meta["recording"] == r]
        assert len(rows) == count
        np.testing.assert_allclose(rows["onset"], np.arange(count) * 0.7)
        assert (rows["path"] == recordings[r]).all()
    np.testing.assert_array_equal(ds.groups, np.repeat([0, 1, 2], counts))


def test_windows_equal_slices_of_the_loaded_recording(recordings):
    ds = LazyWindows(recordings, window_s=1.5, stride_s=0.7)
    full = [
        mne.io.read_raw(p, preload=True, verbose=False).get_data() for p in recordings
    ]
    meta = ds.metadata
    # One window of each recording, then a scattered batch in any order.
    for i in [0, len(ds) - 1, int(np.flatnonzero(meta["recording"] == 1)[3])]:
        r, start = meta["recording"][i], round(meta["onset"][i] * SFREQ)
        expected = full[r][:, start : start + 150]
        np.testing.assert_allclose(ds[i], expected, rtol=1e-6, atol=1e-12)
    idx = np.array([40, 3, 4, 5, 90, 3, 1, 60, 41])
    batch = ds.read(idx)
    expected = np.stack(
        [
            full[meta["recording"][i]][:, round(meta["onset"][i] * SFREQ) :][:, :150]
            for i in idx
        ]
    )
    np.testing.assert_allclose(batch, expected, rtol=1e-6, atol=1e-12)
    np.testing.assert_array_equal(np.asarray(ds)[idx], batch)


def test_annotation_labels_match_make_fixed_windows(recordings, dataset):
    # Zero-duration annotations: make_fixed_windows' rule on the loaded Raw.
    for r, path in enumerate(recordings):
        raw = mne.io.read_raw(path, preload=True, verbose=False)
        spikes = raw.annotations[raw.annotations.description == "spike"]
        expected = make_fixed_windows(raw, window_s=1.0, events=spikes).y
        np.testing.assert_array_equal(
            dataset.y[dataset.metadata["recording"] == r], expected
        )
    assert dataset.y.sum() == 9  # 3 spikes per recording, each inside a window


def test_annotation_span_labels_windows_it_overlaps(recordings):
    # The 2-s "artifact" from 17.2 s overlaps the central halves [t+0.25, t+0.75)
    # of the windows starting at 17 and 18 s only (19.2 < 19.25).
    ds = LazyWindows(recordings[:1], window_s=1.0, annotations=["artifact"])
    np.testing.assert_array_equal(np.flatnonzero(ds.y), [17, 18])
    whole = LazyWindows(
        recordings[:1], window_s=1.0, annotations="artifact", center_fraction=1.0
    )
    np.testing.assert_array_equal(np.flatnonzero(whole.y), [17, 18, 19])


def test_labels_per_recording_callable_and_groups(recordings):
    ds = LazyWindows(recordings, window_s=1.0, labels=["a", "b", "a"], groups=[7, 8, 7])
    counts = [n // 100 for n in LENGTHS]
    np.testing.assert_array_equal(ds.y, np.repeat(["a", "b", "a"], counts))
    np.testing.assert_array_equal(ds.groups, np.repeat([7, 8, 7], counts))
    by_onset = LazyWindows(
        recordings, window_s=1.0, labels=lambda path, onsets: (onsets >= 10).astype(int)
    )
    np.testing.assert_array_equal(by_onset.y, (by_onset.onsets >= 10).astype(int))
    with pytest.raises(ValueError, match="one label per onset"):
        LazyWindows(recordings, window_s=1.0, labels=lambda path, onsets: [1])
    with pytest.raises(ValueError, match="one entry per recording"):
        LazyWindows(recordings, window_s=1.0, labels=[0, 1])
    with pytest.raises(ValueError, match="at most one of labels and annotations"):
        LazyWindows(recordings, window_s=1.0, labels=[0, 1, 0], annotations="spike")


@pytest.mark.filterwarnings("ignore:EDF format requires equal-length")
def test_mismatched_recordings_are_named(recordings, tmp_path):
    data = np.zeros((3, 1000))
    other_rate = _write(tmp_path / "fast.edf", data, sfreq=200.0)
    with pytest.raises(ValueError, match=r"fast\.edf has sfreq=200\.0 Hz"):
        LazyWindows([recordings[0], other_rate], window_s=1.0)
    two = _write(tmp_path / "two.edf", data[:2], ch_names=CH_NAMES[:2])
    with pytest.raises(ValueError, match=r"two\.edf has 2 channels"):
        LazyWindows([recordings[0], two], window_s=1.0)
    # picks reads channels by name, in the order given; all must be there.
    picked = LazyWindows([recordings[0], two], window_s=1.0, picks=["Fp2", "Fp1"])
    assert picked.ch_names == ["Fp2", "Fp1"]
    full = mne.io.read_raw(recordings[0], preload=True, verbose=False).get_data()
    np.testing.assert_allclose(picked[0], full[[1, 0], :100], rtol=1e-6, atol=1e-12)
    with pytest.raises(ValueError, match=r"two\.edf lacks the channels \['C3'\]"):
        LazyWindows([recordings[0], two], window_s=1.0, picks=["C3"])
    short = _write(tmp_path / "short.edf", data[:, :50])
    with pytest.raises(ValueError, match=r"short\.edf: window_s=2\.0 s"):
        LazyWindows([recordings[0], short], window_s=2.0)


def test_non_finite_window_is_reported_with_recording_and_onset(tmp_path):
    data = np.zeros((3, 1000))
    data[1, 412] = np.nan
    path = _write(tmp_path / "nan_raw.fif", data)
    ds = LazyWindows([path], window_s=1.0)
    np.testing.assert_array_equal(ds[3], 0.0)
    with pytest.raises(ValueError, match=r"nan_raw\.fif .* onset 4 s"):
        ds.read([2, 4])
    clf = SCClassifier(width=4, max_epochs=1, random_state=0)
    with pytest.raises(ValueError, match="onset 4 s"):
        clf.fit(ds, np.arange(10) % 2)


def test_indexing_subsets_and_pickling(dataset):
    sub = dataset[np.array([5, 1, 40])]
    assert isinstance(sub, LazyWindows) and sub.shape == (3, 3, 100)
    np.testing.assert_array_equal(sub.y, dataset.y[[5, 1, 40]])
    np.testing.assert_array_equal(sub[1], dataset[1])
    np.testing.assert_array_equal(dataset[-1], dataset[len(dataset) - 1])
    assert len(dataset[10:20]) == 10 and len(dataset[dataset.y == 1]) == 9
    # scikit-learn indexes X as X[indices, ...] (_safe_indexing).
    picked = _safe_indexing(dataset, np.array([2, 7]))
    np.testing.assert_array_equal(np.asarray(picked), dataset.read([2, 7]))
    with pytest.raises(IndexError, match="out of bounds"):
        dataset[len(dataset)]
    restored = pickle.loads(pickle.dumps(sub))
    assert len(restored._cache) == 0
    np.testing.assert_array_equal(np.asarray(restored), np.asarray(sub))


def test_transform_on_read_equals_transform_of_the_array(recordings):
    plain = LazyWindows(recordings, window_s=1.0)
    X = np.asarray(plain)
    standardizer = WindowStandardizer().fit(X[:10])
    ds = LazyWindows(recordings, window_s=1.0, transform=standardizer)
    np.testing.assert_allclose(
        np.asarray(ds), standardizer.transform(X), rtol=1e-5, atol=1e-6
    )
    halve = LazyWindows(recordings, window_s=1.0, transform=lambda x: x[:, :, ::2])
    assert halve.shape == (len(plain), 3, 50)
    np.testing.assert_array_equal(halve.read([4, 9]), X[[4, 9]][:, :, ::2])


def test_sc_on_lazy_windows_predicts_as_on_the_array(dataset):
    clf = SCClassifier(width=4, max_epochs=2, batch_size=16, random_state=0)
    X = np.asarray(dataset)
    lazy = clone(clf).fit(dataset)
    eager = clone(clf).fit(X, dataset.y)
    np.testing.assert_array_equal(lazy.predict_proba(dataset), eager.predict_proba(X))
    np.testing.assert_array_equal(lazy.transform(dataset), eager.transform(X))
    np.testing.assert_array_equal(lazy.predict(dataset[3:9]), eager.predict(X[3:9]))
    with pytest.raises(ValueError, match="y has 5 entries, but X has"):
        clone(clf).fit(dataset, np.zeros(5))
    with pytest.raises(ValueError, match="X has 2 channels, but SCClassifier"):
        lazy.predict(LazyWindows(dataset.paths, window_s=1.0, picks=["C3", "Fp1"]))


@pytest.mark.parametrize(
    "estimator", DEEP_ESTIMATORS, ids=[type(e).__name__ for e in DEEP_ESTIMATORS]
)
def test_every_deep_classifier_fits_lazy_windows_as_the_array(estimator, dataset):
    clf = clone(estimator).set_params(max_epochs=1, batch_size=16)
    X = np.asarray(dataset)
    lazy = clone(clf).fit(dataset)
    eager = clone(clf).fit(X, dataset.y)
    np.testing.assert_allclose(
        lazy.predict_proba(dataset), eager.predict_proba(X), rtol=1e-6, atol=1e-7
    )
    np.testing.assert_allclose(
        lazy.transform(dataset), eager.transform(X), rtol=1e-6, atol=1e-7
    )


def test_explain_and_sleep_head_read_lazy_windows(dataset):
    X = np.asarray(dataset)
    fast = dict(width=4, max_epochs=1, batch_size=16, random_state=0)
    lazy = XCMClassifier(**fast).fit(dataset)
    eager = XCMClassifier(**fast).fit(X, dataset.y)
    np.testing.assert_allclose(lazy.explain(dataset), eager.explain(X), atol=1e-6)
    stage = np.where(np.arange(len(dataset)) % 2, "N2", "W")
    lazy = SiameseESClassifier(**fast).fit(dataset, sleep_stage=stage)
    eager = SiameseESClassifier(**fast).fit(X, dataset.y, sleep_stage=stage)
    np.testing.assert_allclose(
        lazy.predict_sleep_proba(dataset), eager.predict_sleep_proba(X), atol=1e-7
    )


def test_validation_split_uses_the_dataset_groups(dataset):
    clf = SCClassifier(
        width=4,
        max_epochs=2,
        batch_size=16,
        loss="bce",
        validation_fraction=0.3,
        threshold="auto",
        random_state=0,
    )
    lazy = clone(clf).fit(dataset)
    eager = clone(clf).fit(np.asarray(dataset), dataset.y, groups=dataset.groups)
    assert lazy.threshold_ == eager.threshold_


def test_cross_validate_with_group_kfold(dataset):
    clf = SCClassifier(width=4, max_epochs=1, batch_size=16, random_state=0)
    lazy = cross_validate(
        clf,
        dataset,
        dataset.y,
        groups=dataset.groups,
        cv=GroupKFold(3),
        scoring="roc_auc",
    )
    eager = cross_validate(
        clf,
        np.asarray(dataset),
        dataset.y,
        groups=dataset.groups,
        cv=GroupKFold(3),
        scoring="roc_auc",
    )
    np.testing.assert_array_equal(lazy["test_score"], eager["test_score"])


def test_dataloader_workers_read_the_same_windows(dataset):
    loader = torch.utils.data.DataLoader(
        windows_dataset(dataset, torch.from_numpy(dataset.y)),
        batch_size=32,
        num_workers=1,
    )
    X = torch.cat([x for x, _ in loader])
    np.testing.assert_array_equal(X.numpy(), np.asarray(dataset))
    if "loader_params" in SCClassifier().get_params():
        clf = SCClassifier(width=4, max_epochs=1, batch_size=32, random_state=0)
        one = clone(clf).set_params(loader_params={"num_workers": 1}).fit(dataset)
        zero = clone(clf).fit(dataset)
        np.testing.assert_array_equal(
            one.predict_proba(dataset), zero.predict_proba(dataset)
        )


def test_torch_free_estimators_refuse_it_and_read_chunks(dataset):
    with pytest.raises(TypeError, match=r"np\.asarray\(X\)"):
        HMMClassifier(n_states=2).fit(dataset, dataset.y)
    features = FrameFeatures(frame_len=20)
    with pytest.raises(TypeError, match=r"iter_batches"):
        features.fit(dataset)
    X = np.asarray(dataset)
    features.fit(X[:2])
    chunked = np.concatenate([features.transform(b) for b in dataset.iter_batches(7)])
    np.testing.assert_array_equal(chunked, features.transform(X))


@pytest.mark.slow
def test_memory_benchmark_smoke(tmp_path):
    out = tmp_path / "smoke"
    result = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "benchmarks" / "lazy_memory.py"),
            "--size",
            "smoke",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "recordings" in result.stdout
    assert (out.with_suffix(".json")).is_file()
