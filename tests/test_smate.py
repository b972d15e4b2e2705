"""SMATE: the module, the three-step centroids, the batch sampler, the estimator."""

from __future__ import annotations

import pickle
import re

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.metrics import balanced_accuracy_score

from skeeg import SMATEClassifier
from skeeg.estimators.smate_classifier import C_GRID, ClassCoveringBatchSampler
from skeeg.models.smate import SMATELoss, SMATENet, SpatialModellingBlock
from skeeg.models.smate import smate_centroids as centroids_of
from tests.conftest import bump_dataset

#: Tiny and fast: one GRU, 4-8 units.
SMALL = dict(
    width=4,
    hidden_size=4,
    gru_layers=1,
    embedding_size=8,
    max_epochs=10,
    batch_size=32,
    random_state=0,
)


def _mask(y, fraction, seed=0):
    """``y`` with -1 outside a stratified labelled ``fraction`` of windows."""
    rng = np.random.default_rng(seed)
    masked = np.full_like(y, -1)
    for k in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == k))
        keep = idx[: max(1, round(fraction * len(idx)))]
        masked[keep] = y[keep]
    return masked


# -- the module --------------------------------------------------------------


@pytest.mark.parametrize(
    "spatial, temporal", [(True, True), (True, False), (False, True)]
)
def test_module_shapes(spatial, temporal):
    net = SMATENet(
        3, 50, width=4, hidden_size=5, gru_layers=2, embedding_size=6,
        pool_size=16, use_spatial=spatial, use_temporal=temporal,
    )  # fmt: skip
    x = torch.randn(7, 3, 50)
    embedding, reconstruction = net(x)
    # ceil(50 / 16) = 4 segments of 6 features.
    assert net.embedding_dim == 24
    assert embedding.shape == (7, 24)
    assert reconstruction.shape == x.shape
    assert (net.spatial is not None, net.temporal is not None) == (spatial, temporal)
    net.eval()
    torch.testing.assert_close(net.embed(x), net(x)[0])


def test_module_needs_one_encoder():
    with pytest.raises(ValueError, match="use_spatial and use_temporal are both"):
        SMATENet(3, 50, use_spatial=False, use_temporal=False)


def test_spatial_block_with_zero_output_weights_halves_the_input():
    block = SpatialModellingBlock(3, 2, window=4)
    with torch.no_grad():
        block.weights[2].weight.zero_()  # sigmoid(0) = 0.5 everywhere
    h = torch.randn(2, 3, 10)
    torch.testing.assert_close(block(h), 0.5 * h)


def test_spatial_block_weights_are_constant_within_a_segment():
    block = SpatialModellingBlock(2, 3, window=4)
    h = torch.rand(1, 2, 12) + 0.5
    ratio = (block(h) / h)[0]
    for start in (0, 4, 8):
        segment = ratio[:, start : start + 4]
        torch.testing.assert_close(segment, segment[:, :1].expand_as(segment))
    assert not torch.allclose(ratio[:, 0], ratio[:, 4])


# -- the three steps ---------------------------------------------------------


def _inverse_proba(h, c):
    d = np.linalg.norm(h[:, None] - c[None], axis=2)
    w = 1 / d
    return w / w.sum(axis=1, keepdims=True)


def test_centroids_follow_the_three_steps():
    h = np.array([[0.0, 0.0], [2.0, 0.0], [4.0, 4.0], [5.0, 4.0], [1.0, 1.0]])
    y = np.array([0, 0, 1, 1, -1])
    # Step 1: class means.
    c1 = np.array([[1.0, 0.0], [4.5, 4.0]])
    # Step 2: labelled windows weighted by the inverse-distance probability
    # of their own class.
    w = _inverse_proba(h[:4], c1)[np.arange(4), y[:4]]
    c2 = np.array(
        [
            np.average(h[:2], axis=0, weights=w[:2]),
            np.average(h[2:4], axis=0, weights=w[2:]),
        ]
    )
    # Step 3: the unlabelled window joins its nearest class with its
    # probability as weight.
    p_u = _inverse_proba(h[4:], c2)[0]
    k = int(np.argmax(p_u))
    assert k == 0
    c3 = c2.copy()
    c3[0] = (w[0] * h[0] + w[1] * h[1] + p_u[0] * h[4]) / (w[0] + w[1] + p_u[0])

    centroids, labels = centroids_of(
        torch.tensor(h, dtype=torch.float64), torch.tensor(y), 2, kind="inverse"
    )
    np.testing.assert_allclose(centroids.numpy(), c3, rtol=1e-6)
    np.testing.assert_array_equal(labels.numpy(), [0, 0, 1, 1, 0])


