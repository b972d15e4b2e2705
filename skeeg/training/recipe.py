"""The training recipe behind every skeeg deep classifier.

Turns the estimator's parameters into what skorch needs: the optimizer with
its defaults and the callbacks (gradient clipping, linear learning-rate decay,
model selection by validation F-beta). The criterion and the per-epoch window
sampler come from the loss strategy (:mod:`skeeg.training.strategies`). Kept apart from
:mod:`skeeg.estimators.deep_classifier` so a raw skorch user can build the same recipe.
"""

from __future__ import annotations

from copy import deepcopy
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
from skorch.utils import to_numpy
from torch.nn.utils import clip_grad_norm_

from skeeg.training.curriculum import EpochCurriculum

#: Optimizers by name, with the defaults skeeg adds unless ``optimizer_params``
#: overrides them. SGD: momentum 0.9 and weight decay 1e-4 (INFERRED in the
#: iEDeaL recipe, method-specs §1); Adam/AdamW: torch's own defaults.
OPTIMIZERS: dict[str, tuple[type[torch.optim.Optimizer], dict]] = {
    "sgd": (torch.optim.SGD, {"momentum": 0.9, "weight_decay": 1e-4}),
    "adam": (torch.optim.Adam, {}),
    "adamw": (torch.optim.AdamW, {}),
}


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


def first_output(outputs):
    """The logits of a module's outputs: the tensor, or the first of a tuple.

    A skeeg module's ``forward`` returns logits of shape (batch, n_outputs), or
    a tuple whose first element they are (extra outputs such as a
    reconstruction or a second head follow).
    """
    return outputs[0] if isinstance(outputs, tuple | list) else outputs


def main_target(y) -> np.ndarray:
    """The main task's targets: ``y["y"]`` of a multi-task target dict, else y.

    skorch's ``EpochScoring`` concatenates the cached batch targets; a model
    with side targets (a dict per batch) is scored on its main task.
    """
    return to_numpy(y["y"] if isinstance(y, dict) else y)


