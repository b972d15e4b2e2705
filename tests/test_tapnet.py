"""TapNetClassifier and its network: prototypes against closed forms, the -1
policy, learning, the 3-D contract and errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.special import softmax
from sklearn.base import clone

from skeeg import TapNetClassifier
from skeeg.models.tapnet import (
    PrototypeHead,
    TapNet,
    draw_channel_groups,
    mean_pairwise_distance,
)
from tests import test_common as common
from tests.conftest import bump_dataset

#: test_common's fast settings with a smaller LSTM, mapping and attention.
FAST = {
    **common.FAST,
    "lstm_hidden": 8,
    "mapping_dims": (16, 8),
    "attention_dim": 8,
}


def _head(embedding_dim=3, n_classes=2, uniform=False, seed=0):
    torch.manual_seed(seed)
    head = PrototypeHead(embedding_dim, n_classes, attention_dim=4)
    if uniform:  # every attention score 0: prototypes are plain means
        for att in head.attention:
            torch.nn.init.zeros_(att[-1].weight)
            torch.nn.init.zeros_(att[-1].bias)
    return head


def _scores(head, emb):
    with torch.no_grad():
        return torch.cat([att(emb) for att in head.attention], 1).numpy()


# -- the prototype head: closed forms ----------------------------------------


def test_prototypes_are_attention_softmax_weighted_means():
    rng = np.random.default_rng(0)
    emb = torch.tensor(rng.normal(size=(7, 3)), dtype=torch.float32)
    y = torch.tensor([0, 1, 0, 2, 1, 0, 2])
    head = _head(n_classes=3)
    prototypes, present = head.compute_prototypes(emb, y)
    scores, e = _scores(head, emb), emb.numpy()
    for k in range(3):
        members = y.numpy() == k
        weights = softmax(scores[members, k])
        np.testing.assert_allclose(
            prototypes[k].detach().numpy(), weights @ e[members], rtol=1e-5
        )
    assert present.all()


def test_unlabelled_windows_join_by_soft_assignment():
    rng = np.random.default_rng(1)
    e = rng.normal(size=(9, 2))
    y = np.array([0, 0, 1, 1, 1, -1, -1, -1, -1])
    head = _head(embedding_dim=2, uniform=True)
    prototypes, _ = head.compute_prototypes(
        torch.tensor(e, dtype=torch.float32), torch.tensor(y)
    )
    # Semi-supervised prototypical networks (soft k-means, one step).
    labelled_means = np.stack([e[y == k].mean(0) for k in (0, 1)])
    u = e[y == -1]
    r = softmax(-((u[:, None] - labelled_means[None]) ** 2).sum(-1), axis=1)
    expected = np.stack(
        [
            (e[y == k].sum(0) + r[:, k] @ u) / ((y == k).sum() + r[:, k].sum())
            for k in (0, 1)
        ]
    )
    np.testing.assert_allclose(prototypes.detach().numpy(), expected, rtol=1e-5)


def test_class_absent_from_batch_keeps_its_stored_prototype():
    head = _head(n_classes=3)
    head.prototypes.copy_(torch.arange(9.0).view(3, 3))
    emb = torch.randn(4, 3)
    prototypes, present = head.compute_prototypes(emb, torch.tensor([0, 0, 2, -1]))
    assert present.tolist() == [True, False, True]
    np.testing.assert_array_equal(prototypes[1].detach().numpy(), [3.0, 4.0, 5.0])


def test_binary_logit_is_the_two_class_softmax_of_negative_distances():
    head = _head(embedding_dim=2)
    prototypes = torch.tensor([[0.0, 0.0], [1.0, 2.0]])
    emb = torch.tensor([[0.5, 0.5], [2.0, -1.0]])
    logit = head.logits(emb, prototypes)[:, 0].numpy()
    d = ((emb.numpy()[:, None] - prototypes.numpy()[None]) ** 2).sum(-1)
    np.testing.assert_allclose(
        1 / (1 + np.exp(-logit)), softmax(-d, axis=1)[:, 1], rtol=1e-6
    )


def test_mean_pairwise_distance_closed_form():
    prototypes = torch.tensor([[0.0, 0.0], [3.0, 4.0], [0.0, 1.0]])
    # Squared distances of the three pairs: 25, 1, 18.
    assert float(mean_pairwise_distance(prototypes)) == pytest.approx(44 / 3)


@pytest.mark.parametrize(
    "n_channels, n_groups, group_size", [(3, 3, 2), (4, 3, 2), (19, 3, 12), (5, 2, 2)]
)
def test_channel_groups_are_distinct_and_cover_when_they_can(
    n_channels, n_groups, group_size
):
    torch.manual_seed(0)
    for _ in range(50):
        groups = draw_channel_groups(n_channels, n_groups, group_size).numpy()
        assert groups.shape == (n_groups, group_size)
        assert all(len(set(g)) == group_size for g in groups)
        covered = len(set(groups.ravel()))
        assert covered == min(n_channels, n_groups * group_size)


def test_groups_are_grouped_convolutions_over_their_channels():
    torch.manual_seed(0)
    net = TapNet(5, 32, 1, n_groups=4, group_size=2, width=4)
    assert net.channel_groups.shape == (4, 2)
    x = torch.randn(3, 5, 32)
    net.eval()
    reference = net.embed(x)
    # A channel outside every group changes only the LSTM path: zeroing the
    # LSTM's input weights makes the embedding blind to it.
    outside = sorted(set(range(5)) - set(net.channel_groups.flatten().tolist()))
    if outside:
        torch.nn.init.zeros_(net.lstm.weight_ih_l0)
        x2 = x.clone()
        x2[:, outside[0]] += 10.0
        np.testing.assert_allclose(
            net.embed(x2).detach().numpy(), net.embed(x).detach().numpy(), atol=1e-6
        )
    assert reference.shape == (3, net.embedding_dim)


# -- the estimator ---------------------------------------------------------------


def test_predict_proba_is_softmax_of_distances_to_prototypes(bumps):
    X, y, _ = bumps
    clf = TapNetClassifier(**FAST).fit(X, y)
    e = clf.transform(X)
    d = ((e[:, None] - clf.prototypes_[None].astype(float)) ** 2).sum(-1)
    np.testing.assert_allclose(clf.predict_proba(X), softmax(-d, axis=1), atol=1e-4)


def test_final_prototypes_come_from_every_training_window(bumps):
    X, y, _ = bumps
    y = y.copy()
    y[::3] = -1
    clf = TapNetClassifier(**FAST).fit(X, y)
    head = clf.net_.module_.head
    e = clf.transform(X)
    scores = _scores(head, torch.tensor(e, dtype=torch.float32)).astype(float)

    def weighted(membership):
        w = membership * np.exp(scores - scores.max(0))
        return (w.T @ e) / w.sum(0)[:, None]

    membership = np.zeros((len(y), 2))
    membership[y >= 0, y[y >= 0]] = 1.0
    labelled = weighted(membership)
    u = e[y == -1]
    membership[y == -1] = softmax(-((u[:, None] - labelled[None]) ** 2).sum(-1), axis=1)
    np.testing.assert_allclose(clf.prototypes_, weighted(membership), rtol=1e-3)


def test_learns_an_easy_two_class_task():
    X, y, _ = bump_dataset(n_windows=200, n_times=128, seed=1)
    X_test, y_test, _ = bump_dataset(n_windows=200, n_times=128, seed=2)
    clf = TapNetClassifier(**FAST).fit(X, y)
    assert clf.score(X_test, y_test) > 0.9  # majority: 0.75


def _three_classes(n_windows, seed):
    """Class 0: noise; class 1: a bump on channel 0; class 2: on channel 2."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_windows, 3, 64))
    y = np.arange(n_windows) % 3
    bump = 4.0 * np.exp(-0.5 * ((np.arange(64) - 32) / 3.0) ** 2)
    X[y == 1, 0] += bump
    X[y == 2, 2] += bump
    return X, y


