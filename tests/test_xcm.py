"""XCMClassifier, its Grad-CAM explanations and the explanation plot."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
import torch

from skeeg import XCMClassifier
from skeeg.models.xcm import XCMNet, grad_cam
from skeeg.plotting import plot_explanation
from tests.conftest import bump_dataset
from tests.test_common import FAST

matplotlib.use("Agg")

#: Where the class-defining burst sits: channel 1, samples 80-96 of 128.
BURST_CHANNEL, BURST = 1, slice(80, 96)


def burst_dataset(n_windows, seed):
    """Noise on 3 channels; class 1 carries a 16-sample, 2-cycle burst at a
    fixed place on one channel."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_windows, 3, 128))
    y = np.arange(n_windows) % 2
    t = np.arange(16)
    X[y == 1, BURST_CHANNEL, BURST] += 4.0 * np.sin(2 * np.pi * t / 8) * np.hanning(16)
    return X, y


@pytest.fixture(scope="module")
def fitted():
    X, y = burst_dataset(200, seed=0)
    return XCMClassifier(**FAST).fit(X, y)


def test_learns_the_burst_task(fitted):
    X_test, y_test = burst_dataset(200, seed=1)
    assert fitted.score(X_test, y_test) > 0.9  # chance: 0.5


def test_learns_an_easy_bump_task():
    X, y, _ = bump_dataset(n_windows=200, n_times=128, seed=1)
    X_test, y_test, _ = bump_dataset(n_windows=200, n_times=128, seed=2)
    clf = XCMClassifier(**FAST).fit(X, y)
    assert clf.score(X_test, y_test) > 0.9  # majority: 0.75


def test_explanations_have_the_input_shape(fitted):
    X, _ = burst_dataset(10, seed=2)
    attributions = fitted.explain(X)
    assert attributions.shape == (10, 3, 128)
    assert attributions.min() >= 0
    np.testing.assert_allclose(attributions.max(axis=(1, 2)), 1.0, rtol=1e-6)
    assert fitted.explain(X, branch="1d").shape == (10, 128)


def test_attribution_concentrates_on_the_planted_burst(fitted):
    X, y = burst_dataset(100, seed=3)
    attributions = fitted.explain(X[y == 1], target=1)
    per_channel = attributions.mean(axis=(0, 2))
    others = np.delete(per_channel, BURST_CHANNEL)
    assert per_channel[BURST_CHANNEL] > 1.5 * others.max()
    # Along time: the samples whose receptive field (window_ wide, centred)
    # touches the burst, against the rest of the burst channel.
    half = fitted.window_ // 2
    span = np.r_[BURST.start - half : BURST.stop + half]
    on_channel = attributions[:, BURST_CHANNEL]
    inside = on_channel[:, span].mean()
    assert inside > 1.5 * np.delete(on_channel, span, axis=1).mean()
    # The cross-channel branch points at the burst's time span too.
    times = fitted.explain(X[y == 1], target=1, branch="1d")
    assert times[:, span].mean() > 1.4 * np.delete(times, span, axis=1).mean()


def test_target_per_window_and_batching_give_the_same_maps(fitted):
    X, _ = burst_dataset(40, seed=4)
    target = np.arange(40) % 2
    whole = fitted.explain(X, target=target)
    small = fitted.set_params(batch_size=7)  # batches of 7 slice the targets
    try:
        np.testing.assert_allclose(small.explain(X, target=target), whole, atol=1e-5)
    finally:
        fitted.set_params(batch_size=FAST["batch_size"])
    np.testing.assert_allclose(
        fitted.explain(X[:5], target=target[:5]), whole[:5], atol=1e-5
    )


def test_binary_classes_split_the_raw_gradcam_map(fitted):
    # With one logit z the class scores are z and -z: their Grad-CAM sums
    # are S and -S, so the two rectified maps never overlap and differ by S.
    X, _ = burst_dataset(6, seed=5)
    one = fitted.explain(X, target=1, normalize=False)
    zero = fitted.explain(X, target=0, normalize=False)
    assert np.all(np.minimum(one, zero) == 0)
    assert (one + zero).max() > 0


