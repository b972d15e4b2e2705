"""The training recipe behind every skeeg deep classifier.

Turns the estimator's parameters into what skorch needs: the criterion and the
per-epoch window sampler of a loss strategy (the iEDeaL ablation names), the
optimizer with its defaults, and the callbacks (gradient clipping, linear
learning-rate decay, model selection by validation F-beta). Kept apart from
:mod:`skeeg.base` so a raw skorch user can build the same recipe.
"""

from __future__ import annotations

import math
from copy import deepcopy
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch
from sklearn.metrics import fbeta_score
from skorch.callbacks import (
    Callback,
    EpochScoring,
    GradientNormClipping,
    LRScheduler,
    ProgressBar,
)
from torch import nn

from skeeg.losses import BCELoss, FocalLoss, SaSuLoss, WarmupLoss, WeightedBCELoss
from skeeg.sampling import EpochCurriculum, NegativeSampler, sufficient_negatives

#: Loss strategies of the iEDeaL ablation (paper Table 3, method-specs §1), as
#: (criterion kind, default negative schedule).
LOSS_STRATEGIES: dict[str, tuple[str, str]] = {
    "bce": ("bce", "all"),
    "bbce": ("bce", "balanced"),
    "wbce": ("wbce", "all"),
    "ewbce": ("wbce", "sufficient"),
    "focal": ("focal", "all"),
    "sf": ("sf", "all"),
    "sasu": ("sasu", "incneg"),
}
NEG_SCHEDULES = ("auto", "all", "balanced", "sufficient", "incneg")

#: Optimizers by name, with the defaults skeeg adds unless ``optimizer__*``
#: overrides them. SGD: momentum 0.9 and weight decay 1e-4 (INFERRED in the
#: iEDeaL recipe, method-specs §1); Adam/AdamW: torch's own defaults.
OPTIMIZERS: dict[str, tuple[type[torch.optim.Optimizer], dict]] = {
    "sgd": (torch.optim.SGD, {"momentum": 0.9, "weight_decay": 1e-4}),
    "adam": (torch.optim.Adam, {}),
    "adamw": (torch.optim.AdamW, {}),
}


@dataclass
class LossPlan:
    """What one loss strategy trains with.

    Attributes
    ----------
    criterion : nn.Module
        Takes ``(logits, target)``.
    sampler : NegativeSampler or None
        Chooses the training windows of each epoch; None trains on all windows
        in a shuffled order.
    """

    criterion: nn.Module
    sampler: NegativeSampler | None


def resolve_schedule(loss: str, neg_schedule: str) -> str:
    """Negative schedule of a strategy: its default when ``neg_schedule='auto'``."""
    if loss not in LOSS_STRATEGIES:
        raise ValueError(
            f"loss must be one of {sorted(LOSS_STRATEGIES)}, got {loss!r}."
        )
    if neg_schedule not in NEG_SCHEDULES:
        raise ValueError(
            f"neg_schedule must be one of {list(NEG_SCHEDULES)}, got {neg_schedule!r}."
        )
    return LOSS_STRATEGIES[loss][1] if neg_schedule == "auto" else neg_schedule


