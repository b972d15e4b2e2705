"""Loss strategies and the curriculum inside the estimators."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from imblearn.pipeline import Pipeline as ImbPipeline
from sklearn.model_selection import GridSearchCV, GroupKFold
from torch.optim.optimizer import register_optimizer_step_post_hook

from skeeg import (
    BCE,
    AllNegatives,
    BalancedNegatives,
    Focal,
    IncNeg,
    SaSu,
    SCClassifier,
    WeightedBCE,
)
from skeeg.sampling import RandomWindowOverSampler
from skeeg.training.curriculum import sufficient_negatives
from skeeg.training.losses import (
    BCELoss,
    FocalLoss,
    SaSuLoss,
    WarmupLoss,
    WeightedBCELoss,
)
from skeeg.training.recipe import SelectBestEpoch, make_callbacks
from skeeg.training.strategies import LOSS_SHORTCUTS
from tests.conftest import bump_dataset

QUICK = dict(
    width=4,
    n_blocks=2,
    max_epochs=4,
    batch_size=16,
    validation_fraction=None,
    random_state=0,
)


def _windows_per_epoch(clf) -> list[int]:
    return [
        sum(batch["train_batch_size"] for batch in epoch["batches"])
        for epoch in clf.net_.history
    ]


@pytest.mark.parametrize("loss", sorted(LOSS_SHORTCUTS))
def test_every_strategy_trains_and_predicts(loss, bumps):
    X, y, _ = bumps
    clf = SCClassifier(loss=loss, **QUICK).fit(X, y)
    proba = clf.predict_proba(X)
    assert np.all(np.isfinite(proba))
    assert np.all(np.isfinite(clf.net_.history[:, "train_loss"]))


@pytest.mark.parametrize(
    "loss, criterion_type",
    [
        ("bce", BCELoss),
        ("wbce", WeightedBCELoss),
        ("focal", FocalLoss),
        ("sf", SaSuLoss),
        ("sasu", WarmupLoss),
    ],
)
def test_strategy_builds_its_criterion(loss, criterion_type, bumps):
    X, y, _ = bumps
    clf = SCClassifier(loss=loss, **{**QUICK, "max_epochs": 1}).fit(X, y)
    assert isinstance(clf.net_.criterion_, criterion_type)


def test_sasu_counts_come_from_the_whole_training_set(bumps):
    X, y, _ = bumps
    clf = SCClassifier(loss=SaSu(beta=2.0), **{**QUICK, "max_epochs": 1}).fit(X, y)
    sasu = clf.net_.criterion_.loss
    n1, n0 = int(y.sum()), int((y == 0).sum())
    assert (sasu.n_pos, sasu.n_neg) == (n1, n0)
    assert sasu.c_beta == pytest.approx(4.0 * n1 / n0)


def test_sf_is_unregularised_and_unsampled(bumps):
    X, y, _ = bumps
    sf = SCClassifier(loss="sf", **{**QUICK, "max_epochs": 1}).fit(X, y).net_.criterion_
    assert (sf.gamma_pos, sf.gamma_neg) == (0.0, 0.0)
    assert sf.n_neg_sampled == sf.n_neg


def test_estimator_follows_prebce_incneg_schedule_exactly():
    X, y, _ = bump_dataset(n_windows=400, prevalence=0.05, seed=3)
    n1, n0 = int(y.sum()), int((y == 0).sum())
    e_suff = round(n0 * (1 - (1 - 1 / n0) ** n0))
    clf = SCClassifier(loss=SaSu(warmup_epochs=2), **{**QUICK, "max_epochs": 6})
    clf.fit(X, y)
    # PreBCE: all positives + n1 negatives, outside max_epochs; then
    # e**2 * n1 negatives, capped, for max_epochs SaSu epochs.
    expected = [2 * n1, 2 * n1] + [n1 + min(e * e * n1, e_suff) for e in range(1, 7)]
    assert _windows_per_epoch(clf) == expected
    assert not clf.net_.criterion_.in_warmup


def test_warmup_runs_at_its_own_lr_before_the_schedule():
    X, y, _ = bump_dataset(n_windows=200, prevalence=0.1, seed=3)
    loss = SaSu(warmup_epochs=2, warmup_lr=0.05)
    params = {**QUICK, "max_epochs": 3, "optimizer": "sgd", "lr": 0.01}
    clf = SCClassifier(loss=loss, min_lr=1e-4, **params).fit(X, y)
    # 2 warm-up epochs at 0.05 outside the budget, then 0.01 decayed linearly
    # to 1e-4 over the 3 epochs of max_epochs.
    used = clf.net_.history[:, "event_lr"]
    np.testing.assert_allclose(used, [0.05, 0.05, 0.01, 0.00505, 1e-4])


@pytest.mark.parametrize(
    "loss, count",
    [
        ("bce", lambda n1, n0: n1 + n0),
        ("bbce", lambda n1, n0: 2 * n1),
        ("ewbce", lambda n1, n0: n1 + round(n0 * (1 - (1 - 1 / n0) ** n0))),
    ],
)
def test_strategy_windows_per_epoch(loss, count, bumps):
    X, y, _ = bumps
    n1, n0 = int(y.sum()), int((y == 0).sum())
    clf = SCClassifier(loss=loss, **{**QUICK, "max_epochs": 2}).fit(X, y)
    assert _windows_per_epoch(clf) == [count(n1, n0)] * 2


def test_negatives_of_a_strategy_choose_the_windows(bumps):
    X, y, _ = bumps
    n1 = int(y.sum())
    loss = Focal(negatives=BalancedNegatives())
    clf = SCClassifier(loss=loss, **QUICK).fit(X, y)
    assert _windows_per_epoch(clf) == [2 * n1] * QUICK["max_epochs"]


def test_incneg_growth_is_a_nested_parameter():
    X, y, _ = bump_dataset(n_windows=400, prevalence=0.05, seed=3)
    n1 = int(y.sum())
    e_suff = sufficient_negatives(int((y == 0).sum()))
    clf = SCClassifier(loss=SaSu(warmup_epochs=0), **{**QUICK, "max_epochs": 3})
    clf.set_params(loss__negatives=IncNeg(), loss__negatives__b=4.0).fit(X, y)
    # b = 4, a = sqrt(2): 4 ** log_sqrt2(e) = e**4 positives' worth.
    expected = [n1 + min(e**4 * n1, e_suff) for e in (1, 2, 3)]
    assert _windows_per_epoch(clf) == expected


@pytest.mark.parametrize(
    "name, strategy",
    [
        ("bce", BCE()),
        ("bbce", BCE(negatives=BalancedNegatives())),
        ("wbce", WeightedBCE()),
        ("focal", Focal(gamma=2.0)),
        ("sasu", SaSu(beta=1.0, warmup_epochs=3, negatives=IncNeg())),
        (
            "sf",
            SaSu(gamma_pos=0, gamma_neg=0, warmup_epochs=0, negatives=AllNegatives()),
        ),
    ],
)
def test_shortcut_trains_like_its_strategy_object(name, strategy, bumps):
    X, y, _ = bumps
    by_name = SCClassifier(loss=name, **QUICK).fit(X, y).predict_proba(X)
    by_object = SCClassifier(loss=strategy, **QUICK).fit(X, y).predict_proba(X)
    np.testing.assert_allclose(by_name, by_object, rtol=1e-6, atol=1e-7)


def test_ewbce_weights_use_the_sampled_negatives(bumps):
    X, y, _ = bumps
    n1, n0 = int(y.sum()), int((y == 0).sum())
    e_suff = sufficient_negatives(n0)
    clf = SCClassifier(loss="ewbce", **{**QUICK, "max_epochs": 1}).fit(X, y)
    w_neg, w_pos = clf.net_.criterion_.class_weights
    # Paper: weights ∝ 1/n1 and 1/E, summing to 2.
    assert w_pos == pytest.approx(2 * e_suff / (e_suff + n1))
    assert w_neg == pytest.approx(2 * n1 / (e_suff + n1))
    wbce = SCClassifier(loss="wbce", **{**QUICK, "max_epochs": 1}).fit(X, y)
    assert wbce.net_.criterion_.class_weights[1] == pytest.approx(2 * n0 / (n0 + n1))


def test_binary_strategies_reject_multiclass(bumps):
    X, y, _ = bumps
    y3 = np.arange(len(y)) % 3
    with pytest.raises(
        ValueError,
        match="Only binary classification is supported by .*; y has 3 classes",
    ):
        SCClassifier(loss="sasu", **QUICK).fit(X, y3)
    SCClassifier(loss="bce", **QUICK).fit(X, y3)


def test_linear_lr_decay_reaches_min_lr():
    callbacks = dict(
        make_callbacks(
            max_epochs=5,
            lr=0.01,
            lr_schedule="linear",
            min_lr=1e-5,
            grad_clip=1.0,
            select_on_validation=False,
            beta=1.0,
            patience=None,
            curriculum=False,
            verbose=0,
        )
    )
    plan = callbacks["lr_schedule"].kwargs["lr_lambda"]
    # lr * factor: 0.01 at the first epoch, 1e-5 at the fifth and after.
    np.testing.assert_allclose(
        [0.01 * plan(k) for k in range(6)],
        np.r_[np.linspace(0.01, 1e-5, 5), 1e-5],
    )


def test_sgd_defaults_and_routed_optimizer_parameters(bumps):
    X, y, _ = bumps
    clf = SCClassifier(loss="bce", optimizer="sgd", **{**QUICK, "max_epochs": 1})
    group = clf.fit(X, y).net_.optimizer_.param_groups[0]
    assert (group["momentum"], group["weight_decay"]) == (0.9, 1e-4)
    clf.set_params(optimizer_params={"momentum": 0.5}).fit(X, y)
    assert clf.net_.optimizer_.param_groups[0]["momentum"] == 0.5


def test_lr_decays_linearly_during_training(bumps):
    X, y, _ = bumps
    clf = SCClassifier(loss="bce", lr=0.01, min_lr=1e-4, **{**QUICK, "max_epochs": 3})
    clf.fit(X, y)
    assert clf.net_.optimizer_.param_groups[0]["lr"] == pytest.approx(1e-4)


def test_grid_search_reaches_nested_loss_parameters(bumps):
    X, y, groups = bumps
    search = GridSearchCV(
        SCClassifier(loss=SaSu(), **{**QUICK, "validation_fraction": 0.25}),
        {"loss__beta": [1.0, 2.0]},
        cv=GroupKFold(2),
        scoring="f1",
    )
    search.fit(X, y, groups=groups)
    beta = search.best_params_["loss__beta"]
    sasu = search.best_estimator_.net_.criterion_.loss
    n1, n0 = int(y.sum()), int((y == 0).sum())
    # The refitted criterion targets the chosen beta: c_beta = beta**2 n1 / n0.
    assert sasu.c_beta == pytest.approx(beta**2 * n1 / n0)


def test_sasu_behind_an_oversampler(bumps):
    X, y, _ = bumps
    pipe = ImbPipeline(
        [
            ("over", RandomWindowOverSampler(random_state=0)),
            ("sc", SCClassifier(loss="sasu", **QUICK)),
        ]
    ).fit(X, y)
    sasu = pipe.named_steps["sc"].net_.criterion_.loss
    # Counts are those the classifier saw: balanced after oversampling.
    assert sasu.n_pos == sasu.n_neg == int((y == 0).sum())


class _FakeNet:
    """What SelectBestEpoch reads of a skorch net: history and module_."""

    def __init__(self):
        from skorch.history import History

        self.history = History()
        self.module_ = torch.nn.Linear(1, 1, bias=False)


def _run_epochs(callback, net, rows):
    callback.on_train_begin(net)
    for epoch, (fbeta, loss) in enumerate(rows, start=1):
        net.history.new_epoch()
        net.history.record("epoch", epoch)
        net.history.record("valid_fbeta", fbeta)
        net.history.record("valid_loss", loss)
        with torch.no_grad():
            net.module_.weight.fill_(epoch)
        callback.on_epoch_end(net)
    callback.on_train_end(net)
    return int(net.module_.weight.item())


def test_select_best_epoch_breaks_fbeta_ties_by_validation_loss():
    # F-beta stays 0 (nothing crosses 0.5): the lowest validation loss wins,
    # not the first epoch.
    net = _FakeNet()
    restored = _run_epochs(SelectBestEpoch(), net, [(0, 0.9), (0, 0.5), (0, 0.7)])
    assert restored == 2


def test_select_best_epoch_prefers_fbeta_over_loss():
    net = _FakeNet()
    rows = [(0.2, 0.3), (0.5, 0.6), (0.4, 0.1)]
    assert _run_epochs(SelectBestEpoch(), net, rows) == 2


def test_select_best_epoch_patience_stops_training():
    net = _FakeNet()
    callback = SelectBestEpoch(patience=2)
    callback.on_train_begin(net)
    with pytest.raises(KeyboardInterrupt):
        _run_epochs(callback, net, [(0.5, 0.1), (0.4, 0.2), (0.3, 0.3)])


def test_selection_never_restores_warmup_or_pre_cap_epochs():
    X, y, groups = bump_dataset(n_windows=400, prevalence=0.05, seed=3)
    clf = SCClassifier(
        loss=SaSu(warmup_epochs=2), **{**QUICK, "max_epochs": 8}
    ).set_params(validation_fraction=0.25)
    clf.fit(X, y, groups=groups)
    sampler = clf.net_.iterator_train__sampler
    # IncNeg epoch e draws e**2 * n1 negatives until the cap E.
    first_capped = next(
        e for e in range(1, 9) if e * e * sampler.n_pos_ >= sampler.n_sufficient_
    )
    assert sampler.steady_epoch() == 2 + first_capped - 1
    select = dict(clf.net_.callbacks_)["select_best"]
    assert select.select_from == sampler.steady_epoch()
    # best_epoch_ is 1-based, select_from a 0-based index.
    assert select.best_epoch_ > select.select_from


def test_selection_callback_skips_epochs_before_select_from():
    net = _FakeNet()
    # The warm-up epoch scores best but may not be restored.
    rows = [(0.9, 0.1), (0.2, 0.5), (0.3, 0.6)]
    assert _run_epochs(SelectBestEpoch(select_from=1), net, rows) == 3
    net = _FakeNet()
    # No eligible epoch: the last weights stay.
    assert _run_epochs(SelectBestEpoch(select_from=5), net, rows) == 3


def test_warns_when_incneg_never_reaches_its_cap():
    X, y, groups = bump_dataset(n_windows=400, prevalence=0.02, seed=3)
    clf = SCClassifier(loss="sasu", **{**QUICK, "max_epochs": 1})
    with pytest.warns(UserWarning, match="reach their cap only at epoch"):
        clf.set_params(validation_fraction=0.25).fit(X, y, groups=groups)


def _total_grad_norm(params) -> float:
    grads = [p.grad.detach().flatten() for p in params if p.grad is not None]
    return float(torch.linalg.vector_norm(torch.cat(grads)))


@pytest.mark.parametrize("grad_clip", [None, 1e-3])
def test_grad_clip_bounds_the_norm_at_every_step(grad_clip, bumps):
    X, y, _ = bumps
    norms = []

    def record(optimizer, args, kwargs):
        params = [p for group in optimizer.param_groups for p in group["params"]]
        # After the step: skorch's optimizer.step(closure) computes (and
        # clips) the gradients inside the call.
        norms.append(_total_grad_norm(params))

    handle = register_optimizer_step_post_hook(record)
    try:
        SCClassifier(loss="bce", grad_clip=grad_clip, **QUICK).fit(X, y)
    finally:
        handle.remove()
    assert len(norms) == 4 * 5  # 4 epochs of 80 windows in batches of 16
    if grad_clip is None:
        assert min(norms) > 1e-2  # the bound below would fail unclipped
    else:
        assert max(norms) <= grad_clip * (1 + 1e-4)


def test_every_submodule_trains_in_training_steps_only(bumps):
    """skeeg sets the module's mode only when it changes (skorch sets it at
    every step); every submodule still sees train mode in the training steps
    and eval mode in validation and prediction."""
    X, y, _ = bumps
    seen = []

    def record(module, args):
        seen.append((module.training, torch.is_grad_enabled()))

    handle = torch.nn.modules.module.register_module_forward_pre_hook(record)
    try:
        clf = SCClassifier(loss="bce", **{**QUICK, "validation_fraction": 0.25})
        clf.fit(X, y).predict(X)
    finally:
        handle.remove()
    modes = np.array(seen)
    assert modes[:, 1].any() and not modes[:, 1].all()
    np.testing.assert_array_equal(modes[:, 0], modes[:, 1])


def test_mode_is_set_per_change_not_per_step(bumps, monkeypatch):
    X, y, _ = bumps
    calls = []
    train = torch.nn.Module.train

    def counted(module, mode=True):
        calls.append(mode)
        return train(module, mode)

    monkeypatch.setattr(torch.nn.Module, "train", counted)
    clf = SCClassifier(loss="bce", **QUICK).fit(X, y)
    n_steps = sum(len(epoch["batches"]) for epoch in clf.net_.history)
    n_modules = len(list(clf.net_.module_.modules()))
    # train() recurses into every submodule: one switch costs n_modules calls.
    assert n_steps == 20
    assert len(calls) <= 2 * n_modules


def test_training_batches_are_taken_whole(bumps, monkeypatch):
    """A training batch is one indexing of the windows, not one per window,
    and gives what torch's default collation of the rows gives."""
    from torch.utils.data import DataLoader

    from skeeg.training.batches import _WindowsDataset, collate_windows, windows_dataset

    X, y, _ = bumps
    X = X.astype(np.float32)
    targets = {"y": torch.from_numpy(y), "stage": torch.arange(len(y))}
    ds = windows_dataset(X, targets)
    order = np.random.default_rng(0).permutation(len(y)).tolist()
    whole, rows = (
        list(DataLoader(ds, batch_size=16, sampler=order, collate_fn=fn))
        for fn in (collate_windows, None)
    )
    assert len(whole) == len(rows) == 5
    for (Xw, yw), (Xr, yr) in zip(whole, rows, strict=True):
        torch.testing.assert_close(Xw, Xr, rtol=0, atol=0)
        assert yw.keys() == yr.keys()
        for key in yw:
            torch.testing.assert_close(yw[key], yr[key], rtol=0, atol=0)

    def refuse(self, i):
        raise AssertionError("a training window was taken one at a time")

    monkeypatch.setattr(_WindowsDataset, "__getitem__", refuse)
    SCClassifier(loss="bce", **{**QUICK, "validation_fraction": 0.25}).fit(X, y)
