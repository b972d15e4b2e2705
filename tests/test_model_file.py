"""The model file: round trips, metadata, and refusals of foreign or corrupt files."""

from __future__ import annotations

import io
import json
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.serialization
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from skeeg import HMMClassifier, SaSu, SCClassifier, SMATEClassifier
from skeeg.estimators.deep_classifier import DeepClassifierBase
from skeeg.features import SpikeFeatures
from skeeg.model_file import (
    ModelFileError,
    load_model,
    read_model_metadata,
    save_model,
)
from skeeg.preprocessing import BandpassFilter, Scaler
from skeeg.registry import entries
from tests.conftest import bump_dataset

SFREQ = 64.0


@pytest.fixture(scope="module")
def data():
    return bump_dataset(n_windows=80, n_channels=3, n_times=64, seed=1)


def _sc(**kw):
    params = dict(width=4, max_epochs=2, batch_size=32, random_state=0, device="cpu")
    return SCClassifier(**{**params, **kw})


@pytest.fixture(scope="module")
def sc_pipeline(data):
    X, y, _ = data
    labels = np.where(y == 1, "ied", "background").astype(object)
    return Pipeline(
        [
            ("bandpass", BandpassFilter(SFREQ, 1.0, 20.0)),
            ("scale", Scaler()),
            ("sc", _sc(loss="bce")),
        ]
    ).fit(X, labels)


@pytest.fixture
def saved(tmp_path, sc_pipeline):
    return save_model(sc_pipeline, tmp_path / "model.skeeg", sfreq=SFREQ)


def _rewrite(src: Path, dst: Path, *, replace=None, drop=(), add=None) -> Path:
    """Copy a zip, replacing, dropping or adding entries (CRCs stay valid)."""
    replace, add = replace or {}, add or {}
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for name in zin.namelist():
            if name not in drop:
                zout.writestr(name, replace.get(name, zin.read(name)))
        for name, data in add.items():
            zout.writestr(name, data)
    return dst


def _manifest(path: Path) -> dict:
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read("manifest.json"))


def _dumps(manifest: dict) -> bytes:
    return json.dumps(manifest).encode()


# -- round trips ------------------------------------------------------------------
def test_sc_round_trip_keeps_params_state_and_predictions(tmp_path, data):
    X, y, groups = data
    clf = _sc(
        loss=SaSu(beta=2.0, warmup_epochs=1), threshold="auto", validation_fraction=0.2
    )
    clf.fit(X, y, groups=groups)
    loaded = load_model(save_model(clf, tmp_path / "sc.skeeg"))
    assert type(loaded) is SCClassifier
    assert type(loaded.loss) is SaSu and loaded.loss.get_params() == (
        clf.loss.get_params()
    )
    params = {k: v for k, v in clf.get_params().items() if k != "loss"}
    assert {k: v for k, v in loaded.get_params().items() if k != "loss"} == params
    assert loaded.threshold_ == clf.threshold_
    np.testing.assert_array_equal(loaded.classes_, clf.classes_)
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))
    np.testing.assert_array_equal(loaded.transform(X), clf.transform(X))


def _fitted_example(entry, X, y):
    estimator = (
        entry.cls(**{**entry.example_params, "max_epochs": 2})
        if issubclass(entry.cls, DeepClassifierBase)
        else entry.cls(**entry.example_params)
    )
    if entry.name == "siamese-es":
        return estimator.fit(X, y, sleep_stage=np.where(y == "ied", "N2", "W"))
    return estimator.fit(X, y)


@pytest.mark.parametrize(
    "entry", entries("classifier"), ids=[e.name for e in entries("classifier")]
)
def test_every_classifier_round_trips(tmp_path, data, entry):
    X, y, _ = data
    labels = np.where(y == 1, "ied", "background").astype(object)
    clf = _fitted_example(entry, X, labels)
    loaded = load_model(save_model(clf, tmp_path / "m.skeeg"))
    assert type(loaded) is entry.cls
    assert loaded.get_params().keys() == clf.get_params().keys()
    np.testing.assert_array_equal(loaded.classes_, clf.classes_)
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))