def make_loss_plan(
    y: np.ndarray,
    *,
    n_classes: int,
    loss: str = "bce",
    criterion: type[nn.Module] | nn.Module | None = None,
    criterion_kwargs: dict | None = None,
    neg_schedule: str = "auto",
    beta: float = 1.0,
    gamma_pos: float = 0.5,
    gamma_neg: float = 0.5,
    focal_gamma: float = 2.0,
    warmup_epochs: int = 3,
    incneg_rate: tuple[float, float] = (math.sqrt(2.0), 2.0),
    random_state: int | None = None,
) -> LossPlan:
    """Build the criterion and window sampler of a loss strategy.

    Parameters
    ----------
    y : ndarray of shape (n_windows,)
        Encoded training targets (0/1 for a binary task). Class counts for
        SaSu and the weighted losses come from here, never from a mini-batch.
    n_classes : int
        More than 2 allows only ``loss="bce"`` (cross-entropy).
    loss : str
        One of :data:`LOSS_STRATEGIES`.
    criterion : nn.Module class or instance, optional
        Replaces the strategy's loss function (the window sampling stays);
        a class is built with ``criterion_kwargs``.
    neg_schedule : {"auto", "all", "balanced", "sufficient", "incneg"}
        Negative windows per epoch, see :class:`skeeg.sampling.NegativeSampler`.
    beta, gamma_pos, gamma_neg : float
        SaSu's F-beta target and modulator exponents.
    focal_gamma : float
        Focal loss exponent.
    warmup_epochs : int
        PreBCE epochs of the "incneg" schedule.
    incneg_rate : tuple of (a, b)
        IncNeg draws ``ceil(b ** log_a(e)) * n_pos`` negatives at epoch ``e``.
    random_state : int or None
        Seed of the window sampler.
    """
    schedule = resolve_schedule(loss, neg_schedule)
    kind = LOSS_STRATEGIES[loss][0]
    if n_classes > 2 and (kind != "bce" or schedule != "all"):
        raise ValueError(
            f"loss={loss!r} with neg_schedule={schedule!r} needs a binary target; "
            f"y has {n_classes} classes. Use loss='bce' (cross-entropy)."
        )
    n_pos = int(np.sum(y == 1))
    n_neg = int(np.sum(y == 0))
    if criterion is not None:
        loss_fn = (
            criterion(**(criterion_kwargs or {}))
            if isinstance(criterion, type)
            else criterion
        )
    elif n_classes > 2:
        loss_fn = nn.CrossEntropyLoss()
    elif kind == "bce":
        loss_fn = BCELoss()
    elif kind == "wbce":
        loss_fn = WeightedBCELoss(n_pos=n_pos, n_neg=n_neg)
    elif kind == "focal":
        loss_fn = FocalLoss(gamma=focal_gamma)
    else:
        # "sf" is SaSu without modulators and without negative sampling.
        sf = kind == "sf"
        loss_fn = SaSuLoss(
            beta=beta,
            gamma_pos=0.0 if sf else gamma_pos,
            gamma_neg=0.0 if sf else gamma_neg,
            n_pos=n_pos,
            n_neg=n_neg,
            n_neg_sampled=n_neg if sf else sufficient_negatives(n_neg),
        )
    if schedule == "all":
        return LossPlan(loss_fn, None)
    sampler = NegativeSampler(
        y,
        strategy=schedule,
        warmup_epochs=warmup_epochs if schedule == "incneg" else 0,
        a=incneg_rate[0],
        b=incneg_rate[1],
        random_state=random_state,
    )
    if schedule == "incneg" and warmup_epochs > 0:
        loss_fn = WarmupLoss(loss_fn, warmup_epochs=warmup_epochs)
    return LossPlan(loss_fn, sampler)


def make_optimizer(
    optimizer: str | type[torch.optim.Optimizer], overrides: dict
) -> tuple[type[torch.optim.Optimizer], dict]:
    """Optimizer class and keyword arguments (skeeg defaults, then overrides)."""
    if isinstance(optimizer, str):
        if optimizer not in OPTIMIZERS:
            raise ValueError(
                f"optimizer must be one of {sorted(OPTIMIZERS)} or a "
                f"torch.optim.Optimizer class, got {optimizer!r}."
            )
        cls, defaults = OPTIMIZERS[optimizer]
        return cls, {**defaults, **overrides}
    if isinstance(optimizer, type) and issubclass(optimizer, torch.optim.Optimizer):
        return optimizer, dict(overrides)
    raise TypeError(
        "optimizer must be a name or a torch.optim.Optimizer class, "
        f"got {type(optimizer).__name__}."
    )


def validation_fbeta(net, X, y, *, beta: float) -> float:
    """F-beta of a skorch net on validation data (macro for several classes).

    A module-level function (not a lambda) so that fitted nets pickle.
    """
    logits = net.forward(X)
    if logits.shape[1] == 1:
        y_pred = (logits[:, 0] > 0).long().numpy()
        average = "binary"
    else:
        y_pred = logits.argmax(dim=1).numpy()
        average = "macro"
    return float(fbeta_score(y, y_pred, beta=beta, average=average, zero_division=0))


