"""The common suite: scikit-learn's checks and skeeg's 3-D contract, run over
one registry of every skeeg estimator."""

from __future__ import annotations

import pickle
import re
from functools import partial

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, GroupKFold, cross_validate
from sklearn.utils.estimator_checks import estimator_checks_generator

from skeeg import (
    HMMClassifier,
    InceptionTimeClassifier,
    SaSu,
    SCClassifier,
    SleepStager,
    SMATEClassifier,
    TapNetClassifier,
    XCMClassifier,
)
from skeeg.estimators.deep_classifier import DeepClassifierBase
from skeeg.preprocessing import BandpassFilter, BipolarMontage, NotchFilter, Scaler
from skeeg.registry import entries
from tests.conftest import bump_dataset
from tests.toy_estimators import ToyAutoencoderClassifier, ToyTwoHeadClassifier

#: Small, fast settings; Adam so a few epochs suffice.
FAST = dict(
    width=8,
    max_epochs=12,
    batch_size=32,
    lr=0.01,
    optimizer="adam",
    validation_fraction=None,
    random_state=0,
)


def _example(entry):
    return entry.cls(**entry.example_params)


_CLASSIFIERS = entries("classifier")
#: The 3-D suite runs every deep classifier of the registry, as its example.
DEEP_ESTIMATORS = [
    _example(e) for e in _CLASSIFIERS if issubclass(e.cls, DeepClassifierBase)
]

#: Every classifier of the registry as its example (small and fast) and as its
#: default instance, every transformer as its example, and the toy estimators
#: of the core's extension points (semi-supervised, multi-task).
#: scikit-learn's checks feed 2-D arrays of 2-10 columns, i.e. one-channel
#: windows of 2-10 samples. Per-sample normalisation over time
#: (norm="instance") maps such a window to +-1 and ResNet's stride-32 trunk
#: needs 33 samples, so the examples use norm="layer" (over channels and
#: time), which keeps the checks meaningful; SC's and Siamese-ES's examples
#: use loss="bce" so that the multi-class checks run (SaSu is binary).
#: A deep classifier's default instance runs the checks of input handling
#: with its defaults but 2 epochs (as scikit-learn's own suite lowers
#: ``max_iter``): they test what a fit accepts and returns, not how long it
#: trains, and 30 epochs of the default ResNet (3.8 M parameters) made them a
#: third of the suite's time. :data:`DEFAULT_LEARNING` runs the checks of what
#: the defaults learn, with every default.
#: The deep classifiers' default instances, but 2 epochs.
SHORTENED_DEFAULTS = [
    e.cls(max_epochs=2) for e in _CLASSIFIERS if issubclass(e.cls, DeepClassifierBase)
]
CHECKED_ESTIMATORS = [
    *(_example(e) for e in _CLASSIFIERS if e.example_params),
    *SHORTENED_DEFAULTS,
    *(e.cls() for e in _CLASSIFIERS if not issubclass(e.cls, DeepClassifierBase)),
    ToyAutoencoderClassifier(),
    ToyTwoHeadClassifier(),
    *(_example(e) for e in entries("transformer")),
]
#: Every deep classifier of the registry with all its defaults.
DEFAULT_LEARNING = [
    e.cls() for e in _CLASSIFIERS if issubclass(e.cls, DeepClassifierBase)
]
#: The checks whose verdict depends on how well a fit learns: the 2-epoch
#: default instances skip them, and :data:`DEFAULT_LEARNING` runs them on
#: scikit-learn's plain arrays only (their read-only and float32 variants test
#: input handling, which the examples' runs cover).
_LEARNING_CHECKS = {"check_classifiers_train", "check_class_weight_classifiers"}

_FLOAT32_BATCHING = (
    "float32 convolutions give results that differ by ~1e-6 between batch "
    "sizes (the CPU kernels pick different blockings); the check demands 1e-7"
)
#: Expected failures of the deep classifiers, with the reason.
_EXPECTED_FAILED_DEEP = {
    "check_methods_subset_invariance": _FLOAT32_BATCHING,
}