@pytest.mark.parametrize(
    "entry", entries("transformer"), ids=[e.name for e in entries("transformer")]
)
def test_every_transformer_round_trips(tmp_path, entry):
    X = np.random.default_rng(0).standard_normal((12, 2, 256))
    transformer = entry.cls(**entry.example_params).fit(X)
    loaded = load_model(save_model(transformer, tmp_path / "t.skeeg"))
    assert type(loaded) is entry.cls
    np.testing.assert_array_equal(loaded.transform(X), transformer.transform(X))


def test_hmm_models_travel_as_arrays(tmp_path, data):
    X, y, _ = data
    clf = HMMClassifier(n_states=2, random_state=0).fit(X, y)
    path = save_model(clf, tmp_path / "hmm.skeeg")
    with zipfile.ZipFile(path) as archive:
        assert not any(name.startswith("weights/") for name in archive.namelist())
        hmms = json.loads(archive.read("manifest.json"))["estimator"]["state"]
    assert "GaussianHMM" not in json.dumps(hmms)
    loaded = load_model(path)
    for saved, restored in zip(clf.hmms_, loaded.hmms_, strict=True):
        np.testing.assert_array_equal(restored.covars_, saved.covars_)
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))


def test_sc_pipeline_round_trip_with_string_labels(saved, sc_pipeline, data):
    X = data[0]
    loaded = load_model(saved)
    assert [name for name, _ in loaded.steps] == ["bandpass", "scale", "sc"]
    assert loaded.classes_.dtype == object
    np.testing.assert_array_equal(loaded.classes_, ["background", "ied"])
    np.testing.assert_array_equal(loaded.predict_proba(X), sc_pipeline.predict_proba(X))
    np.testing.assert_array_equal(loaded.predict(X), sc_pipeline.predict(X))


def test_features_logreg_pipeline_round_trip(tmp_path, data):
    X, y, _ = data
    pipe = Pipeline(
        [
            ("features", SpikeFeatures()),
            ("scale", StandardScaler()),
            ("logreg", LogisticRegression(class_weight="balanced", max_iter=200)),
        ]
    ).fit(X, y)
    loaded = load_model(save_model(pipe, tmp_path / "features.skeeg"))
    assert loaded.named_steps["logreg"].class_weight == "balanced"
    np.testing.assert_array_equal(loaded.predict_proba(X), pipe.predict_proba(X))
    np.testing.assert_array_equal(loaded.predict(X), pipe.predict(X))


def test_loaded_deep_net_is_for_prediction_only(saved):
    net = load_model(saved).named_steps["sc"].net_
    assert net.optimizer_ is None and net.criterion_ is None
    assert len(net.history) == 0


def test_metadata_is_read_back(tmp_path, sc_pipeline):
    path = save_model(
        sc_pipeline,
        tmp_path / "m.skeeg",
        sfreq=SFREQ,
        ch_names=["F3-C3", "C3-P3", "P3-O1"],
        window_s=1.0,
        training_summary={"n_windows": 80, "n_positive": 20},
    )
    meta = read_model_metadata(path)
    assert meta["sfreq"] == SFREQ and meta["window_s"] == 1.0
    assert meta["ch_names"] == ["F3-C3", "C3-P3", "P3-O1"]
    assert (meta["n_channels"], meta["n_times"]) == (3, 64)
    assert meta["classes"] == ["background", "ied"]
    assert meta["training_summary"] == {"n_windows": 80, "n_positive": 20}
    assert meta["versions"]["torch"] == torch.__version__
    assert meta["steps"] == [
        ("bandpass", "skeeg.preprocessing.BandpassFilter"),
        ("scale", "skeeg.preprocessing.Scaler"),
        ("sc", "skeeg.estimators.sc_classifier.SCClassifier"),
    ]


