import itertools
import math
from collections import Counter
from decimal import Decimal, getcontext
from fractions import Fraction

import numpy as np
import pytest
import torch
from imblearn.over_sampling import RandomOverSampler
from imblearn.pipeline import Pipeline
from imblearn.under_sampling import RandomUnderSampler
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold, cross_validate
from sklearn.preprocessing import FunctionTransformer
from skorch import NeuralNet
from skorch.callbacks import Callback

from skeeg.sampling import RandomWindowOverSampler, RandomWindowUnderSampler
from skeeg.training.curriculum import (
    EpochCurriculum,
    NegativeSampler,
    incneg_count,
    sufficient_negatives,
)


def _imbalanced_windows(n_pos=12, n_neg=48, n_channels=3, n_times=16, seed=0):
    rng = np.random.default_rng(seed)
    y = np.r_[np.ones(n_pos, dtype=int), np.zeros(n_neg, dtype=int)]
    X = rng.normal(size=(len(y), n_channels, n_times))
    X[y == 1, :, : n_times // 2] += 1.5
    return X, y


# -- imbalanced-learn window samplers ---------------------------------------


@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize(
    "sampling_strategy, expected",
    [("auto", {0: 12, 1: 12}), (0.5, {0: 24, 1: 12}), ({0: 30, 1: 5}, {0: 30, 1: 5})],
)
def test_under_sampler_counts_follow_strategy(ndim, sampling_strategy, expected):
    X, y = _imbalanced_windows()
    X = X if ndim == 3 else X[:, 0, :]
    sampler = RandomWindowUnderSampler(sampling_strategy, random_state=0)
    X_res, y_res = sampler.fit_resample(X, y)
    assert Counter(y_res.tolist()) == expected
    assert X_res.shape == (sum(expected.values()), *X.shape[1:])
    np.testing.assert_array_equal(X_res, X[sampler.sample_indices_])
    np.testing.assert_array_equal(y_res, y[sampler.sample_indices_])
    assert len(set(sampler.sample_indices_.tolist())) == len(y_res)


@pytest.mark.parametrize(
    "sampling_strategy, expected",
    [("auto", {0: 48, 1: 48}), (0.5, {0: 48, 1: 24})],
)
def test_over_sampler_counts_follow_strategy(sampling_strategy, expected):
    X, y = _imbalanced_windows()
    sampler = RandomWindowOverSampler(sampling_strategy, random_state=0)
    X_res, y_res = sampler.fit_resample(X, y)
    assert Counter(y_res.tolist()) == expected
    np.testing.assert_array_equal(X_res, X[sampler.sample_indices_])
    # Every original window is kept; only positives are repeated.
    assert set(sampler.sample_indices_.tolist()) == set(range(len(y)))


def test_window_samplers_draw_what_imblearn_draws():
    X, y = _imbalanced_windows()
    flat = X.reshape(len(X), -1)
    pairs = [
        (
            RandomWindowUnderSampler(random_state=3, replacement=True),
            RandomUnderSampler(random_state=3, replacement=True),
        ),
        (RandomWindowOverSampler(random_state=3), RandomOverSampler(random_state=3)),
    ]
    for ours, reference in pairs:
        X_res, y_res = ours.fit_resample(X, y)
        flat_res, y_ref = reference.fit_resample(flat, y)
        np.testing.assert_array_equal(ours.sample_indices_, reference.sample_indices_)
        np.testing.assert_array_equal(X_res.reshape(len(X_res), -1), flat_res)
        np.testing.assert_array_equal(y_res, y_ref)


def test_window_sampler_rejects_length_mismatch():
    X, y = _imbalanced_windows()
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        RandomWindowUnderSampler().fit_resample(X, y[:-1])


def _flatten(X):
    return X.reshape(len(X), -1)


def test_under_sampler_in_imblearn_pipeline_with_group_cv():
    X, y = _imbalanced_windows(n_pos=18, n_neg=72)
    groups = np.arange(len(y)) % 6  # six "patients"
    pipe = Pipeline(
        [
            ("under", RandomWindowUnderSampler(random_state=0)),
            ("flatten", FunctionTransformer(_flatten)),
            ("clf", DummyClassifier(strategy="prior")),
        ]
    )
    result = cross_validate(
        pipe, X, y, groups=groups, cv=GroupKFold(3), return_estimator=True
    )
    # The classifier was fitted on the balanced resample of each training fold
    # (its class prior is 1/2), while test folds keep every window.
    for fitted in result["estimator"]:
        np.testing.assert_allclose(fitted[-1].class_prior_, [0.5, 0.5])
        assert fitted[0].n_channels_in_ == 3
    pipe.set_params(clf=LogisticRegression(max_iter=500))
    scores = cross_validate(
        pipe, X, y, groups=groups, cv=GroupKFold(3), scoring="roc_auc"
    )["test_score"]
    assert scores.shape == (3,)
    assert np.all(scores > 0.8)


# -- sufficient number of negatives -----------------------------------------


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6])
def test_sufficient_negatives_is_expected_distinct_count_by_enumeration(n):
    # Mean number of distinct windows over all n**n ordered draws of n from n.
    total = sum(len(set(draw)) for draw in itertools.product(range(n), repeat=n))
    assert sufficient_negatives(n) == round(Fraction(total, n**n))