def test_multiclass_learns_and_gives_one_probability_per_class():
    X, y = _three_classes(240, seed=0)
    X_test, y_test = _three_classes(150, seed=1)
    clf = TapNetClassifier(**FAST).fit(X, y)
    proba = clf.predict_proba(X_test)
    assert proba.shape == (150, 3)
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-6)
    assert clf.prototypes_.shape == (3, 8)
    assert clf.score(X_test, y_test) > 0.8  # chance: 1/3


def test_minus_one_marks_unlabelled_windows_that_still_train():
    X, y, _ = bump_dataset(n_windows=200, n_times=128, seed=1)
    X_test, y_test, _ = bump_dataset(n_windows=200, n_times=128, seed=2)
    rng = np.random.default_rng(0)
    y_masked = np.where(rng.random(len(y)) < 0.7, -1, y)
    clf = TapNetClassifier(**FAST).fit(X, y_masked)
    assert list(clf.classes_) == [0, 1]
    assert set(clf.predict(X_test)) <= {0, 1}
    assert clf.score(X_test, y_test) > 0.85
    # The unlabelled windows move the prototypes: refitting without them
    # (same seed, same labelled windows) gives other prototypes.
    kept = y_masked != -1
    alone = clone(clf).fit(X[kept], y_masked[kept])
    assert not np.allclose(alone.prototypes_, clf.prototypes_)