def test_cuda_weights_load_on_cpu(tmp_path, sc_pipeline, data, monkeypatch):
    # No GPU here: tag every storage "cuda:0" as torch.save does on a GPU, and
    # set its device to CUDA, so a plain torch.load would fail.
    with monkeypatch.context() as patch:
        patch.setattr(torch.serialization, "location_tag", lambda storage: "cuda:0")
        path = save_model(sc_pipeline, tmp_path / "gpu.skeeg")
    manifest = _manifest(path)
    sc = manifest["estimator"]["params"]["steps"][2]["__tuple__"][1]["__estimator__"]
    sc["params"]["device"] = "cuda"
    gpu = _rewrite(
        path, tmp_path / "gpu2.skeeg", replace={"manifest.json": _dumps(manifest)}
    )
    with zipfile.ZipFile(gpu) as archive:
        weights = archive.read("weights/0.pt")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA"):
            torch.load(io.BytesIO(weights), weights_only=True)
    loaded = load_model(gpu)
    assert loaded.named_steps["sc"].device_ == "cpu"
    assert loaded.named_steps["sc"].device == "cuda"  # the parameter, verbatim
    X = data[0]
    np.testing.assert_array_equal(loaded.predict_proba(X), sc_pipeline.predict_proba(X))


def test_version_change_warns(tmp_path, saved):
    manifest = _manifest(saved)
    manifest["versions"]["sklearn"] = "0.0.1"
    path = _rewrite(
        saved, tmp_path / "v.skeeg", replace={"manifest.json": _dumps(manifest)}
    )
    with pytest.warns(UserWarning, match=r"sklearn 0\.0\.1"):
        load_model(path)


# -- what save refuses ----------------------------------------------------------------
def test_save_refuses_unfitted_estimator(tmp_path):
    with pytest.raises(NotFittedError):
        save_model(_sc(), tmp_path / "x.skeeg")


def test_save_refuses_class_outside_allow_list(tmp_path, data):
    X, y, _ = data
    pipe = Pipeline(
        [("features", SpikeFeatures()), ("knn", KNeighborsClassifier())]
    ).fit(X, y)
    with pytest.raises(
        ModelFileError,
        match=r"estimator\.steps\[1\]\[1\].*KNeighborsClassifier.*allow-list",
    ):
        save_model(pipe, tmp_path / "x.skeeg")
    assert not (tmp_path / "x.skeeg").exists()


def test_save_refuses_parameter_that_needs_pickle(tmp_path, data):
    X, y, _ = data
    clf = _sc(criterion=torch.nn.BCEWithLogitsLoss).fit(X, y)
    with pytest.raises(
        ModelFileError, match=r"estimator\.criterion is .*BCEWithLogitsLoss"
    ):
        save_model(clf, tmp_path / "x.skeeg")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"ch_names": ["a", "b"]},
            "ch_names has 2 names, but the model was fitted on 3",
        ),
        ({"sfreq": SFREQ, "window_s": 2.0}, "128 samples.*windows of 64 samples"),
        ({"sfreq": -1.0}, "sfreq must be > 0"),
        ({"training_summary": {"x": object()}}, "training_summary must be a dict"),
    ],
)
def test_save_refuses_inconsistent_metadata(tmp_path, sc_pipeline, kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        save_model(sc_pipeline, tmp_path / "x.skeeg", **kwargs)


# -- what load refuses ----------------------------------------------------------------
def test_load_refuses_random_bytes(tmp_path):
    path = tmp_path / "random.skeeg"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ModelFileError, match="not a skeeg model file .not a zip"):
        load_model(path)