def test_gradcam_is_the_mean_gradient_weighted_map():
    # One filter: Grad-CAM's map is relu(alpha * A), alpha the mean over
    # positions of d(logit)/dA, here taken from a separate backward pass.
    torch.manual_seed(0)
    net = XCMNet(2, 6, 1, window=1, width=1).eval()
    x = torch.randn(1, 2, 6)
    cam = grad_cam(net, x, torch.tensor([1]), normalize=False)
    maps, _ = net.feature_maps(x)
    maps = maps.detach().requires_grad_(True)
    logit = net.head(net.embed_maps(maps, net.branch_1d(x)))[0, 0]
    (grad,) = torch.autograd.grad(logit, maps)
    expected = torch.relu(grad.mean() * maps[0, 0]).detach()
    np.testing.assert_allclose(cam[0].numpy(), expected.numpy(), rtol=1e-5)


@pytest.mark.parametrize(
    "window, n_times, expected",
    # ceil(0.3 * 128) = ceil(38.4) = 39, ceil(0.3 * 64) = ceil(19.2) = 20
    [(0.3, 128, 39), (0.3, 64, 20), (1.0, 50, 50), (7, 64, 7)],
)
def test_window_is_a_fraction_or_samples(window, n_times, expected, bumps):
    X, y, _ = bumps
    X = np.resize(X, (len(X), 3, n_times))
    clf = XCMClassifier(**{**FAST, "max_epochs": 1, "window": window}).fit(X, y)
    assert clf.window_ == expected
    conv = clf.net_.module_.branch_1d[0]
    assert conv.kernel_size == (expected,)


def test_n_blocks_stacks_convolutions(bumps):
    X, y, _ = bumps
    clf = XCMClassifier(**{**FAST, "max_epochs": 1, "n_blocks": 2}).fit(X, y)
    module = clf.net_.module_
    assert sum(isinstance(m, torch.nn.Conv2d) for m in module.branch_2d) == 2
    assert sum(isinstance(m, torch.nn.Conv1d) for m in module.branch_1d) == 2
    assert clf.explain(X[:3]).shape == (3, 3, 64)


def test_multiclass_probabilities_and_explanations():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(150, 3, 64))
    y = np.arange(150) % 3
    X[y == 1, 0, 20:30] += 3.0
    X[y == 2, 2, 40:50] += 3.0
    clf = XCMClassifier(**FAST).fit(X, y)
    assert clf.predict_proba(X).shape == (150, 3)
    assert clf.score(X, y) > 0.8
    assert clf.explain(X[:4], target=2).shape == (4, 3, 64)


@pytest.mark.parametrize(
    "window, error, match",
    [
        (0.0, ValueError, "The 'window' parameter of XCMClassifier must be"),
        (1.5, ValueError, "The 'window' parameter of XCMClassifier must be"),
        (65, ValueError, "window=65 samples must be between 1 and n_times=64"),
        ("wide", TypeError, "The 'window' parameter of XCMClassifier must be"),
    ],
)
def test_fit_rejects_bad_windows(window, error, match, bumps):
    X, y, _ = bumps
    with pytest.raises(error, match=match):
        XCMClassifier(**{**FAST, "window": window}).fit(X, y)


def test_explain_rejects_unknown_targets_and_branches(fitted):
    X, _ = burst_dataset(4, seed=6)
    with pytest.raises(ValueError, match=r"target 'spike' is not a class"):
        fitted.explain(X, target="spike")
    with pytest.raises(ValueError, match="branch must be '2d' or '1d'"):
        fitted.explain(X, branch="3d")
    with pytest.raises(ValueError, match="X has 2 channels"):
        fitted.explain(X[:, :2])


def test_plot_explanation_draws_each_channel_over_the_map(fitted):
    X, _ = burst_dataset(2, seed=7)
    attribution = fitted.explain(X)[0]
    ax = plot_explanation(X[0], attribution, sfreq=128.0, ch_names=["C3", "C4", "O2"])
    assert len(ax.lines) == 3
    assert [t.get_text() for t in ax.get_yticklabels()] == ["C3", "C4", "O2"]
    np.testing.assert_allclose(ax.images[0].get_array(), attribution)
    assert ax.get_xlabel() == "Time (s)"
    ax_1d = plot_explanation(X[0], fitted.explain(X, branch="1d")[0])
    assert ax_1d.images[0].get_array().shape == (3, 128)


def test_plot_explanation_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="attribution has shape"):
        plot_explanation(np.zeros((3, 10)), np.zeros((2, 10)))
    with pytest.raises(ValueError, match="ch_names has 1 names"):
        plot_explanation(np.zeros((3, 10)), np.zeros((3, 10)), ch_names=["a"])