# sklearn's common checks feed 2-D arrays of 2 to 5 columns, i.e. windows of
# 2 to 5 time samples; these checks fit on such windows.
_SHORT_WINDOW_CHECKS = [
    "check_dict_unchanged",
    "check_dont_overwrite_parameters",
    "check_estimators_dtypes",
    "check_estimators_fit_returns_self",
    "check_estimators_nan_inf",
    "check_estimators_overwrite_params",
    "check_estimators_pickle",
    "check_f_contiguous_array_estimator",
    "check_fit2d_predict1d",
    "check_fit_check_is_fitted",
    "check_fit_idempotent",
    "check_fit_score_takes_y",
    "check_methods_sample_order_invariance",
    "check_methods_subset_invariance",
    "check_n_features_in",
    "check_n_features_in_after_fitting",
    "check_pipeline_consistency",
    "check_positive_only_tag_during_fit",
    "check_readonly_memmap_input",
    "check_transformer_data_not_an_array",
    "check_transformer_general",
    "check_transformer_preserve_dtypes",
]
# 2-D input is one channel, and every check except these fits on 2-D input.
_SINGLE_CHANNEL_CHECKS = [
    *_SHORT_WINDOW_CHECKS,
    "check_dtype_object",
    "check_fit2d_1feature",
    "check_fit2d_1sample",
]


def _expected_failed_transformer_checks(estimator):
    failed = {}
    if isinstance(estimator, BandpassFilter | NotchFilter):
        failed.update(
            dict.fromkeys(
                _SHORT_WINDOW_CHECKS,
                "windows of 2-5 samples are shorter than sosfiltfilt's padding; "
                "fit raises a ValueError naming n_times by design",
            )
        )
    if isinstance(estimator, BipolarMontage):
        failed.update(
            dict.fromkeys(
                _SINGLE_CHANNEL_CHECKS,
                "2-D input has one channel and a bipolar pair needs two",
            )
        )
    if isinstance(estimator, Scaler):
        reason = "the check sets with_mean on any estimator named 'Scaler'"
        failed["check_estimator_sparse_array"] = reason
        failed["check_estimator_sparse_matrix"] = reason
    return failed


#: Expected failures of the default instances, beyond the above.
_EXPECTED_FAILED_DEFAULT = {
    InceptionTimeClassifier: {
        "check_classifiers_train": (
            "the paper's SGD recipe (lr 0.01, batch 256) takes one step per "
            "epoch on the check's 240 windows: 30 steps reach accuracy 0.68 "
            "on its blobs (0.77 after 100 epochs, 0.94 with Adam); issue #12 "
            "revisits the defaults"
        ),
    },
    XCMClassifier: {
        "check_classifiers_train": (
            "window=0.3 of the check's 2-sample windows is a 1-sample kernel: "
            "every layer then acts on each sample alone and the average pool "
            "makes the model symmetric in x0, x1, which the blobs need to "
            "tell apart (window=1.0 passes)"
        ),
    },
}


def _is_default(estimator) -> bool:
    return repr(estimator) == f"{type(estimator).__name__}()"


_MINUS_ONE_IS_UNLABELLED = (
    "the check uses -1 as a class label; in a semi-supervised estimator -1 "
    "marks an unlabelled window (scikit-learn's convention)"
)


def _expected_failed_checks(estimator):
    if isinstance(estimator, HMMClassifier):
        return {
            "check_classifiers_classes": _MINUS_ONE_IS_UNLABELLED,
            "check_classifiers_train": (
                "the check's windows have 2 samples: one frame whose features "
                "(mean, std = |x0 - x1| / 2, the rest 0) lose the sign of "
                "x0 - x1, and its 3 blobs overlap there (Gaussian naive Bayes "
                "on those two features: training accuracy 0.77 < the check's "
                "0.83; the binary blobs pass)"
            ),
        }
    if isinstance(
        estimator,
        ToyAutoencoderClassifier | SMATEClassifier | TapNetClassifier | SleepStager,
    ):
        return {
            **_EXPECTED_FAILED_DEEP,
            "check_classifiers_classes": _MINUS_ONE_IS_UNLABELLED,
        }
    if isinstance(estimator, DeepClassifierBase):
        default = _EXPECTED_FAILED_DEFAULT.get(type(estimator), {})
        return {**_EXPECTED_FAILED_DEEP, **(default if _is_default(estimator) else {})}
    return _expected_failed_transformer_checks(estimator)


def _check_name(check) -> str:
    return check.func.__name__ if isinstance(check, partial) else check.__name__


def _check_id(value) -> str:
    """A test id as scikit-learn's: the estimator's repr without spaces, the
    check's name with its keyword arguments."""
    if not callable(value) or hasattr(value, "get_params"):
        return re.sub(r"\s", "", repr(value))
    keywords = getattr(value, "keywords", {})
    arguments = ",".join(f"{key}={item}" for key, item in keywords.items())
    return f"{_check_name(value)}({arguments})" if arguments else _check_name(value)