def test_load_refuses_truncated_file(tmp_path, saved):
    path = tmp_path / "truncated.skeeg"
    path.write_bytes(saved.read_bytes()[: saved.stat().st_size // 2])
    with pytest.raises(ModelFileError, match="truncated"):
        load_model(path)


def test_load_refuses_corrupted_entry(tmp_path, saved):
    data = bytearray(saved.read_bytes())
    with zipfile.ZipFile(saved) as archive:
        info = archive.getinfo("weights/0.pt")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    data[start + info.compress_size // 2] ^= 0xFF
    path = tmp_path / "corrupt.skeeg"
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="corrupt"):
        load_model(path)


def test_load_refuses_missing_entry(tmp_path, saved):
    path = _rewrite(saved, tmp_path / "missing.skeeg", drop={"arrays/0.npy"})
    with pytest.raises(ModelFileError, match="'arrays/0.npy' is missing"):
        load_model(path)


def test_load_refuses_zip_without_manifest(tmp_path):
    path = tmp_path / "other.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(ModelFileError, match="not a skeeg model file .no manifest"):
        load_model(path)


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b'{"format": "keras"}', "does not declare format 'skeeg-model'"),
        (b'{"format": "skeeg-model", "format_version": 99}', "newer skeeg"),
    ],
)
def test_load_refuses_foreign_manifest(tmp_path, saved, manifest, message):
    path = _rewrite(saved, tmp_path / "m.skeeg", replace={"manifest.json": manifest})
    with pytest.raises(ModelFileError, match=message):
        read_model_metadata(path)
    with pytest.raises(ModelFileError, match=message):
        load_model(path)


def test_load_refuses_class_outside_allow_list(tmp_path, saved):
    manifest = _manifest(saved)
    manifest["estimator"] = {
        "class": "os.system",
        "params": {"command": "touch pwned"},
        "state": {},
    }
    path = _rewrite(
        saved, tmp_path / "os.skeeg", replace={"manifest.json": _dumps(manifest)}
    )
    with pytest.raises(
        ModelFileError, match="'os.system', which is not in the .*allow-list"
    ):
        load_model(path)


def test_load_refuses_dunder_in_a_dict_rebuild(tmp_path, data):
    X, y, _ = data
    clf = SMATEClassifier(width=4, max_epochs=1, random_state=0).fit(X, y)
    saved = save_model(clf, tmp_path / "smate.skeeg")
    manifest = _manifest(saved)
    attributes = manifest["estimator"]["state"]["__dict__"]["attributes"]["__dict__"]
    svm = attributes["svm_"]["__estimator__"]
    assert svm["class"] == "sklearn.calibration.CalibratedClassifierCV"
    svm["dict"]["__dict__"]["__class__"] = "os.system"
    path = _rewrite(
        saved, tmp_path / "dunder.skeeg", replace={"manifest.json": _dumps(manifest)}
    )
    with pytest.raises(ModelFileError, match="'dict' must map attribute names"):
        load_model(path)


class _Touch:
    """Unpickling this creates a file: proof that a pickle ran."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return (Path.touch, (self.target,))


def test_load_refuses_pickle_as_weights_and_never_runs_it(tmp_path, saved):
    target = tmp_path / "pickle_ran"
    evil = io.BytesIO()
    torch.save({"w": _Touch(target)}, evil)
    path = _rewrite(
        saved, tmp_path / "w.skeeg", replace={"weights/0.pt": evil.getvalue()}
    )
    with pytest.raises(ModelFileError, match="not a weights-only torch file"):
        load_model(path)
    assert not target.exists()


def test_load_refuses_pickled_array_and_never_runs_it(tmp_path, saved):
    target = tmp_path / "pickle_ran"
    evil = io.BytesIO()
    np.save(evil, np.array([_Touch(target)], dtype=object), allow_pickle=True)
    path = _rewrite(
        saved, tmp_path / "a.skeeg", replace={"arrays/0.npy": evil.getvalue()}
    )
    with pytest.raises(ModelFileError, match="not a plain numpy array"):
        load_model(path)
    assert not target.exists()


def test_load_refuses_extra_pickle_entry(tmp_path, saved):
    path = _rewrite(
        saved, tmp_path / "p.skeeg", add={"model.pkl": pickle.dumps({"a": 1})}
    )
    with pytest.raises(ModelFileError, match=r"unexpected entries \['model.pkl'\]"):
        load_model(path)


def test_load_refuses_missing_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="Model file not found"):
        load_model(tmp_path / "nope.skeeg")