def test_needs_a_labelled_window_of_every_class(bumps):
    X, y, _ = bumps
    y_one = np.where(y == 1, 1, -1)
    with pytest.raises(ValueError, match=r"at least 2 classes with at least one"):
        TapNetClassifier(**FAST).fit(X, y_one)


def test_channel_groups_follow_random_state_and_group_ratio(bumps):
    X, y, _ = bumps
    X6 = np.concatenate([X, X], axis=1)  # 6 channels
    a = TapNetClassifier(**{**FAST, "max_epochs": 1, "n_groups": 4}).fit(X6, y)
    b = TapNetClassifier(**{**FAST, "max_epochs": 1, "n_groups": 4}).fit(X6, y)
    assert a.channel_groups_.shape == (4, math.floor(6 * 2 / 3))
    np.testing.assert_array_equal(a.channel_groups_, b.channel_groups_)
    for group in a.channel_groups_:
        assert len(set(group)) == len(group)  # without replacement
    c = TapNetClassifier(
        **{**FAST, "max_epochs": 1, "n_groups": 4, "group_ratio": 0.5}
    ).fit(X6, y)
    assert c.channel_groups_.shape == (4, 3)
    seeds = [
        TapNetClassifier(**{**FAST, "max_epochs": 1, "random_state": s})
        .fit(X6, y)
        .channel_groups_
        for s in range(4)
    ]
    assert any(not np.array_equal(seeds[0], s) for s in seeds[1:])


def test_sizes_reach_the_network(bumps):
    X, y, _ = bumps
    clf = TapNetClassifier(**{**FAST, "max_epochs": 1, "n_blocks": 4}).fit(X, y)
    convs = [m for m in clf.net_.module_.encoder if isinstance(m, torch.nn.Conv1d)]
    assert [c.kernel_size[0] for c in convs] == [8, 5, 3, 3]
    assert convs[-1].out_channels == 3 * FAST["width"]  # 3 groups
    assert clf.transform(X).shape == (len(X), FAST["mapping_dims"][-1])


@pytest.mark.parametrize(
    "params, match",
    [
        ({"n_groups": 0}, "The 'n_groups' parameter of "),
        ({"group_ratio": 0.0}, "The 'group_ratio' parameter of "),
        ({"group_ratio": 1.5}, "The 'group_ratio' parameter of "),
        ({"dilation": 0}, "The 'dilation' parameter of "),
        ({"mapping_dims": ()}, "mapping_dims must be a non-empty tuple"),
        ({"mapping_dims": (8, 0)}, "mapping_dims must be a non-empty tuple"),
        ({"lstm_hidden": 2.5}, "The 'lstm_hidden' parameter of "),
        ({"prototype_separation": -1.0}, "The 'prototype_separation' parameter of "),
        ({"width": 0}, "The 'width' parameter of "),
    ],
)
def test_fit_rejects_bad_parameters(params, match, bumps):
    X, y, _ = bumps
    with pytest.raises(ValueError, match=match):
        TapNetClassifier(**{**FAST, **params}).fit(X, y)


# -- the common 3-D contract --------------------------------------------------------
# test_common's DEEP_ESTIMATORS suite includes a test that -1 is an ordinary
# class, which a semi-supervised estimator refuses by design; the other
# contract tests run here on TapNet.
_CONTRACT = [
    common.test_fit_predict_3d_shapes,
    common.test_string_labels_round_trip,
    common.test_refit_on_another_montage,
    common.test_predict_rejects_channel_count_change,
    common.test_predict_rejects_time_count_change,
    common.test_pickle_and_clone_after_fit,
    common.test_random_state_makes_training_reproducible,
]


@pytest.mark.parametrize("contract", _CONTRACT, ids=lambda f: f.__name__)
def test_meets_the_3d_contract(contract, bumps):
    contract(TapNetClassifier(**common.FAST), bumps)
