"""GPU-ready training options of the deep base: ``precision`` (bf16 autocast),
``loader_params`` (DataLoader arguments) and ``accelerator`` (HF accelerate),
all exercised on the CPU."""

from __future__ import annotations

import importlib.util
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from torch import nn

from skeeg import SCClassifier
from skeeg.estimators.tapnet_classifier import TapNetClassifier
from skeeg.estimators.xcm_classifier import XCMClassifier
from skeeg.model_file import ModelFileError, load_model, save_model
from skeeg.training.net import SkeegNet
from tests.conftest import bump_dataset

EXAMPLE = Path(__file__).parents[1] / "examples" / "accelerate_training.py"

#: Small SC settings that separate bump windows from noise windows.
SEPARABLE = dict(
    width=8,
    n_blocks=3,
    loss="bce",
    max_epochs=15,
    batch_size=16,
    lr=3e-3,
    lr_schedule=None,
    random_state=0,
)
#: Faster settings where only the code path matters.
TINY = dict(
    width=4, n_blocks=2, loss="bce", max_epochs=2, batch_size=16, random_state=0
)


@pytest.fixture(scope="module")
def data():
    X, y, groups = bump_dataset(n_windows=64, n_channels=3, n_times=64, prevalence=0.5)
    return X, y, groups


@pytest.fixture(scope="module")
def accelerator():
    accelerate = pytest.importorskip("accelerate")
    return accelerate.Accelerator(cpu=True)


# -- precision -----------------------------------------------------------------
class _Recorder:
    """Output dtypes of every Conv1d/Linear forward, and whether it ran under
    inference mode; a global forward hook so it sees modules built in fit."""

    def __init__(self):
        self.calls: list[tuple[torch.dtype, bool]] = []

    def __call__(self, module, inputs, output):
        if isinstance(module, nn.Conv1d | nn.Linear):
            self.calls.append((output.dtype, torch.is_inference_mode_enabled()))

    def take(self) -> set:
        calls, self.calls = set(self.calls), []
        return calls


@pytest.fixture
def recorder():
    rec = _Recorder()
    handle = nn.modules.module.register_module_forward_hook(rec)
    yield rec
    handle.remove()


@pytest.mark.parametrize(
    "precision, dtype", [("bf16", torch.bfloat16), ("float32", torch.float32)]
)
def test_precision_sets_layer_dtype_in_fit_and_predict(
    data, recorder, monkeypatch, precision, dtype
):
    X, y, _ = data
    losses = []
    get_loss = SkeegNet.get_loss

    def spy(self, y_pred, y_true, X=None, training=False):
        losses.append(y_pred.dtype)
        return get_loss(self, y_pred, y_true, X=X, training=training)

    monkeypatch.setattr(SkeegNet, "get_loss", spy)
    clf = SCClassifier(precision=precision, **TINY).fit(X, y)
    # Training: every layer at the precision, gradients on.
    assert recorder.take() == {(dtype, False)}
    # The loss sees float32 logits; the weights stay float32.
    assert set(losses) == {torch.float32}
    assert {p.dtype for p in clf.net_.module_.parameters()} == {torch.float32}
    clf.predict_proba(X)
    # Inference: the same precision, under torch.inference_mode.
    assert recorder.take() == {(dtype, True)}


def test_bf16_predictions_agree_with_float32(data):
    X, y, _ = data
    X_test, y_test, _ = bump_dataset(
        n_windows=64, n_channels=3, n_times=64, prevalence=0.5, seed=1
    )
    fitted = {
        p: SCClassifier(precision=p, **SEPARABLE).fit(X, y) for p in ("float32", "bf16")
    }
    # Both precisions learn the separable task.
    for clf in fitted.values():
        assert np.mean(clf.predict(X_test) == y_test) >= 0.95
    # The same weights at bf16: bfloat16 keeps 8 mantissa bits (relative
    # error 2**-8 per rounding); probabilities stay within 0.02.
    clf = fitted["float32"]
    p32 = clf.predict_proba(X_test)
    p16 = clf.set_params(precision="bf16").predict_proba(X_test)
    assert_allclose(p16, p32, atol=0.02)
    assert np.abs(p16 - p32).max() > 0  # bf16 really ran


