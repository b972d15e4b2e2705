"""Tests of skeeg.training.losses against closed forms and reference losses."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from skeeg.training.losses import (
    BCELoss,
    FocalLoss,
    SaSuLoss,
    WarmupLoss,
    WeightedBCELoss,
)

N_POS, N_NEG = 20, 980
Z = np.array([-4.0, -1.5, -0.3, 0.0, 0.2, 1.1, 3.0, -2.2, 0.7, 2.5])
Y = np.array([0, 0, 0, 0, 0, 0, 0, 1, 1, 1])


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _hand_c_beta(beta, n1, n0, n0s):
    p_s = n1 / (n1 + n0s)
    alpha = n0 / n0s
    return beta**2 * p_s / (alpha * (1 - p_s))


def _hand_sasu(z, y, beta, gamma_pos, gamma_neg, n1, n0, n0s):
    """Per-window SaSu and dL/dz from the method-spec equations, numpy float64."""
    c = _hand_c_beta(beta, n1, n0, n0s)
    f = _sigmoid(z)
    mod_pos = (1 - f) ** gamma_pos
    mod_neg = f**gamma_neg
    value = -mod_pos * y * np.log(f) + mod_neg * (1 - y) * np.log(c + f)
    grad = np.where(y == 1, -mod_pos * (1 - f), mod_neg * f * (1 - f) / (c + f))
    return value, grad


def _value_and_grad(loss, z, y, dtype=torch.float64):
    logits = torch.tensor(z, dtype=dtype, requires_grad=True)
    value = loss(logits, torch.tensor(y))
    value.backward()
    return value.detach().numpy(), logits.grad.numpy()


@pytest.mark.parametrize("beta", [0.5, 1.0, 2.0])
@pytest.mark.parametrize("gammas", [(0.0, 0.0), (0.5, 0.5), (1.0, 1.0), (1.0, 0.5)])
@pytest.mark.parametrize("n_neg_sampled", [None, 20, 245, N_NEG])
def test_sasu_value_and_gradient_match_closed_form(beta, gammas, n_neg_sampled):
    gamma_pos, gamma_neg = gammas
    n0s = N_NEG if n_neg_sampled is None else n_neg_sampled
    loss = SaSuLoss(beta, gamma_pos, gamma_neg, N_POS, N_NEG, n_neg_sampled)
    value, grad = _value_and_grad(loss, Z, Y)
    hand_value, hand_grad = _hand_sasu(
        Z, Y, beta, gamma_pos, gamma_neg, N_POS, N_NEG, n0s
    )
    np.testing.assert_allclose(value, hand_value.mean(), rtol=1e-12)
    np.testing.assert_allclose(grad, hand_grad / len(Z), rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize("gamma", [0.0, 0.5, 1.0])
def test_sasu_matches_naive_probability_space_implementation(gamma):
    rng = np.random.default_rng(3)
    z = torch.tensor(rng.normal(0, 4, 200), requires_grad=True)
    y = torch.tensor(rng.integers(0, 2, 200), dtype=torch.float64)
    c = 2.0**2 * 7 / 993
    f = torch.sigmoid(z)
    f_hat = f.detach()
    naive = (
        -((1 - f_hat) ** gamma) * y * torch.log(f)
        + f_hat**gamma * (1 - y) * torch.log(c + f)
    ).mean()
    (naive_grad,) = torch.autograd.grad(naive, z)
    loss = SaSuLoss(2.0, gamma, gamma, n_pos=7, n_neg=993, n_neg_sampled=100)
    value, grad = _value_and_grad(loss, z.detach().numpy(), y.numpy())
    np.testing.assert_allclose(value, naive.item(), rtol=1e-12)
    np.testing.assert_allclose(grad, naive_grad.numpy(), rtol=1e-10, atol=1e-16)


def test_sasu_gamma_zero_is_unregularised_sasu():
    z = np.concatenate([Z, [-30.0, 30.0, -30.0, 30.0]])
    y = np.concatenate([Y, [0, 0, 1, 1]])
    c = 1.5**2 * N_POS / N_NEG
    f = _sigmoid(z)
    plain = -y * np.log(f) + (1 - y) * np.log(c + f)
    loss = SaSuLoss(1.5, 0.0, 0.0, N_POS, N_NEG, reduction="none")
    per_window = loss(torch.tensor(z), torch.tensor(y)).numpy()
    # atol: the naive -log f at z = 30 has lost its leading digits (about 1e-13).
    np.testing.assert_allclose(per_window, plain, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("gamma", [0.0, 0.5])
def test_sasu_without_sampling_equals_sf(gamma):
    sampled_all = SaSuLoss(1.0, gamma, gamma, N_POS, N_NEG, n_neg_sampled=N_NEG)
    sf = SaSuLoss(1.0, gamma, gamma, N_POS, N_NEG)
    v1, g1 = _value_and_grad(sampled_all, Z, Y)
    v2, g2 = _value_and_grad(sf, Z, Y)
    np.testing.assert_allclose(v1, v2, rtol=1e-14)
    np.testing.assert_allclose(g1, g2, rtol=1e-14)


@given(
    n1=st.integers(1, 10**6),
    n0=st.integers(1, 10**7),
    fraction=st.floats(1e-6, 1.0),
    beta=st.floats(0.1, 10.0),
)
def test_sasu_c_beta_depends_on_full_imbalance_only(n1, n0, fraction, beta):
    n0s = max(1, min(n0, round(fraction * n0)))
    loss = SaSuLoss(beta, n_pos=n1, n_neg=n0, n_neg_sampled=n0s)
    assert math.isclose(loss.c_beta, beta**2 * n1 / n0, rel_tol=1e-9)


@pytest.mark.parametrize("gamma", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("magnitude", [50.0, 100.0])
def test_sasu_value_and_gradient_finite_when_saturated(gamma, magnitude):
    z = np.array([-magnitude, magnitude, -magnitude, magnitude])
    y = np.array([0, 0, 1, 1])
    loss = SaSuLoss(1.0, gamma, gamma, N_POS, N_NEG, reduction="sum")
    value, grad = _value_and_grad(loss, z, y, dtype=torch.float32)
    assert np.isfinite(value) and np.all(np.isfinite(grad))
    c = N_POS / N_NEG
    # The negative at f = 1 costs log(c + 1), the positive at f = 0 costs
    # -log f = magnitude, the negative at f = 0 costs f_hat^gamma log c (log c
    # for gamma = 0, about 0 otherwise), the positive at f = 1 about 0. Only the
    # misclassified positive has a gradient: -(1 - f)^gamma (1 - f) = -1.
    expected = math.log(c + 1) + magnitude + (math.log(c) if gamma == 0 else 0.0)
    np.testing.assert_allclose(value, expected, rtol=1e-5)
    np.testing.assert_allclose(grad, [0.0, 0.0, -1.0, 0.0], atol=1e-6)


def test_sasu_modulator_zero_power_zero_is_one():
    # sigmoid(-200) is 0 in float32: f_hat**0 must still be 1.
    z = torch.tensor([-200.0])
    y = torch.tensor([0])
    plain = SaSuLoss(1.0, 0.0, 0.0, N_POS, N_NEG)(z, y).item()
    regularised = SaSuLoss(1.0, 0.5, 0.5, N_POS, N_NEG)(z, y).item()
    assert plain == pytest.approx(math.log(N_POS / N_NEG), rel=1e-6)
    assert regularised == pytest.approx(0.0, abs=1e-30)


def test_sasu_without_counts_raises():
    loss = SaSuLoss()
    with pytest.raises(ValueError, match="SaSuLoss needs n_pos and n_neg"):
        loss(torch.zeros(3), torch.tensor([0, 1, 0]))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"beta": 0.0}, "beta"),
        ({"beta": -1.0}, "beta"),
        ({"gamma_pos": -0.1}, "gamma_pos"),
        ({"gamma_neg": -0.1}, "gamma_neg"),
        ({"n_pos": 0, "n_neg": 5}, "n_pos"),
        ({"n_pos": 2.5, "n_neg": 5}, "n_pos"),
        ({"n_pos": 2, "n_neg": True}, "n_neg"),
        ({"n_pos": 2, "n_neg": 5, "n_neg_sampled": 6}, "n_neg_sampled"),
        ({"n_pos": 2, "n_neg": 5, "n_neg_sampled": 0}, "n_neg_sampled"),
        ({"reduction": "avg"}, "reduction"),
    ],
)
def test_sasu_rejects_invalid_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SaSuLoss(**kwargs)


@pytest.mark.parametrize(
    "loss",
    [
        SaSuLoss(n_pos=3, n_neg=7),
        FocalLoss(),
        BCELoss(),
        WeightedBCELoss(n_pos=3, n_neg=7),
    ],
    ids=lambda loss: type(loss).__name__,
)
def test_losses_check_inputs(loss):
    logits = torch.tensor([0.3, -1.0, 2.0])
    target = torch.tensor([1, 0, 0])
    reference = loss(logits, target)
    torch.testing.assert_close(loss(logits[:, None], target.float()), reference)
    torch.testing.assert_close(loss(logits, target.bool()), reference)
    with pytest.raises(ValueError, match="logits must have shape"):
        loss(torch.zeros(3, 2), target)
    with pytest.raises(ValueError, match="logits must be a floating"):
        loss(torch.zeros(3, dtype=torch.long), target)
    with pytest.raises(ValueError, match="target must have shape"):
        loss(logits, torch.tensor([1, 0]))
    with pytest.raises(ValueError, match=r"target must hold only 0 and 1.*2\.0"):
        loss(logits, torch.tensor([1, 2, 0]))
    with pytest.raises(ValueError, match="target must hold only 0 and 1"):
        loss(logits, torch.tensor([1.0, 0.5, 0.0]))


@pytest.mark.parametrize(
    "make",
    [
        lambda r: SaSuLoss(n_pos=3, n_neg=7, reduction=r),
        lambda r: FocalLoss(reduction=r),
        lambda r: BCELoss(reduction=r),
        lambda r: WeightedBCELoss(n_pos=3, n_neg=7, reduction=r),
    ],
)
def test_reductions_are_consistent(make):
    logits = torch.tensor(Z)
    target = torch.tensor(Y)
    per_window = make("none")(logits, target)
    assert per_window.shape == (len(Z),)
    torch.testing.assert_close(make("sum")(logits, target), per_window.sum())
    torch.testing.assert_close(make("mean")(logits, target), per_window.mean())


def test_focal_gamma_zero_equals_bce():
    rng = np.random.default_rng(0)
    z = torch.tensor(rng.normal(0, 3, 50))
    y = torch.tensor(rng.integers(0, 2, 50), dtype=torch.float64)
    for detach in (True, False):
        focal = FocalLoss(gamma=0.0, detach_modulator=detach)
        torch.testing.assert_close(
            focal(z, y), torch.nn.BCEWithLogitsLoss()(z, y), rtol=1e-12, atol=0
        )


@pytest.mark.parametrize("gamma", [0.5, 2.0])
@pytest.mark.parametrize("alpha", [None, 0.25])
def test_focal_detached_gradient_matches_closed_form(gamma, alpha):
    f = _sigmoid(Z)
    p_t = np.where(Y == 1, f, 1 - f)
    a_t = 1.0 if alpha is None else np.where(Y == 1, alpha, 1 - alpha)
    hand_value = -a_t * (1 - p_t) ** gamma * np.log(p_t)
    hand_grad = a_t * (1 - p_t) ** gamma * (f - Y)
    value, grad = _value_and_grad(FocalLoss(gamma, alpha), Z, Y)
    np.testing.assert_allclose(value, hand_value.mean(), rtol=1e-12)
    np.testing.assert_allclose(grad, hand_grad / len(Z), rtol=1e-10)


def test_focal_undetached_gradient_matches_closed_form():
    # d/dz of -(1 - p_t)^g log p_t, with s = 2y - 1 and p_t = sigmoid(s z):
    # s (1 - p_t)^g [g p_t log p_t - (1 - p_t)].
    gamma = 2.0
    s = 2 * Y - 1
    p_t = _sigmoid(s * Z)
    hand_grad = s * (1 - p_t) ** gamma * (gamma * p_t * np.log(p_t) - (1 - p_t))
    _, grad = _value_and_grad(FocalLoss(gamma, detach_modulator=False), Z, Y)
    np.testing.assert_allclose(grad, hand_grad / len(Z), rtol=1e-10)


@pytest.mark.parametrize("detach", [True, False])
def test_focal_finite_when_saturated(detach):
    z = np.array([-100.0, 100.0, -100.0, 100.0, -50.0, 50.0])
    y = np.array([0, 0, 1, 1, 1, 0])
    value, grad = _value_and_grad(
        FocalLoss(0.5, detach_modulator=detach), z, y, dtype=torch.float32
    )
    assert np.isfinite(value) and np.all(np.isfinite(grad))


def test_focal_rejects_invalid_parameters():
    with pytest.raises(ValueError, match="gamma"):
        FocalLoss(gamma=-1.0)
    with pytest.raises(ValueError, match="alpha"):
        FocalLoss(alpha=1.5)


def test_weighted_bce_matches_torch_with_hand_weights():
    n1, n0 = 30, 570
    w1, w0 = 2 * n0 / (n0 + n1), 2 * n1 / (n0 + n1)
    loss = WeightedBCELoss(n_pos=n1, n_neg=n0)
    assert loss.class_weights == pytest.approx((w0, w1), rel=1e-15)
    assert sum(loss.class_weights) == pytest.approx(2.0, rel=1e-15)
    # Proportional to 1/n_class.
    assert w1 / w0 == pytest.approx((1 / n1) / (1 / n0))
    z = torch.tensor(Z)
    y = torch.tensor(Y, dtype=torch.float64)
    weight = torch.tensor(np.where(Y == 1, w1, w0))
    expected = F.binary_cross_entropy_with_logits(z, y, weight=weight)
    torch.testing.assert_close(loss(z, torch.tensor(Y)), expected, rtol=1e-14, atol=0)


def test_weighted_bce_without_counts_raises():
    with pytest.raises(ValueError, match="WeightedBCELoss needs n_pos and n_neg"):
        WeightedBCELoss(n_pos=3)(torch.zeros(2), torch.tensor([0, 1]))


def test_bce_matches_torch():
    z = torch.tensor(Z)
    expected = torch.nn.BCEWithLogitsLoss()(z, torch.tensor(Y, dtype=torch.float64))
    torch.testing.assert_close(BCELoss()(z[:, None], torch.tensor(Y)), expected)


def test_warmup_loss_switches_at_warmup_epochs():
    main = SaSuLoss(n_pos=N_POS, n_neg=N_NEG)
    loss = WarmupLoss(main, warmup_epochs=3)
    z = torch.tensor(Z)
    y = torch.tensor(Y)
    bce = torch.nn.BCEWithLogitsLoss()(z, y.double())
    assert loss.epoch == 0 and loss.in_warmup
    for epoch, expected_warmup in [(0, True), (2, True), (3, False), (10, False)]:
        loss.set_epoch(epoch)
        assert loss.in_warmup is expected_warmup
        expected = bce if expected_warmup else main(z, y)
        torch.testing.assert_close(loss(z, y), expected)


def test_warmup_loss_custom_and_disabled():
    focal = FocalLoss()
    main = BCELoss()
    loss = WarmupLoss(main, warmup_epochs=1, warmup_loss=focal)
    z, y = torch.tensor(Z), torch.tensor(Y)
    torch.testing.assert_close(loss(z, y), focal(z, y))
    assert not WarmupLoss(main, warmup_epochs=0).in_warmup
    with pytest.raises(ValueError, match="warmup_epochs"):
        WarmupLoss(main, warmup_epochs=-1)
    with pytest.raises(ValueError, match="epoch"):
        loss.set_epoch(-1)


def test_sasu_works_as_skorch_criterion():
    skorch = pytest.importorskip("skorch")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 3)).astype(np.float32)
    y = (X[:, 0] > 1.0).astype(np.float32)
    net = skorch.NeuralNetBinaryClassifier(
        torch.nn.Linear(3, 1),
        criterion=SaSuLoss,
        criterion__n_pos=int(y.sum()),
        criterion__n_neg=int((1 - y).sum()),
        max_epochs=3,
        train_split=None,
        verbose=0,
    )
    net.fit(X, y)
    assert np.all(np.isfinite(net.history[:, "train_loss"]))


# --- Numerical experiment: does SaSu move the 0.5 decision toward the F-optimum?
#
# Fixed before looking at any result: 19,600 negatives with scores N(0, 1) and 400
# positives (2 %) with scores N(2, 1), seed 0; a single bias b is learnt on the
# whole set (no negative sampling, so SaSu is the SF surrogate) with logits
# z = s + b; the decision is z > 0, i.e. s > -b.

N0_EXP, N1_EXP = 19_600, 400


def _experiment_scores():
    rng = np.random.default_rng(0)
    s = np.concatenate([rng.normal(0.0, 1.0, N0_EXP), rng.normal(2.0, 1.0, N1_EXP)])
    y = np.concatenate([np.zeros(N0_EXP), np.ones(N1_EXP)])
    return s, y


def _fit_bias(loss, s, y):
    """Stationary bias of ``loss`` by Rprop, which only uses the gradient's sign.

    The regularised SaSu's detached modulators make its gradient differ from the
    gradient of its value, so a method that reads loss values (LBFGS line search)
    would be inconsistent; Rprop needs only the gradient.
    """
    scores = torch.tensor(s)
    target = torch.tensor(y)
    bias = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.Rprop([bias], lr=0.1)
    for _ in range(200):
        optimizer.zero_grad()
        loss(scores + bias, target).backward()
        optimizer.step()
    optimizer.zero_grad()
    loss(scores + bias, target).backward()
    if abs(bias.grad.item()) > 1e-6:
        raise RuntimeError(f"bias did not converge: gradient {bias.grad.item()}")
    return bias.item()


def _f_beta(s, y, threshold, beta):
    predicted = s > threshold
    tp = np.sum(predicted & (y == 1))
    fp = np.sum(predicted & (y == 0))
    fn = np.sum(~predicted & (y == 1))
    return (1 + beta**2) * tp / ((1 + beta**2) * tp + beta**2 * fn + fp)


def _best_threshold(s, y, beta):
    """F-beta-optimal threshold by brute force over every split of the sorted scores."""
    order = np.sort(s)
    candidates = np.concatenate([[order[0] - 1], (order[:-1] + order[1:]) / 2])
    y_sorted = y[np.argsort(s)]
    tp = np.cumsum(y_sorted[::-1])[::-1]  # positives with score above candidate i
    n_predicted = np.arange(len(s), 0, -1)
    fp = n_predicted - tp
    fn = y.sum() - tp
    f = (1 + beta**2) * tp / ((1 + beta**2) * tp + beta**2 * fn + fp)
    best = int(np.argmax(f))
    assert _f_beta(s, y, candidates[best], beta) == pytest.approx(f[best])
    return candidates[best]


@pytest.mark.slow
@pytest.mark.xfail(
    raises=AssertionError,
    strict=True,
    reason=(
        "Observed (fixed data, not tuned): on the whole imbalanced set SaSu/SF "
        "with beta=1 puts the decision at s > 8.23 (gamma=0) or 5.53 "
        "(gamma=0.5), BCE at 4.45, the F1 optimum at 2.19; F1 at 0.5 is "
        "0.000 for SaSu vs 0.025 for BCE. beta=2: SaSu 6.85 / 4.75, BCE 4.45, "
        "F2 optimum 1.83. The per-window mean weights the negatives' term by "
        "n0/n1 = 49 while c_beta is tiny, so the loss is more conservative "
        "than BCE here. See test_sasu_decision_depends_on_sampled_ratio."
    ),
)
@pytest.mark.parametrize("beta", [1.0, 2.0])
@pytest.mark.parametrize("gamma", [0.0, 0.5])
def test_sasu_decision_closer_to_f_optimum_than_bce(beta, gamma):
    s, y = _experiment_scores()
    best = _best_threshold(s, y, beta)
    t_bce = -_fit_bias(BCELoss(), s, y)
    sasu = SaSuLoss(beta, gamma, gamma, n_pos=N1_EXP, n_neg=N0_EXP)
    t_sasu = -_fit_bias(sasu, s, y)
    assert abs(t_sasu - best) < abs(t_bce - best)
    assert _f_beta(s, y, t_sasu, beta) >= _f_beta(s, y, t_bce, beta)


@pytest.mark.slow
def test_sasu_decision_depends_on_sampled_ratio():
    """Post-hoc check, written after the experiment above failed.

    c_beta does not depend on n0s, but the batch mean weighs the negative term by
    n0s / n1, so the decision does. With balanced sampling (n0s = n1, the regime
    of the paper's sampled training) plain SaSu with beta = 1 does decide closer to
    the F1 optimum than BCE on the same sample; on the whole set it does not.
    """
    s, y = _experiment_scores()
    best = _best_threshold(s, y, 1.0)
    positives = np.flatnonzero(y == 1)
    negatives = np.random.default_rng(1).permutation(np.flatnonzero(y == 0))
    thresholds = []
    for n0s in (N1_EXP, 4 * N1_EXP, N0_EXP):
        idx = np.concatenate([negatives[:n0s], positives])
        sasu = SaSuLoss(1.0, 0.0, 0.0, N1_EXP, N0_EXP, n_neg_sampled=n0s)
        thresholds.append(-_fit_bias(sasu, s[idx], y[idx]))
        if n0s == N1_EXP:
            t_bce = -_fit_bias(BCELoss(), s[idx], y[idx])
            assert abs(thresholds[-1] - best) < abs(t_bce - best)
            assert _f_beta(s, y, thresholds[-1], 1.0) > _f_beta(s, y, t_bce, 1.0)
    assert thresholds[0] < thresholds[1] < thresholds[2]