@pytest.mark.parametrize("n", [*range(1, 60), 100, 1000, 12345])
def test_sufficient_negatives_matches_naive_formula(n):
    assert sufficient_negatives(n) == max(1, round(n * (1 - (1 - 1 / n) ** n)))


def test_sufficient_negatives_asymptote_for_huge_n():
    n = 10**9
    getcontext().prec = 60
    exact = Decimal(n) * (1 - (1 - Decimal(1) / Decimal(n)) ** n)
    assert sufficient_negatives(n) == int(exact.to_integral_value())
    assert abs(sufficient_negatives(n) / n - (1 - math.exp(-1))) < 1e-9


@pytest.mark.parametrize("n", [0, -3])
def test_sufficient_negatives_rejects_fewer_than_one(n):
    with pytest.raises(ValueError, match="n_neg"):
        sufficient_negatives(n)


# -- IncNeg schedule ---------------------------------------------------------


def test_incneg_count_is_epoch_squared_for_default_growth():
    for epoch in range(1, 3001):
        assert incneg_count(epoch, 7, 10**12) == epoch * epoch * 7


def test_incneg_count_is_capped():
    assert [incneg_count(e, 4, 63) for e in range(1, 7)] == [4, 16, 36, 63, 63, 63]
    assert incneg_count(10**300, 4, 63) == 63


def test_incneg_count_other_growth_rates():
    # a=2, b=3: multiplier 3 ** log2(e); exact at powers of two, and
    # 3 ** log2(3) = 5.70 rounds up to 6.
    assert [incneg_count(e, 1, 10**6, a=2.0, b=3.0) for e in (1, 2, 3, 4, 8)] == [
        1,
        3,
        6,
        9,
        27,
    ]
    # a = b: the multiplier is e itself.
    assert [incneg_count(e, 2, 10**6, a=3.0, b=3.0) for e in range(1, 6)] == [
        2,
        4,
        6,
        8,
        10,
    ]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"epoch": 0}, "epoch"),
        ({"a": 1.0}, "a"),
        ({"a": 0.5}, "a"),
        ({"b": 1.0}, "b"),
    ],
)
def test_incneg_count_rejects_bad_arguments(kwargs, match):
    args = {"epoch": 1, "n_pos": 4, "n_max": 63, **kwargs}
    with pytest.raises(ValueError, match=match):
        incneg_count(**args)


# -- NegativeSampler ---------------------------------------------------------