def _checks(estimators, keep):
    """scikit-learn's checks of each estimator that ``keep(estimator, check)``
    accepts, marked xfail as :func:`_expected_failed_checks` says."""
    params = []
    for estimator in estimators:
        for param in estimator_checks_generator(
            estimator,
            expected_failed_checks=_expected_failed_checks(estimator),
            mark="xfail",
        ):
            values = param.values if hasattr(param, "values") else param
            if keep(*values):
                params.append(param)
    return pytest.mark.parametrize(("estimator", "check"), params, ids=_check_id)


def _is_fast(estimator, check) -> bool:
    """Not a learning check of a 2-epoch default instance."""
    shortened = any(estimator is e for e in SHORTENED_DEFAULTS)
    return not (shortened and _check_name(check) in _LEARNING_CHECKS)


def _is_plain_learning(estimator, check) -> bool:
    """A learning check on plain arrays (no read-only or dtype variant)."""
    return _check_name(check) in _LEARNING_CHECKS and not getattr(
        check, "keywords", None
    )


@_checks(CHECKED_ESTIMATORS, _is_fast)
def test_sklearn_compatible(estimator, check):
    check(estimator)


@_checks(DEFAULT_LEARNING, _is_plain_learning)
def test_defaults_learn(estimator, check):
    check(estimator)


def _names(estimators):
    return [type(e).__name__ for e in estimators]


# -- skeeg's own 3-D contract ------------------------------------------------


@pytest.fixture(params=DEEP_ESTIMATORS, ids=_names(DEEP_ESTIMATORS))
def estimator(request):
    return clone(request.param)


def test_fit_predict_3d_shapes(estimator, bumps):
    X, y, _ = bumps
    estimator.fit(X, y)
    assert estimator.n_channels_in_ == X.shape[1]
    assert estimator.n_times_in_ == X.shape[2]
    assert estimator.predict(X).shape == (len(X),)
    proba = estimator.predict_proba(X)
    assert proba.shape == (len(X), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert estimator.decision_function(X).shape == (len(X),)
    embedding = estimator.transform(X)
    assert embedding.shape == (len(X), estimator.net_.module_.embedding_dim)


def test_learns_bumps_above_chance(estimator):
    X, y, _ = bump_dataset(n_windows=200, n_times=128, seed=1)
    X_test, y_test, _ = bump_dataset(n_windows=200, n_times=128, seed=2)
    estimator.fit(X, y)
    majority = max(np.mean(y_test), 1 - np.mean(y_test))
    assert estimator.score(X_test, y_test) > majority + 0.1


def test_string_labels_round_trip(estimator, bumps):
    X, y, _ = bumps
    labels = np.array(["background", "ied"])[y]
    estimator.fit(X, labels)
    assert list(estimator.classes_) == ["background", "ied"]
    assert set(estimator.predict(X)) <= {"background", "ied"}


def test_minus_one_follows_the_estimators_policy(estimator, bumps):
    X, y, _ = bumps
    if estimator._accepts_unlabelled:
        # Semi-supervised: -1 marks an unlabelled window, never a class.
        estimator.fit(X, np.where(np.arange(len(y)) % 3 == 0, -1, y))
        assert list(estimator.classes_) == [0, 1]
    else:
        estimator.fit(X, np.where(y == 1, 1, -1))
        assert list(estimator.classes_) == [-1, 1]


def test_refit_on_another_montage(estimator, bumps):
    X, y, _ = bumps

    def params():
        return {k: repr(v) for k, v in estimator.get_params().items()}

    before = params()
    estimator.fit(X, y)
    estimator.fit(X[:, :2, :48], y)
    assert (estimator.n_channels_in_, estimator.n_times_in_) == (2, 48)
    assert estimator.predict(X[:, :2, :48]).shape == (len(X),)
    # Parameters ("auto" sizes included) are never rewritten by fit.
    assert params() == before


def test_predict_rejects_channel_count_change(estimator, bumps):
    X, y, _ = bumps
    estimator.fit(X, y)
    name = type(estimator).__name__
    msg = f"X has 2 channels, but {name} was fitted with 3 channels (n_channels_in_=3)"
    with pytest.raises(ValueError, match=re.escape(msg)):
        estimator.predict(X[:, :2])


def test_predict_rejects_time_count_change(estimator, bumps):
    X, y, _ = bumps
    estimator.fit(X, y)
    with pytest.raises(ValueError, match=r"X has 32 time samples.*n_times_in_=64"):
        estimator.predict_proba(X[:, :, :32])


@pytest.mark.parametrize(
    "mutate, match",
    [
        (
            lambda X, y: (
                np.where(np.arange(X.size).reshape(X.shape) == 5, np.nan, X),
                y,
            ),
            "NaN",
        ),
        (
            lambda X, y: (
                np.where(np.arange(X.size).reshape(X.shape) == 5, np.inf, X),
                y,
            ),
            "infinity",
        ),
        (lambda X, y: (X[..., None], y), r"ndim=4"),
        (lambda X, y: (X, np.zeros_like(y)), r"needs at least 2 classes"),
        (lambda X, y: (X, y[:-1]), r"y has 79 entries, but X has 80 windows"),
        (lambda X, y: (X[:, :, :1], y), r"at least 2 time samples"),
    ],
    ids=["nan", "inf", "rank4", "one_class", "y_length", "too_short"],
)
def test_fit_rejects_bad_input(mutate, match, bumps):
    X, y, _ = bumps
    X_bad, y_bad = mutate(X, y)
    with pytest.raises(ValueError, match=match):
        SCClassifier(**FAST).fit(X_bad, y_bad)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"max_epochs": 0}, "The 'max_epochs' parameter of "),
        ({"width": 2.5}, "The 'width' parameter of "),
        ({"n_blocks": 0}, "The 'n_blocks' parameter of "),
        ({"loss": SaSu(warmup_epochs=-1)}, "SaSu.warmup_epochs must be an int >= 0"),
        ({"threshold": 1.0}, "The 'threshold' parameter of "),
        ({"patience": 0}, "The 'patience' parameter of "),
        ({"lr": -1.0}, "The 'lr' parameter of "),
        ({"validation_fraction": 1.5}, "The 'validation_fraction' parameter of "),
        ({"loss": "hinge"}, "loss must be one of"),
        ({"optimizer": "rmsprop"}, "The 'optimizer' parameter of "),
        ({"device": "gpu"}, "device must be 'auto' or a torch device"),
    ],
)
def test_fit_rejects_bad_parameters(params, match, bumps):
    X, y, _ = bumps
    with pytest.raises(ValueError, match=match):
        SCClassifier(**{**FAST, **params}).fit(X, y)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"loss": SaSu(negatives="incneg")}, "SaSu.negatives must be AllNegatives"),
        (
            {"optimizer_params": [("momentum", 0.5)]},
            "The 'optimizer_params' parameter of ",
        ),
        ({"optimizer": torch.nn.Linear}, "optimizer must be a name or a torch.optim"),
    ],
)
def test_fit_rejects_parameters_of_the_wrong_type(params, match, bumps):
    X, y, _ = bumps
    with pytest.raises(TypeError, match=match):
        SCClassifier(**{**FAST, **params}).fit(X, y)