def validation_fbeta(net, X, y, *, beta: float) -> float:
    """F-beta of a skorch net on validation data (macro for several classes).

    A module-level function (not a lambda) so that fitted nets pickle.
    """
    logits = first_output(net.forward(X))
    y = main_target(y)
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
        Stop training after this many eligible epochs without a better one;
        None trains for all epochs.
    select_from : int, default=0
        0-based index of the first epoch that may be restored (and from which
        patience counts). Earlier epochs (a BCE warm-up, IncNeg before it
        reaches its cap; the authors' ``ready4stop``) are scored but never
        kept. When no epoch is eligible, the last epoch's weights stay.

    Attributes
    ----------
    best_epoch_ : int or None
        1-based epoch whose weights were restored; None when none was
        eligible.
    """

    def __init__(self, patience: int | None = None, select_from: int = 0) -> None:
        self.patience = patience
        self.select_from = select_from

    def on_train_begin(self, net, **kwargs) -> None:
        self.best_key_ = None
        self.best_epoch_ = None
        self._best_state = None
        self._misses = 0

    def on_epoch_end(self, net, **kwargs) -> None:
        row = net.history[-1]
        if len(net.history) - 1 < self.select_from:
            return
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


class ClipGradientNorm(GradientNormClipping):
    """skorch's :class:`~skorch.callbacks.GradientNormClipping` over the
    parameter list taken when training begins.

    skorch's walks :meth:`~skorch.NeuralNet.get_all_learnable_params` (every
    module and criterion) again after each backward pass: 0.2 ms a step, a
    few per cent of a small network's step.
    """

    def on_train_begin(self, net, **kwargs) -> None:
        self.params_ = [param for _, param in net.get_all_learnable_params()]

    def on_grad_computed(self, net, named_parameters, **kwargs) -> None:
        clip_grad_norm_(
            self.params_,
            max_norm=self.gradient_clip_value,
            norm_type=self.gradient_clip_norm_type,
        )


class LearningRatePlan:
    """Learning-rate factor of each 0-based epoch (for ``LambdaLR``).

    ``warmup_epochs`` epochs at ``warmup_lr`` first (PreBCE, outside the
    budget), then ``max_epochs`` epochs from ``lr``, decayed linearly to
    ``min_lr`` when ``linear``, constant otherwise. A class, not a lambda, so
    fitted nets pickle.

    Parameters
    ----------
    lr, min_lr : float
    max_epochs : int
    warmup_epochs : int, default=0
    warmup_lr : float or None, default=None
        None: ``lr``.
    linear : bool, default=True
    """

    def __init__(
        self,
        lr: float,
        min_lr: float,
        max_epochs: int,
        warmup_epochs: int = 0,
        warmup_lr: float | None = None,
        linear: bool = True,
    ) -> None:
        self.lr = lr
        self.min_lr = min_lr
        self.max_epochs = max_epochs
        self.warmup_epochs = warmup_epochs
        self.warmup_lr = lr if warmup_lr is None else warmup_lr
        self.linear = linear

    def __call__(self, epoch: int) -> float:
        if epoch < self.warmup_epochs:
            return self.warmup_lr / self.lr
        if not self.linear:
            return 1.0
        end = min(1.0, self.min_lr / self.lr)
        progress = min(1.0, (epoch - self.warmup_epochs) / max(self.max_epochs - 1, 1))
        return 1.0 + (end - 1.0) * progress


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
    warmup_epochs: int = 0,
    warmup_lr: float | None = None,
    select_from: int = 0,
) -> list:
    """The skorch callbacks of the recipe, in a fixed order.

    Parameters
    ----------
    max_epochs : int
        Epochs of the main schedule, after any warm-up.
    lr_schedule : {"linear", None}
        "linear" decays the learning rate linearly from ``lr`` to ``min_lr``
        over ``max_epochs`` (the iEDeaL recipe); None keeps ``lr``.
    grad_clip : float or None
        Maximum gradient norm (iEDeaL: 1).
    select_on_validation : bool
        Score F-beta on the validation split each epoch and restore the
        weights of the best epoch at the end.
    patience : int or None
        Stop after this many epochs without a better validation F-beta; None
        never stops early (the best epoch is still restored).
    curriculum : bool
        Add :class:`skeeg.training.curriculum.EpochCurriculum` (window sampler and
        warm-up loss follow the epoch).
    verbose : int
        2 or more adds a progress bar.
    warmup_epochs : int, default=0
        Warm-up epochs before the main schedule (PreBCE).
    warmup_lr : float or None, default=None
        Learning rate of the warm-up; None: ``lr``.
    select_from : int, default=0
        First 0-based epoch best-epoch selection may restore.
    """
    if lr_schedule not in ("linear", None):
        raise ValueError(f"lr_schedule must be 'linear' or None, got {lr_schedule!r}.")
    callbacks: list = []
    if curriculum:
        callbacks.append(("curriculum", EpochCurriculum()))
    if grad_clip is not None:
        callbacks.append(("grad_clip", ClipGradientNorm(gradient_clip_value=grad_clip)))
    if lr_schedule == "linear" or warmup_epochs > 0:
        plan = LearningRatePlan(
            lr,
            min_lr,
            max_epochs,
            warmup_epochs=warmup_epochs,
            warmup_lr=warmup_lr,
            linear=lr_schedule == "linear",
        )
        callbacks.append(
            (
                "lr_schedule",
                LRScheduler(policy=torch.optim.lr_scheduler.LambdaLR, lr_lambda=plan),
            )
        )
    if select_on_validation:
        callbacks.append(
            (
                "valid_fbeta",
                EpochScoring(
                    partial(validation_fbeta, beta=beta),
                    lower_is_better=False,
                    name="valid_fbeta",
                    target_extractor=main_target,
                ),
            )
        )
        callbacks.append(
            (
                "select_best",
                SelectBestEpoch(patience=patience, select_from=select_from),
            )
        )
    if verbose >= 2:
        callbacks.append(("progress", ProgressBar()))
    return callbacks