# 4 positives, 100 negatives: E = 100 * (1 - 0.99**100) = 63.4 -> 63.
Y_SMALL = np.r_[np.zeros(60, dtype=int), np.ones(4, dtype=int), np.zeros(40, dtype=int)]
POSITIVES = set(range(60, 64))


def _split(sampler, epoch):
    indices = sampler.indices_for_epoch(epoch)
    assert len(set(indices.tolist())) == len(indices), "duplicates within an epoch"
    chosen = set(indices.tolist())
    assert POSITIVES <= chosen, "a positive is missing"
    return chosen - POSITIVES


def test_incneg_sampler_follows_schedule_exactly():
    sampler = NegativeSampler(Y_SMALL, "incneg", warmup_epochs=3, random_state=0)
    assert (sampler.n_pos_, sampler.n_neg_, sampler.n_sufficient_) == (4, 100, 63)
    # Warm-up: n1 = 4 each; then IncNeg epochs 1, 2, 3, ...: 4 * e**2, capped at 63.
    expected = [4, 4, 4, 4, 16, 36, 63, 63]
    negatives = [_split(sampler, epoch) for epoch in range(len(expected))]
    assert [len(neg) for neg in negatives] == expected
    assert negatives[0] == negatives[1] == negatives[2]
    for epoch, expected_count in enumerate(expected):
        sampler.set_epoch(epoch)
        yielded = list(sampler)
        assert len(sampler) == len(yielded) == 4 + expected_count
        assert yielded == sampler.indices_for_epoch(epoch).tolist()


def test_incneg_sampler_redraws_after_warmup():
    sampler = NegativeSampler(Y_SMALL, warmup_epochs=2, random_state=0)
    later = [_split(sampler, epoch) for epoch in (6, 7, 8)]  # all at the cap
    assert len({frozenset(neg) for neg in later}) == 3


@pytest.mark.parametrize("strategy, n_neg", [("balanced", 4), ("sufficient", 63)])
def test_balanced_and_sufficient_redraw_every_epoch(strategy, n_neg):
    sampler = NegativeSampler(Y_SMALL, strategy, random_state=0)
    negatives = [_split(sampler, epoch) for epoch in range(4)]
    assert all(len(neg) == n_neg for neg in negatives)
    assert len({frozenset(neg) for neg in negatives}) == 4


def test_all_strategy_yields_every_window_shuffled():
    sampler = NegativeSampler(Y_SMALL, "all", random_state=0)
    for epoch in range(3):
        indices = sampler.indices_for_epoch(epoch)
        assert sorted(indices.tolist()) == list(range(len(Y_SMALL)))
        assert indices.tolist() != list(range(len(Y_SMALL)))
    sampler.set_epoch(2)
    assert len(sampler) == len(Y_SMALL)


def test_balanced_caps_negatives_when_positives_outnumber_them():
    y = np.r_[np.ones(10, dtype=int), np.zeros(3, dtype=int)]
    sampler = NegativeSampler(y, "balanced", random_state=0)
    assert sorted(sampler.indices_for_epoch(0).tolist()) == list(range(13))


def test_sampler_is_deterministic_and_independent_of_epoch_order():
    first = NegativeSampler(Y_SMALL, random_state=42)
    second = NegativeSampler(Y_SMALL, random_state=42)
    forward = [first.indices_for_epoch(e).tolist() for e in range(8)]
    backward = [second.indices_for_epoch(e).tolist() for e in reversed(range(8))]
    assert forward == backward[::-1]
    other = NegativeSampler(Y_SMALL, random_state=7)
    assert other.indices_for_epoch(5).tolist() != forward[5]


def test_sampler_does_not_advance_on_iteration():
    sampler = NegativeSampler(Y_SMALL, "balanced", random_state=0)
    assert list(sampler) == list(sampler)