def test_xcm_explain_keeps_gradients_under_bf16(data):
    X, y, _ = data
    clf = XCMClassifier(precision="bf16", **TINY).fit(X, y)
    cam = clf.explain(X[:5])
    assert cam.shape == (5, 3, 64)
    # normalize=True scales each window's attribution to a maximum of 1
    # wherever Grad-CAM found a gradient.
    assert np.all((np.isclose(cam.max(axis=(1, 2)), 1)) | (cam.max(axis=(1, 2)) == 0))
    assert (cam.max(axis=(1, 2)) > 0).any()


def test_precision_rejects_other_values(data):
    X, y, _ = data
    with pytest.raises(ValueError, match="The 'precision' parameter of "):
        SCClassifier(precision="fp16", **TINY).fit(X, y)


# -- loader_params -------------------------------------------------------------
def test_loader_params_reach_the_dataloaders(data):
    X, y, _ = data
    params = {"num_workers": 1, "persistent_workers": True, "drop_last": True}
    clf = SCClassifier(loader_params=params, validation_fraction=0.25, **TINY)
    clf.fit(X, y)
    assert len(clf.net_.history) == TINY["max_epochs"]
    dataset = clf._make_dataset(X.astype(np.float32), y)
    for training in (True, False):
        loader = clf.net_.get_iterator(dataset, training=training)
        assert loader.num_workers == 1
        assert loader.persistent_workers
        assert loader.drop_last
        assert loader.batch_size == TINY["batch_size"]


@pytest.mark.parametrize(
    "key", ["batch_size", "shuffle", "sampler", "batch_sampler", "collate_fn"]
)
def test_loader_params_refuse_keys_skeeg_sets(data, key):
    X, y, _ = data
    clf = SCClassifier(loader_params={key: None}, **TINY)
    with pytest.raises(ValueError, match=f"loader_params may not set '{key}'"):
        clf.fit(X, y)


@pytest.mark.parametrize(
    "params, error, match",
    [
        ({"num_worker": 2}, ValueError, r"'num_worker' is not an argument"),
        ({"num_workers": -1}, ValueError, r"DataLoader refuses .*num_workers"),
        ({"persistent_workers": True}, ValueError, r"persistent_workers"),
        ([("num_workers", 2)], TypeError, "The 'loader_params' parameter of "),
    ],
)
def test_loader_params_refuse_bad_input(data, params, error, match):
    X, y, _ = data
    with pytest.raises(error, match=match):
        SCClassifier(loader_params=params, **TINY).fit(X, y)


# -- accelerator ---------------------------------------------------------------
@pytest.mark.parametrize("validation_fraction", [None, 0.25])
def test_accelerator_training_matches_plain_fit(data, accelerator, validation_fraction):
    from skorch.hf import AccelerateMixin

    X, y, groups = data
    params = dict(TINY, validation_fraction=validation_fraction)
    plain = SCClassifier(**params).fit(X, y, groups=groups)
    accel = SCClassifier(accelerator=accelerator, **params).fit(X, y, groups=groups)
    assert isinstance(accel.net_, AccelerateMixin)
    assert accel.device_ == "cpu"
    # One CPU process: the same seed, batches and arithmetic as a plain fit.
    assert_allclose(accel.predict_proba(X), plain.predict_proba(X), atol=1e-6)
    assert_allclose(
        accel.net_.history[:, "train_loss"], plain.net_.history[:, "train_loss"]
    )


def test_accelerator_is_shared_by_clone_and_survives_pickle(data, accelerator):
    X, y, _ = data
    clf = SCClassifier(accelerator=accelerator, **TINY)
    assert clf.get_params()["accelerator"] is accelerator
    assert clone(clf).accelerator is accelerator
    clf.fit(X, y)
    restored = pickle.loads(pickle.dumps(clf))
    assert_allclose(restored.predict_proba(X), clf.predict_proba(X))


def test_accelerator_in_grid_search(data, accelerator):
    X, y, _ = data
    search = GridSearchCV(
        SCClassifier(accelerator=accelerator, **TINY), {"lr": [1e-3, 1e-2]}, cv=2
    ).fit(X, y)
    assert search.best_estimator_.accelerator is accelerator
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