def test_groups_length_checked(bumps):
    X, y, groups = bumps
    with pytest.raises(ValueError, match="groups has 79 entries"):
        SCClassifier(**FAST).fit(X, y, groups=groups[:-1])


def test_pickle_and_clone_after_fit(estimator, bumps):
    X, y, _ = bumps
    estimator.fit(X, y)
    restored = pickle.loads(pickle.dumps(estimator))
    np.testing.assert_array_equal(restored.predict_proba(X), estimator.predict_proba(X))
    fresh = clone(estimator)
    assert not hasattr(fresh, "net_")
    # The parameters the registry set, not those fit may have rewritten.
    assert {k: fresh.get_params()[k] for k in FAST} == FAST


def test_random_state_makes_training_reproducible(estimator, bumps):
    X, y, _ = bumps
    a = clone(estimator).fit(X, y).predict_proba(X)
    b = clone(estimator).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)
    c = clone(estimator).set_params(random_state=1).fit(X, y).predict_proba(X)
    assert not np.array_equal(a, c)


def test_fit_does_not_touch_global_torch_rng(bumps):
    import torch

    X, y, _ = bumps
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    SCClassifier(**FAST).fit(X, y)
    np.testing.assert_array_equal(torch.rand(3), expected)


def test_criterion_class_is_built_with_criterion_params(bumps):
    X, y, _ = bumps
    clf = SCClassifier(
        **{**FAST, "loss": "bce"},
        criterion=torch.nn.BCEWithLogitsLoss,
        criterion_params={"pos_weight": torch.tensor(3.0)},
    )
    clf.fit(X, y)
    assert float(clf.net_.criterion_.pos_weight) == 3.0
    clf.set_params(criterion_params={"pos_weight": torch.tensor(2.0)}).fit(X, y)
    assert float(clf.net_.criterion_.pos_weight) == 2.0


def test_unknown_keyword_is_a_type_error():
    with pytest.raises(TypeError, match="unexpected keyword argument 'widht'"):
        SCClassifier(widht=3)