class SelectBestEpoch(Callback):
    """Restore the weights of the epoch with the best validation F-beta.

    Ties go to the lower validation loss. Written here rather than using
    skorch's ``EarlyStopping(load_best=True)``, which compares one score
    strictly: at a low prevalence F-beta at threshold 0.5 often stays 0 for
    every epoch, and that callback would then restore the first, barely
    trained epoch.

    Parameters
    ----------
    patience : int or None, default=None
        Stop training after this many epochs without a better epoch; None
        trains for all epochs.

    Attributes
    ----------
    best_epoch_ : int
        1-based epoch whose weights were restored.
    """

    def __init__(self, patience: int | None = None) -> None:
        self.patience = patience

    def on_train_begin(self, net, **kwargs) -> None:
        self.best_key_ = None
        self.best_epoch_ = None
        self._best_state = None
        self._misses = 0

    def on_epoch_end(self, net, **kwargs) -> None:
        row = net.history[-1]
        key = (row["valid_fbeta"], -row["valid_loss"])
        if self.best_key_ is None or key > self.best_key_:
            self.best_key_, self.best_epoch_ = key, row["epoch"]
            self._best_state = deepcopy(net.module_.state_dict())
            self._misses = 0
            return
        self._misses += 1
        if self.patience is not None and self._misses >= self.patience:
            raise KeyboardInterrupt  # skorch's way to end fit early

    def on_train_end(self, net, **kwargs) -> None:
        if self._best_state is not None:
            net.module_.load_state_dict(self._best_state)
            self._best_state = None  # the fitted net need not carry a copy


def make_callbacks(
    *,
    max_epochs: int,
    lr: float,
    lr_schedule: str | None,
    min_lr: float,
    grad_clip: float | None,
    select_on_validation: bool,
    beta: float,
    patience: int | None,
    curriculum: bool,
    verbose: int,
) -> list:
    """The skorch callbacks of the recipe, in a fixed order.

    Parameters
    ----------
    lr_schedule : {"linear", None}
        "linear" decays the learning rate linearly from ``lr`` to ``min_lr``
        over ``max_epochs`` (the iEDeaL recipe).
    grad_clip : float or None
        Maximum gradient norm (iEDeaL: 1).
    select_on_validation : bool
        Score F-beta on the validation split each epoch and restore the
        weights of the best epoch at the end.
    patience : int or None
        Stop after this many epochs without a better validation F-beta; None
        never stops early (the best epoch is still restored).
    curriculum : bool
        Add :class:`skeeg.sampling.EpochCurriculum` (window sampler and
        warm-up loss follow the epoch).
    verbose : int
        2 or more adds a progress bar.
    """
    callbacks: list = []
    if curriculum:
        callbacks.append(("curriculum", EpochCurriculum()))
    if grad_clip is not None:
        callbacks.append(
            ("grad_clip", GradientNormClipping(gradient_clip_value=grad_clip))
        )
    if lr_schedule == "linear":
        end = min(1.0, min_lr / lr)
        callbacks.append(
            (
                "lr_schedule",
                LRScheduler(
                    policy=torch.optim.lr_scheduler.LinearLR,
                    start_factor=1.0,
                    end_factor=end,
                    total_iters=max(max_epochs - 1, 1),
                ),
            )
        )
    elif lr_schedule is not None:
        raise ValueError(f"lr_schedule must be 'linear' or None, got {lr_schedule!r}.")
    if select_on_validation:
        callbacks.append(
            (
                "valid_fbeta",
                EpochScoring(
                    partial(validation_fbeta, beta=beta),
                    lower_is_better=False,
                    name="valid_fbeta",
                ),
            )
        )
        callbacks.append(("select_best", SelectBestEpoch(patience=patience)))
    if verbose >= 2:
        callbacks.append(("progress", ProgressBar()))
    return callbacks