def test_accelerator_refuses_bad_input(data, accelerator, monkeypatch):
    X, y, _ = data
    with pytest.raises(TypeError, match="accelerator must be None or an accel"):
        SCClassifier(accelerator="cuda", **TINY).fit(X, y)
    with pytest.raises(ValueError, match="device='cpu' with an accelerator"):
        SCClassifier(accelerator=accelerator, device="cpu", **TINY).fit(X, y)
    # What the checks read from accelerators this process cannot build.
    cls = type(accelerator)
    monkeypatch.setattr(cls, "mixed_precision", property(lambda self: "fp16"))
    with pytest.raises(ValueError, match="mixed_precision='fp16'.*grad_clip"):
        SCClassifier(accelerator=accelerator, **TINY).fit(X, y)
    monkeypatch.setattr(cls, "mixed_precision", property(lambda self: "no"))
    monkeypatch.setattr(cls, "num_processes", property(lambda self: 2))
    with pytest.raises(ValueError, match="TapNetClassifier does not train on sev"):
        TapNetClassifier(accelerator=accelerator, **TINY).fit(X, y)


# -- model files ---------------------------------------------------------------
def test_model_file_keeps_precision_and_loader_params(data, tmp_path):
    X, y, _ = data
    clf = SCClassifier(precision="bf16", loader_params={"drop_last": True}, **TINY)
    clf.fit(X, y)
    loaded = load_model(save_model(clf, tmp_path / "m.skeeg"))
    assert loaded.precision == "bf16"
    assert loaded.loader_params == {"drop_last": True}
    assert_allclose(loaded.predict_proba(X), clf.predict_proba(X))


def test_model_file_refuses_an_accelerator(data, accelerator, tmp_path):
    X, y, _ = data
    clf = SCClassifier(accelerator=accelerator, **TINY).fit(X, y)
    with pytest.raises(ModelFileError, match=r"set_params\(accelerator=None\)"):
        save_model(clf, tmp_path / "m.skeeg")
    clf.set_params(accelerator=None)
    loaded = load_model(save_model(clf, tmp_path / "m.skeeg"))
    assert_allclose(loaded.predict_proba(X), clf.predict_proba(X))


# -- the example -----------------------------------------------------------------
def test_accelerate_example_runs_on_one_cpu_process(accelerator):
    spec = importlib.util.spec_from_file_location("accelerate_training", EXAMPLE)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    auprc = example.main(
        ["--cpu", "--n-windows", "120", "--epochs", "2", "--width", "4"]
    )
    assert 0.0 <= auprc <= 1.0


# -- several processes ----------------------------------------------------------
#: One rank of a data-parallel fit: what it trained on and what it ended with.
DATA_PARALLEL_RANK = """
import sys
import numpy as np, torch
from accelerate import Accelerator
from skeeg import SCClassifier

accelerator = Accelerator(cpu=True)
rng = np.random.default_rng(0)
X = rng.normal(size=(96, 3, 64)).astype(np.float32)
y = np.arange(96) % 2
X[y == 1, :, 30:34] += 3.0
clf = SCClassifier(
    width=4, n_blocks=2, loss="bce", max_epochs=3, batch_size=16,
    validation_fraction=0.25, accelerator=accelerator, random_state=0,
).fit(X, y)
torch.save(
    {
        "n_processes": accelerator.num_processes,
        "state": clf.net_.module_.state_dict(),
        "train_windows": [
            sum(batch.get("train_batch_size", 0) for batch in epoch["batches"])
            for epoch in clf.net_.history
        ],
        "proba": clf.predict_proba(X),
    },
    f"{sys.argv[1]}/rank{accelerator.process_index}.pt",
)
"""


@pytest.mark.slow
def test_data_parallel_training_on_two_cpu_processes(tmp_path):
    """torchrun starts two processes (gloo): each trains on its shard of every
    epoch, DistributedDataParallel averages the gradients, and both end with
    the same weights and the same predictions."""
    pytest.importorskip("accelerate")
    script = tmp_path / "rank.py"
    script.write_text(DATA_PARALLEL_RANK)
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone"]
        + ["--nproc_per_node", "2", str(script), str(tmp_path)],
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [torch.load(tmp_path / f"rank{i}.pt", weights_only=False) for i in (0, 1)]
    assert [rank["n_processes"] for rank in ranks] == [2, 2]
    # 72 training windows (a quarter of 96 held out): each process trains on
    # about half of them, batches padded to equal counts across processes.
    for rank in ranks:
        assert all(36 <= n < 72 for n in rank["train_windows"]), rank["train_windows"]
    for key, weights in ranks[0]["state"].items():
        torch.testing.assert_close(weights, ranks[1]["state"][key], rtol=0, atol=0)
    np.testing.assert_array_equal(ranks[0]["proba"], ranks[1]["proba"])