def test_validation_split_is_group_aware(bumps):
    X, y, groups = bumps
    X = X.copy()
    X[:, 0, 0] = np.arange(len(X))  # tag each window with its index
    clf = SCClassifier(**{**FAST, "validation_fraction": 0.25}).fit(X, y, groups=groups)
    valid_ds = clf.net_.train_split.keywords["valid_ds"]
    valid_idx = np.asarray(valid_ds.X[:, 0, 0]).astype(int)
    valid_groups = set(groups[valid_idx])
    assert 0 < len(valid_groups) < len(set(groups))
    # Every window of a validation group is in validation, none in training.
    np.testing.assert_array_equal(
        np.sort(valid_idx), np.flatnonzero(np.isin(groups, list(valid_groups)))
    )
    assert "valid_fbeta" in clf.net_.history[-1]


def test_validation_needs_enough_groups(bumps):
    X, y, _ = bumps
    with pytest.raises(ValueError, match="needs at least 5 groups, got 2"):
        SCClassifier(**{**FAST, "validation_fraction": 0.2}).fit(
            X, y, groups=np.arange(len(X)) % 2
        )


def test_cross_validate_with_group_kfold_and_groups_in_fit(bumps):
    X, y, groups = bumps
    clf = SCClassifier(**{**FAST, "validation_fraction": 0.25})
    result = cross_validate(
        clf, X, y, groups=groups, cv=GroupKFold(2), params={"groups": groups}
    )
    assert len(result["test_score"]) == 2


def test_grid_search_with_groups(bumps):
    X, y, groups = bumps
    search = GridSearchCV(
        SCClassifier(**{**FAST, "max_epochs": 3}),
        {"width": [4, 8]},
        cv=GroupKFold(2),
        scoring="f1",
    )
    search.fit(X, y, groups=groups)
    # The refitted network has the chosen width: set_params reaches the module.
    best = search.best_estimator_
    assert best.net_.module_.stem.out_channels == search.best_params_["width"]
    assert best.n_channels_in_ == 3


def test_verbose_prints_progress(bumps, capsys):
    X, y, _ = bumps
    SCClassifier(**{**FAST, "max_epochs": 2}).fit(X, y)
    assert capsys.readouterr().out == ""
    SCClassifier(**{**FAST, "max_epochs": 2, "verbose": 1}).fit(X, y)
    assert "train_loss" in capsys.readouterr().out


def test_pickle_and_clone_before_fit():
    clf = SCClassifier(**FAST, loss=SaSu(beta=2.0), criterion_params={"a": 1})
    for copy in (pickle.loads(pickle.dumps(clf)), clone(clf)):
        params = copy.get_params()
        assert {k: params[k] for k in FAST} == FAST
        assert params["loss__beta"] == 2.0
        assert params["criterion_params"] == {"a": 1}
    # Nested strategies are copies: tuning a clone leaves the original alone.
    clone(clf).set_params(loss__beta=3.0)
    assert clf.loss.beta == 2.0


def test_device_auto_prefers_cuda(monkeypatch):
    import torch

    from skeeg.training.net import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == "cpu"
    assert resolve_device("cuda:1") == "cuda:1"


@pytest.mark.parametrize(
    "entry", entries("classifier"), ids=[e.name for e in entries("classifier")]
)
def test_bad_parameter_fails_fit_with_invalid_parameter_error(entry, bumps):
    from sklearn.utils._param_validation import InvalidParameterError

    name = "max_epochs" if "max_epochs" in entry.cls().get_params() else "n_states"
    assert name in entry.cls._parameter_constraints
    X, y, _ = bumps
    with pytest.raises(InvalidParameterError, match=f"The '{name}' parameter of"):
        entry.cls(**{name: 0}).fit(X, y)


_SEMI_SUPERVISED = [e for e in entries("classifier") if e.cls._accepts_unlabelled]


@pytest.mark.parametrize(
    "entry", _SEMI_SUPERVISED, ids=[e.name for e in _SEMI_SUPERVISED]
)
def test_string_classes_with_minus_one_for_unlabelled(entry, bumps):
    # scikit-learn's semi-supervised convention (SelfTrainingClassifier): an
    # object array of string classes with the int -1 for unlabelled windows.
    X, y, _ = bumps
    labels = np.where(y == 1, "ad", "ctl").astype(object)
    labels[::3] = -1
    clf = _example(entry).fit(X, labels)
    assert list(clf.classes_) == ["ad", "ctl"]
    assert set(clf.predict(X)) <= {"ad", "ctl"}