def test_regularisation_is_the_cross_entropy_of_distance_probabilities():
    rng = np.random.default_rng(0)
    h = rng.normal(size=(8, 3))
    y = np.array([0, 0, 1, 1, 2, 2, -1, -1])
    h_t, y_t = torch.tensor(h, requires_grad=True), torch.tensor(y)
    centroids, labels = centroids_of(h_t, y_t, 3)
    p = _inverse_proba(h, centroids.detach().numpy())
    labels = labels.numpy()
    everyone = -np.mean(np.log(p[np.arange(8), labels]))
    labelled_only = -np.mean(np.log(p[np.arange(6), labels[:6]]))
    for flag, expected in ((True, everyone), (False, labelled_only)):
        loss = SMATELoss(3, reg_unlabelled=flag).regularisation(h_t, y_t)
        assert loss.item() == pytest.approx(expected, rel=1e-6)
    # Either way the unlabelled windows move the centroids, so they get a
    # gradient.
    SMATELoss(3, reg_unlabelled=False).regularisation(h_t, y_t).backward()
    assert torch.all(h_t.grad[6:].abs().sum(1) > 0)


def test_regularisation_skips_classes_missing_from_the_batch():
    h = torch.randn(4, 2, dtype=torch.float64)
    full = SMATELoss(3).regularisation(h, torch.tensor([0, 0, 2, 2]))
    reindexed = SMATELoss(2).regularisation(h, torch.tensor([0, 0, 1, 1]))
    torch.testing.assert_close(full, reindexed)
    assert float(SMATELoss(3).regularisation(h, torch.tensor([1, 1, -1, -1]))) == 0


def test_reconstruction_is_the_mean_error_norm_over_samples():
    x = torch.zeros(2, 2, 3)
    x_rec = torch.zeros(2, 2, 3)
    x_rec[0, :, 0] = torch.tensor([3.0, 4.0])  # one sample off by norm 5
    assert float(SMATELoss(2).reconstruction(x, x_rec)) == pytest.approx(
        5 / 6, abs=1e-5
    )


# -- the batch sampler -----------------------------------------------------------


@pytest.mark.parametrize("batch_size", [1, 7, 32, 500])
def test_every_batch_holds_every_class(batch_size):
    y = np.array([0] * 40 + [1] * 3 + [2] * 10 + [-1] * 100)
    sampler = ClassCoveringBatchSampler(y, batch_size, random_state=0)
    for _ in range(3):  # three epochs
        batches = list(sampler)
        assert len(batches) == len(sampler) == int(np.ceil(len(y) / batch_size))
        for batch in batches:
            assert set(y[batch]) >= {0, 1, 2}
            assert len(batch) <= batch_size + 3
        np.testing.assert_array_equal(
            np.unique(np.concatenate(batches)), np.arange(len(y))
        )


def test_batch_sampler_is_reproducible_and_reshuffles():
    y = np.array([0, 1] * 30)
    a = list(ClassCoveringBatchSampler(y, 8, random_state=1))
    b_sampler = ClassCoveringBatchSampler(y, 8, random_state=1)
    assert list(b_sampler) == a
    assert list(b_sampler) != a  # the next epoch


def test_batch_sampler_needs_every_class_index():
    with pytest.raises(ValueError, match="class indices 0..n_classes-1"):
        ClassCoveringBatchSampler(np.array([0, 2, -1]), 4)


# -- the estimator ---------------------------------------------------------


@pytest.fixture(scope="module")
def easy():
    """Bumps (positives) vs noise, balanced, and an independent test set."""
    X, y, _ = bump_dataset(n_windows=160, n_times=64, prevalence=0.5, seed=1)
    X_test, y_test, _ = bump_dataset(n_windows=200, n_times=64, prevalence=0.5, seed=2)
    return X, y, X_test, y_test


def test_fit_predict_shapes(easy):
    X, y, _, _ = easy
    clf = SMATEClassifier(**SMALL).fit(X, y)
    assert clf.predict(X).shape == (len(X),)
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert clf.decision_function(X).shape == (len(X),)
    assert clf.transform(X).shape == (len(X), 8)  # 1 segment of 8 features
    assert clf.net_.module_.embedding_dim == 8


def test_learns_an_easy_two_class_task(easy):
    X, y, X_test, y_test = easy
    clf = SMATEClassifier(**SMALL).fit(X, y)
    assert clf.score(X_test, y_test) > 0.85


def test_ten_percent_labels_beat_chance(easy):
    X, y, X_test, y_test = easy
    y_masked = _mask(y, 0.1)
    assert np.sum(y_masked >= 0) == 16
    clf = SMATEClassifier(**SMALL).fit(X, y_masked)
    assert list(clf.classes_) == [0, 1]
    assert clf.score(X_test, y_test) > 0.7