@pytest.mark.parametrize(
    "y, kwargs, match",
    [
        (np.zeros(5, dtype=int), {}, "y must contain both"),
        (np.ones(5, dtype=int), {}, "y must contain both"),
        (np.array([0, 1, 2]), {}, "y must be binary"),
        (np.zeros((4, 2)), {}, "y must be 1-D"),
        (Y_SMALL, {"strategy": "random"}, "strategy"),
        (Y_SMALL, {"warmup_epochs": -1}, "warmup_epochs"),
        (Y_SMALL, {"a": 1.0}, "a"),
    ],
)
def test_sampler_rejects_bad_input(y, kwargs, match):
    with pytest.raises(ValueError, match=match):
        NegativeSampler(y, **kwargs)


# -- skorch integration ------------------------------------------------------


class _RecordBatches(Callback):
    """Records the window indices (feature 0) of each training batch."""

    def initialize(self):
        self.epochs_ = []
        return self

    def on_epoch_begin(self, net, **kwargs):
        self.epochs_.append([])

    def on_batch_begin(self, net, batch=None, training=None, **kwargs):
        if training:
            self.epochs_[-1].extend(batch[0][:, 0].round().long().tolist())


class _EpochAwareBCE(torch.nn.BCEWithLogitsLoss):
    """BCE that records the epochs it is told about."""

    def __init__(self):
        super().__init__()
        self.epochs = []

    def set_epoch(self, epoch):
        self.epochs.append(epoch)


def test_skorch_net_follows_the_curriculum():
    n_pos, n_neg = 5, 200  # E = 200 * (1 - 0.995**200) = 126.6 -> 127
    y = np.r_[np.ones(n_pos), np.zeros(n_neg)].astype(np.int64)
    X = np.random.default_rng(0).normal(size=(len(y), 3)).astype(np.float32)
    X[:, 0] = np.arange(len(y))  # lets the recorder see which windows came
    sampler = NegativeSampler(y, warmup_epochs=2, random_state=0)
    recorder = _RecordBatches()
    net = NeuralNet(
        torch.nn.Linear(3, 1),
        criterion=_EpochAwareBCE,
        max_epochs=5,
        batch_size=16,
        lr=0.01,
        train_split=None,
        iterator_train__sampler=sampler,
        iterator_train__shuffle=False,
        callbacks=[EpochCurriculum(), recorder],
    )
    net.fit(X, y.astype(np.float32).reshape(-1, 1))

    # Warm-up 5, 5; IncNeg epochs 1, 2, 3: 5 * e**2 = 5, 20, 45 (< E = 127).
    expected_negatives = [5, 5, 5, 20, 45]
    seen = recorder.epochs_
    assert [len(s) - n_pos for s in seen] == expected_negatives
    history_sizes = [
        sum(b["train_batch_size"] for b in row["batches"]) for row in net.history
    ]
    assert history_sizes == [len(s) for s in seen]
    for epoch, windows in enumerate(seen):
        assert windows == sampler.indices_for_epoch(epoch).tolist()
        assert set(range(n_pos)) <= set(windows)
    assert set(seen[0]) == set(seen[1])
    assert net.criterion_.epochs == [0, 1, 2, 3, 4]

    # partial_fit continues the count from the history.
    net.partial_fit(X, y.astype(np.float32).reshape(-1, 1), epochs=1)
    assert len(recorder.epochs_[-1]) - n_pos == 80  # IncNeg epoch 4: 5 * 16
    assert net.criterion_.epochs[-1] == 5


def test_epoch_curriculum_ignores_objects_without_set_epoch():
    X = np.random.default_rng(0).normal(size=(20, 3)).astype(np.float32)
    y = (X[:, :1] > 0).astype(np.float32)
    net = NeuralNet(
        torch.nn.Linear(3, 1),
        criterion=torch.nn.BCEWithLogitsLoss,
        max_epochs=2,
        train_split=None,
        callbacks=[EpochCurriculum()],
    )
    net.fit(X, y)
    assert len(net.history) == 2
