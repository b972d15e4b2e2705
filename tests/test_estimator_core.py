"""The estimator core: torch-free base, -1 policy, side inputs, thresholds."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import sklearn
import torch
from joblib import Parallel, cpu_count, delayed, parallel_config
from sklearn.metrics import accuracy_score, f1_score, fbeta_score, make_scorer
from sklearn.model_selection import (
    GridSearchCV,
    GroupKFold,
    TunedThresholdClassifierCV,
    cross_validate,
)
from sklearn.pipeline import Pipeline

from skeeg import SCClassifier
from skeeg.estimators.eeg_classifier import EEGClassifierBase, fbeta_optimal_threshold
from skeeg.preprocessing import Scaler
from tests.conftest import bump_dataset
from tests.toy_estimators import ToyAutoencoderClassifier, ToyTwoHeadClassifier

QUICK = dict(width=8, n_blocks=2, max_epochs=20, batch_size=32, random_state=0)


def test_torch_free_base_imports_without_torch():
    code = (
        "import sys, skeeg.estimators.eeg_classifier; "
        "print(sorted(m for m in ('torch', 'skorch') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_deep_estimators_train_without_imbalanced_learn():
    """imbalanced-learn (0.35 s of import, with sklearn's test utilities) is
    for the 3-D samplers only; fitting a deep estimator does not load it."""
    code = (
        "import sys, numpy as np; from skeeg import SCClassifier; "
        "X = np.random.default_rng(0).normal(size=(16, 2, 32)); "
        "SCClassifier(width=4, max_epochs=1, validation_fraction=None)"
        ".fit(X, np.arange(16) % 2); "
        "print('imblearn' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


class _MeanAmplitudeClassifier(EEGClassifierBase):
    """A classical estimator on the torch-free base: logistic on mean |x|."""

    _accepts_unlabelled = True

    def __init__(self, threshold=0.5):
        self.threshold = threshold

    def fit(self, X, y, groups=None):
        X, y_enc, _, _ = self._validate_fit_data(X, y, groups)
        self._check_threshold()
        feature = np.abs(X).mean(axis=(1, 2))
        labelled = y_enc >= 0
        means = [feature[labelled & (y_enc == k)].mean() for k in (0, 1)]
        self.cut_ = float(np.mean(means))
        self.scale_ = float(np.std(feature[labelled]))
        self._fit_threshold(None, None, beta=1.0)
        return self

    def predict_proba(self, X):
        X = self._validate_predict_X(X)
        z = (np.abs(X).mean(axis=(1, 2)) - self.cut_) / self.scale_
        p = 1 / (1 + np.exp(-z))
        return np.column_stack([1 - p, p])


def test_classical_estimator_on_the_torch_free_base():
    X, y, _ = bump_dataset(n_windows=200, seed=0)
    y_semi = np.where(np.arange(len(y)) % 3 == 0, -1, y)
    clf = _MeanAmplitudeClassifier().fit(X, y_semi)
    assert list(clf.classes_) == [0, 1]
    assert (clf.n_channels_in_, clf.n_times_in_) == X.shape[1:]
    proba = clf.predict_proba(X)[:, 1]
    np.testing.assert_array_equal(clf.predict(X), (proba > 0.5).astype(int))
    with pytest.raises(ValueError, match="X has 2 channels"):
        clf.predict(X[:, :2])


def test_unlabelled_needs_a_labelled_window_per_class(bumps):
    X, y, _ = bumps
    y_semi = np.where(y == 1, -1, y)
    with pytest.raises(ValueError, match="at least one labelled window each"):
        ToyAutoencoderClassifier(**QUICK).fit(X, y_semi)


def test_fbeta_optimal_threshold_matches_brute_force():
    rng = np.random.default_rng(0)
    y = (rng.random(300) < 0.1).astype(int)
    proba = np.clip(0.3 * y + rng.random(300) * 0.7, 0, 1)
    for beta in (0.5, 1.0, 2.0):
        threshold = fbeta_optimal_threshold(y, proba, beta=beta)
        best = max(
            fbeta_score(y, proba >= t, beta=beta, zero_division=0) for t in proba
        )
        got = fbeta_score(y, proba > threshold, beta=beta, zero_division=0)
        assert got == pytest.approx(best)


def test_threshold_auto_is_tuned_on_the_validation_split():
    X, y, groups = bump_dataset(n_windows=400, prevalence=0.1, seed=4)
    params = dict(QUICK, validation_fraction=0.25, max_epochs=4, loss="bce")
    fixed = SCClassifier(**params).fit(X, y, groups=groups)
    auto = SCClassifier(**params, threshold="auto").fit(X, y, groups=groups)
    assert fixed.threshold_ == 0.5
    # Same training (the seed fixes it): only the cut differs.
    np.testing.assert_allclose(fixed.predict_proba(X), auto.predict_proba(X))
    valid = auto.net_.train_split.keywords["valid_ds"]
    proba_valid = auto.predict_proba(valid.X)[:, 1]
    expected = fbeta_optimal_threshold(valid.y.numpy(), proba_valid)
    assert auto.threshold_ == pytest.approx(expected)
    # predict and decision_function agree with the tuned threshold.
    proba = auto.predict_proba(X)[:, 1]
    np.testing.assert_array_equal(auto.predict(X), (proba > auto.threshold_) * 1)
    np.testing.assert_array_equal(auto.decision_function(X) > 0, proba > expected)


def test_threshold_auto_works_with_every_default():
    # validation_fraction=None (the default): a fifth of the labelled windows
    # is held out to tune the threshold on, group-aware, and never trains.
    X, y, groups = bump_dataset(n_windows=200, prevalence=0.2, seed=6)
    # loss="bce" trains on every window each epoch (SaSu's IncNeg samples).
    clf = SCClassifier(threshold="auto", loss="bce", max_epochs=2, random_state=0)
    assert clf.validation_fraction is None
    clf.fit(X, y, groups=groups)
    assert clf.net_.train_split is None  # no epoch selection

    def n_trained(estimator):
        return sum(b["train_batch_size"] for b in estimator.net_.history[-1, "batches"])

    assert 100 <= n_trained(clf) < 200
    fixed = SCClassifier(loss="bce", max_epochs=2, random_state=0)
    fixed.fit(X, y, groups=groups)
    assert n_trained(fixed) == 200
    assert 0 < clf.threshold_ < 1 and fixed.threshold_ == 0.5
    proba = clf.predict_proba(X)[:, 1]
    np.testing.assert_array_equal(clf.predict(X), (proba > clf.threshold_) * 1)
    # Without groups too.
    assert 0 < SCClassifier(threshold="auto", max_epochs=1).fit(X, y).threshold_ < 1


def test_works_under_tuned_threshold_classifier_cv():
    X, y, _ = bump_dataset(n_windows=240, prevalence=0.1, seed=5)
    clf = SCClassifier(**QUICK, loss="bce", validation_fraction=None)
    tuned = TunedThresholdClassifierCV(clf, scoring="f1", cv=2).fit(X, y)
    assert 0 < tuned.best_threshold_ < 1
    proba = tuned.estimator_.predict_proba(X)[:, 1]
    np.testing.assert_array_equal(
        tuned.predict(X), (proba >= tuned.best_threshold_).astype(int)
    )


# -- semi-supervised ---------------------------------------------------------
def _labelled_accuracy(y_true, y_pred):
    labelled = np.asarray(y_true) != -1
    return accuracy_score(np.asarray(y_true)[labelled], np.asarray(y_pred)[labelled])


LABELLED_ACCURACY = make_scorer(_labelled_accuracy)


def _semi_supervised_bumps(seed=0):
    X, y, groups = bump_dataset(n_windows=240, seed=seed)
    y_semi = y.copy()
    y_semi[np.arange(len(y)) % 3 == 0] = -1
    return X, y, y_semi, groups


def test_unlabelled_windows_reach_the_loss_but_not_the_classes():
    X, y, y_semi, _ = _semi_supervised_bumps()
    clf = ToyAutoencoderClassifier(**QUICK).fit(X, y_semi)
    assert list(clf.classes_) == [0, 1]
    # Changing only the unlabelled windows changes the model.
    X_other = X.copy()
    X_other[y_semi == -1] = np.random.default_rng(9).normal(size=X[y_semi == -1].shape)
    other = ToyAutoencoderClassifier(**QUICK).fit(X_other, y_semi)
    assert not np.allclose(clf.predict_proba(X), other.predict_proba(X))
    # A supervised model treats -1 as a class.
    assert list(SCClassifier(**QUICK, loss="bce").fit(X, y_semi).classes_) == [-1, 0, 1]


def test_validation_split_holds_labelled_windows_only():
    X, y, y_semi, groups = _semi_supervised_bumps()
    clf = ToyAutoencoderClassifier(**{**QUICK, "validation_fraction": 0.25})
    clf.fit(X, y_semi, groups=groups)
    valid_y = clf.net_.train_split.keywords["valid_ds"].y.numpy()
    assert len(valid_y) > 0 and set(valid_y) <= {0, 1}


def test_semi_supervised_under_cross_validate_and_grid_search():
    X, y, y_semi, groups = _semi_supervised_bumps()
    result = cross_validate(
        ToyAutoencoderClassifier(**QUICK),
        X,
        y_semi,
        groups=groups,
        cv=GroupKFold(2),
        scoring=LABELLED_ACCURACY,
    )
    assert np.all(result["test_score"] > 0.75)
    search = GridSearchCV(
        ToyAutoencoderClassifier(**QUICK),
        {"width": [4, 8]},
        cv=GroupKFold(2),
        scoring=LABELLED_ACCURACY,
    ).fit(X, y_semi, groups=groups)
    best = search.best_estimator_
    assert best.net_.module_.conv.out_channels == search.best_params_["width"]


def test_semi_supervised_with_the_incneg_curriculum():
    X, y, y_semi, _ = _semi_supervised_bumps()
    clf = ToyAutoencoderClassifier(**{**QUICK, "loss": "sasu"}).fit(X, y_semi)
    n_unlabelled, n_pos = int((y_semi == -1).sum()), int((y_semi == 1).sum())
    first_epoch = sum(b["train_batch_size"] for b in clf.net_.history[0, "batches"])
    # PreBCE: positives + as many negatives, plus every unlabelled window.
    assert first_epoch == 2 * n_pos + n_unlabelled


# -- multi-task side inputs ------------------------------------------------
def _staged_bumps(seed=0):
    """Bumps whose channel 1 is scaled by a per-window stage (learnable)."""
    X, y, groups = bump_dataset(n_windows=200, seed=seed)
    rng = np.random.default_rng(seed)
    stage = rng.choice(np.array(["N2", "W"]), size=len(y))
    X[:, 1] *= np.where(stage == "W", 4.0, 0.25)[:, None]
    return X, y, groups, stage


@pytest.fixture
def routing():
    with sklearn.config_context(enable_metadata_routing=True):
        yield


def test_side_input_trains_the_second_head():
    X, y, _, stage = _staged_bumps()
    clf = ToyTwoHeadClassifier(**QUICK).fit(X, y, stage=stage)
    assert list(clf.stage_classes_) == ["N2", "W"]
    X_test, _, _, stage_test = _staged_bumps(seed=1)
    assert np.mean(clf.predict_stage(X_test) == stage_test) > 0.9


def test_side_input_is_sliced_by_cv_and_pipeline(routing):
    X, y, groups, stage = _staged_bumps()
    clf = ToyTwoHeadClassifier(**QUICK).set_fit_request(stage=True, groups=True)
    pipe = Pipeline([("scale", Scaler()), ("clf", clf)])
    result = cross_validate(
        pipe,
        X,
        y,
        cv=GroupKFold(2),
        params={"stage": stage, "groups": groups},
        return_estimator=True,
        return_indices=True,
    )
    for fitted, test in zip(
        result["estimator"], result["indices"]["test"], strict=True
    ):
        stage_pred = fitted.named_steps["clf"].predict_stage(
            fitted.named_steps["scale"].transform(X[test])
        )
        # Misaligned stages could not be learned this well.
        assert np.mean(stage_pred == stage[test]) > 0.9


def test_side_input_follows_the_negative_sampler():
    X, y, _, stage = _staged_bumps()
    clf = ToyTwoHeadClassifier(**{**QUICK, "loss": "sasu", "max_epochs": 12})
    clf.fit(X, y, stage=stage)
    X_test, _, _, stage_test = _staged_bumps(seed=1)
    assert np.mean(clf.predict_stage(X_test) == stage_test) > 0.9


def test_unknown_stages_are_ignored_by_the_second_loss():
    X, y, _, stage = _staged_bumps()
    stage = stage.astype(object)
    stage[::2] = -1
    clf = ToyTwoHeadClassifier(**QUICK).fit(X, y, stage=stage)
    assert list(clf.stage_classes_) == ["N2", "W"]
    X_test, _, _, stage_test = _staged_bumps(seed=1)
    assert np.mean(clf.predict_stage(X_test) == stage_test) > 0.9


def test_side_input_of_wrong_length_is_a_clear_error():
    X, y, _, stage = _staged_bumps()
    with pytest.raises(ValueError, match="stage has 199 entries, but X has 200"):
        ToyTwoHeadClassifier(**QUICK).fit(X, y, stage=stage[:-1])


def test_side_inputs_do_not_reach_a_model_that_does_not_ask():
    X, y, _ = bump_dataset(seed=2)
    params = dict(QUICK, loss="bce", validation_fraction=None)
    plain = SCClassifier(**params).fit(X, y)
    with_side = SCClassifier(**params)._fit(X, y, stage=np.arange(len(y)))
    np.testing.assert_array_equal(plain.predict_proba(X), with_side.predict_proba(X))


def test_toy_models_separate_bumps():
    X, y, _ = bump_dataset(n_windows=200, seed=1)
    X_test, y_test, _ = bump_dataset(n_windows=200, seed=2)
    for clf in (ToyAutoencoderClassifier(**QUICK), ToyTwoHeadClassifier(**QUICK)):
        clf.fit(X, y)
        assert f1_score(y_test, clf.predict(X_test)) > 0.6


def test_module_outputs_tuple_logits_first():
    X, y, _ = bump_dataset(seed=3)
    clf = ToyAutoencoderClassifier(**QUICK).fit(X, y)
    module = clf.net_.module_.eval()
    with torch.no_grad():
        logits, _ = module(torch.from_numpy(X[:5].astype(np.float32)))
    np.testing.assert_allclose(clf.decision_function(X[:5]), logits[:, 0], rtol=1e-5)


# -- threads (skeeg.training.threads) ---------------------------------------------
class _ThreadsSeen(SCClassifier):
    """SC whose module notes torch's thread count at every forward pass."""

    def _build_module(self, n_channels, n_times, n_outputs):
        module = super()._build_module(n_channels, n_times, n_outputs)
        module.threads_seen = []
        module.register_forward_hook(
            lambda mod, inputs, output: mod.threads_seen.append(torch.get_num_threads())
        )
        return module


class _Explodes(torch.nn.Module):
    def forward(self, logits, target):
        raise RuntimeError("the criterion failed")


THREADS = dict(width=4, n_blocks=2, max_epochs=2, batch_size=16, random_state=0)


@pytest.fixture
def caller_threads():
    """torch's thread count as the test found it, given back after it."""
    before = torch.get_num_threads()
    yield before
    torch.set_num_threads(before)


@pytest.mark.parametrize("n_threads", [1, 3])
def test_explicit_n_threads_runs_every_forward_pass(bumps, caller_threads, n_threads):
    X, y, _ = bumps
    torch.set_num_threads(2)
    clf = _ThreadsSeen(n_threads=n_threads, loss="bce", **THREADS).fit(X, y)
    seen = clf.net_.module_.threads_seen
    assert len(seen) > 0 and set(seen) == {n_threads}
    seen.clear()
    clf.predict_proba(X)
    assert len(seen) > 0 and set(seen) == {n_threads}


@pytest.mark.parametrize("n_threads", ["auto", 1, 3])
def test_fit_and_predict_give_the_caller_threads_back(bumps, caller_threads, n_threads):
    X, y, _ = bumps
    torch.set_num_threads(5)
    clf = SCClassifier(n_threads=n_threads, loss="bce", **THREADS).fit(X, y)
    assert torch.get_num_threads() == 5
    clf.predict(X)
    assert torch.get_num_threads() == 5


def test_fit_that_raises_gives_the_caller_threads_back(bumps, caller_threads):
    X, y, _ = bumps
    torch.set_num_threads(5)
    clf = SCClassifier(n_threads=1, criterion=_Explodes(), **THREADS)
    with pytest.raises(RuntimeError, match="the criterion failed"):
        clf.fit(X, y)
    assert torch.get_num_threads() == 5


def test_n_threads_none_trains_on_the_caller_threads(bumps, caller_threads):
    X, y, _ = bumps
    torch.set_num_threads(3)
    clf = _ThreadsSeen(n_threads=None, loss="bce", **THREADS).fit(X, y)
    assert set(clf.net_.module_.threads_seen) == {3}


def _fit_in_worker(X, y) -> set[int]:
    clf = _ThreadsSeen(loss="bce", **THREADS).fit(X, y)
    return set(clf.net_.module_.threads_seen)


@pytest.mark.skipif(cpu_count() < 2, reason="needs 2 CPUs")
def test_auto_in_joblib_workers_keeps_to_inner_max_num_threads(bumps):
    X, y, _ = bumps
    with parallel_config(backend="loky", inner_max_num_threads=1):
        seen = Parallel(n_jobs=2)(delayed(_fit_in_worker)(X, y) for _ in range(2))
    assert seen == [{1}, {1}]


@pytest.mark.parametrize("n_threads", [0, -1, 1.5, "all"])
def test_n_threads_is_checked(bumps, n_threads):
    X, y, _ = bumps
    with pytest.raises(ValueError, match="'n_threads' parameter of SCClassifier"):
        SCClassifier(n_threads=n_threads, **THREADS).fit(X, y)