def test_unlabelled_windows_train_the_embedding_not_the_svm(easy):
    X, y, _, _ = easy
    y_masked = _mask(y, 0.25)
    labelled = y_masked >= 0
    supervised = SMATEClassifier(**SMALL).fit(X[labelled], y_masked[labelled])
    semi = SMATEClassifier(**SMALL).fit(X, y_masked)
    # The unlabelled windows changed the network...
    assert not np.allclose(supervised.transform(X), semi.transform(X))
    # ...but the SVM saw the labelled windows only.
    svm = semi.svm_.calibrated_classifiers_[0].estimator
    assert svm.shape_fit_ == (labelled.sum(), 8)
    embedding = semi.transform(X)
    for vector in svm.support_vectors_:
        distances = np.abs(embedding - vector).max(axis=1)
        assert labelled[np.argmin(distances)] and distances.min() < 1e-5


def test_one_labelled_window_per_class_is_enough(easy):
    X, y, _, _ = easy
    y_masked = np.full_like(y, -1)
    y_masked[np.flatnonzero(y == 0)[0]] = 0
    y_masked[np.flatnonzero(y == 1)[0]] = 1
    clf = SMATEClassifier(**{**SMALL, "max_epochs": 2}).fit(X, y_masked)
    assert clf.predict_proba(X).shape == (len(X), 2)


def test_probabilities_keep_the_svm_order_on_few_labels(easy):
    X, y, X_test, _ = easy
    labelled = _mask(y, 0.1) >= 0  # 16 windows: 5-fold calibration inverted
    clf = SMATEClassifier(**SMALL).fit(X[labelled], y[labelled])
    (calibrated,) = clf.svm_.calibrated_classifiers_
    decision = calibrated.estimator.decision_function(clf.transform(X_test))
    proba = clf.predict_proba(X_test)[:, 1]
    assert np.all(np.diff(proba[np.argsort(decision)]) >= 0)


def _imbalanced_weak(n_windows, seed):
    """Bumps in 30 % of the windows; a bump window is class 1 with
    probability 0.4, a noise window with 0.05: ~15 % of class 1, and every
    window more likely class 0 (a model of the prior calls all of them 0),
    yet "bump -> 1" has a balanced accuracy of ~0.8 (an independent count:
    0.5 * (0.12 / 0.155 + 0.665 / 0.845))."""
    X, bump, _ = bump_dataset(
        n_windows=n_windows, n_times=64, prevalence=0.3, seed=seed
    )
    u = np.random.default_rng(seed + 100).random(n_windows)
    return X, np.where(bump == 1, u < 0.4, u < 0.05).astype(int)


def test_balanced_head_predicts_the_minority_class():
    X, y = _imbalanced_weak(200, 1)
    X_test, y_test = _imbalanced_weak(300, 2)
    params = {**SMALL, "max_epochs": 5}
    clf = SMATEClassifier(**params).fit(X, y)
    predicted = clf.predict(X_test)
    assert 0.1 < np.mean(predicted == 1) < 0.6
    assert balanced_accuracy_score(y_test, predicted) > 0.7
    # The unweighted head (skeeg's before issue #24) calls every window 0.
    unweighted = SMATEClassifier(**params, C=1.0, class_weight=None).fit(X, y)
    assert balanced_accuracy_score(y_test, unweighted.predict(X_test)) < 0.6


def test_c_auto_picks_from_the_grid_and_a_float_c_is_kept(easy):
    X, y, _, _ = easy
    params = {**SMALL, "max_epochs": 1}
    auto = SMATEClassifier(**params).fit(X, y, groups=np.arange(len(X)) % 8)
    assert auto.C_ in C_GRID
    assert auto.svm_.calibrated_classifiers_[0].estimator.C == auto.C_
    fixed = SMATEClassifier(**params, C=0.5).fit(X, y)
    assert fixed.C_ == 0.5


def test_c_auto_takes_the_smallest_c_on_a_tie():
    # Two far-apart clusters: every C ranks the held-out windows perfectly.
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 20)
    embedding = rng.normal(size=(40, 3)) + 10.0 * y[:, None]
    clf = SMATEClassifier(random_state=0)
    clf.classes_ = np.array([0, 1])
    assert clf._choose_C(embedding, y, np.ones(40), None) == C_GRID[0]


def test_class_weight_dict_weighs_the_svm_windows(easy):
    X, y, _, _ = easy
    params = {**SMALL, "max_epochs": 1, "C": 1.0, "class_weight": {0: 1.0, 1: 3.0}}
    clf = SMATEClassifier(**params)
    clf.fit(X, y)
    np.testing.assert_array_equal(clf._sample_weight(np.array([0, 1, 1])), [1, 3, 3])


@pytest.mark.parametrize("labels", [[0, -1], [-1]])
def test_fit_needs_a_labelled_window_of_two_classes(easy, labels):
    X, _, _, _ = easy
    y = np.array(labels)[np.arange(len(X)) % len(labels)]
    with pytest.raises(ValueError, match="at least one labelled window each"):
        SMATEClassifier(**SMALL).fit(X, y)


def test_multiclass(easy):
    X, y, _, _ = easy
    y3 = np.where(y == 1, 1, np.arange(len(y)) % 2 * 2)  # noise split into 0 and 2
    y3[::3] = -1
    clf = SMATEClassifier(**{**SMALL, "max_epochs": 3}).fit(X, y3)
    assert list(clf.classes_) == [0, 1, 2]
    assert clf.predict_proba(X).shape == (len(X), 3)
    assert clf.decision_function(X).shape == (len(X), 3)
    np.testing.assert_array_equal(
        clf.predict(X), clf.classes_[clf.predict_proba(X).argmax(axis=1)]
    )


def test_decision_function_agrees_with_threshold(easy):
    X, y, _, _ = easy
    clf = SMATEClassifier(**{**SMALL, "threshold": 0.3}).fit(X, y)
    proba = clf.predict_proba(X)[:, 1]
    decision = clf.decision_function(X)
    np.testing.assert_array_equal(decision > 0, proba > 0.3)
    np.testing.assert_array_equal(
        clf.predict(X), clf.classes_[(proba > 0.3).astype(int)]
    )
    np.testing.assert_allclose(
        decision, np.log(proba / (1 - proba)) - np.log(0.3 / 0.7)
    )


@pytest.mark.parametrize("switch", ["use_spatial", "use_temporal"])
def test_ablation_switches_drop_an_encoder(easy, switch):
    X, y, X_test, y_test = easy
    clf = SMATEClassifier(**{**SMALL, switch: False}).fit(X, y)
    module = clf.net_.module_
    assert (module.spatial is None) == (switch == "use_spatial")
    assert (module.temporal is None) == (switch == "use_temporal")
    assert clf.score(X_test, y_test) > 0.6


@pytest.mark.parametrize(
    "params, error, match",
    [
        ({"use_spatial": False, "use_temporal": False}, ValueError, "both False"),
        ({"threshold": "auto"}, ValueError, "TunedThresholdClassifierCV"),
        ({"distance": "cosine"}, ValueError, "The 'distance' parameter of "),
        ({"lambda_reg": -1.0}, ValueError, "The 'lambda_reg' parameter of "),
        ({"C": 0.0}, ValueError, "The 'C' parameter of "),
        ({"C": "best"}, ValueError, "The 'C' parameter of "),
        ({"class_weight": "equal"}, ValueError, "The 'class_weight' parameter of "),
        ({"class_weight": {0: 1.0, 7: 2.0}}, ValueError, "class_weight has labels"),
        ({"class_weight": {0: 1.0, 1: 0.0}}, ValueError, "weights > 0"),
        ({"hidden_size": 0}, ValueError, "The 'hidden_size' parameter of "),
        ({"kernel_sizes": (8, 5)}, ValueError, "kernel_sizes must be a tuple of 3"),
        ({"reg_unlabelled": "yes"}, TypeError, "The 'reg_unlabelled' parameter of "),
    ],
)
def test_fit_rejects_bad_parameters(easy, params, error, match):
    X, y, _, _ = easy
    with pytest.raises(error, match=match):
        SMATEClassifier(**{**SMALL, "max_epochs": 1, **params}).fit(X[:20], y[:20])


def test_predict_rejects_channel_count_change(easy):
    X, y, _, _ = easy
    clf = SMATEClassifier(**{**SMALL, "max_epochs": 1}).fit(X, y)
    msg = "X has 2 channels, but SMATEClassifier was fitted with 3 channels"
    with pytest.raises(ValueError, match=re.escape(msg)):
        clf.predict(X[:, :2])


def test_reproducible_and_picklable(easy):
    X, y, _, _ = easy
    params = {**SMALL, "max_epochs": 3}
    a = SMATEClassifier(**params).fit(X, y)
    b = clone(a).fit(X, y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    np.testing.assert_array_equal(a.transform(X), b.transform(X))
    restored = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(restored.predict_proba(X), a.predict_proba(X))
    c = clone(a).set_params(random_state=1).fit(X, y)
    assert not np.array_equal(a.transform(X), c.transform(X))


def test_validation_split_keeps_the_lowest_validation_loss(easy):
    X, y, _, _ = easy
    groups = np.arange(len(X)) % 8
    clf = SMATEClassifier(**{**SMALL, "validation_fraction": 0.25, "patience": 3})
    clf.fit(X, _mask(y, 0.5), groups=groups)
    history = clf.net_.history
    losses = history[:, "valid_loss"]
    assert len(losses) <= SMALL["max_epochs"]
    best = int(np.argmin(losses))
    assert history[best, "valid_loss_best"]
    # Early stopping ends 3 epochs after the best one, or at max_epochs.
    assert len(losses) in (best + 4, SMALL["max_epochs"])
