"""Loss strategies as parameter objects: what a deep classifier trains on.

A loss strategy is a criterion together with the negative windows each epoch
sees (the iEDeaL ablation, paper Table 3, method-specs §1). Each is a small
scikit-learn-style parameter object, so its settings nest in
:class:`~sklearn.model_selection.GridSearchCV` like an estimator's::

    clf = SCClassifier(loss=SaSu(beta=2, warmup_epochs=3, negatives=IncNeg()))
    GridSearchCV(clf, {"loss__beta": [1, 2], "loss__negatives__b": [2, 4]})

Strings are shortcuts for the paper's strategies (:data:`LOSS_SHORTCUTS`).
Every default is stated here, once: the estimators only name a strategy.

Strategies: :class:`BCE`, :class:`WeightedBCE`, :class:`Focal`,
:class:`SaSu`. Negative schedules: :class:`AllNegatives`,
:class:`BalancedNegatives`, :class:`SufficientNegatives`, :class:`IncNeg`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Integral, Real
from typing import ClassVar

import numpy as np
import torch
from sklearn.base import BaseEstimator, clone
from torch import nn

from skeeg.training.curriculum import NegativeSampler, sufficient_negatives
from skeeg.training.losses import (
    BCELoss,
    FocalLoss,
    SaSuLoss,
    WarmupLoss,
    WeightedBCELoss,
)

__all__ = [
    "BCE",
    "LOSS_SHORTCUTS",
    "AllNegatives",
    "BalancedNegatives",
    "Focal",
    "IncNeg",
    "LossPlan",
    "LossStrategy",
    "SaSu",
    "SufficientNegatives",
    "WeightedBCE",
    "resolve_loss",
]


# -- negative schedules --------------------------------------------------------
class NegativeSchedule(BaseEstimator):
    """Which negative windows each training epoch sees (base class).

    ``n_sampled(n_pos, n_neg)`` is the number of negatives an epoch draws in
    steady state; it is the ``n0`` that weighted losses balance against.
    """

    #: Strategy name of :class:`skeeg.training.curriculum.NegativeSampler`.
    _strategy: ClassVar[str]

    def n_sampled(self, n_pos: int, n_neg: int) -> int:
        raise NotImplementedError

    def make_sampler(
        self, y: np.ndarray, *, warmup_epochs: int, random_state: int
    ) -> NegativeSampler | None:
        """The torch sampler of the epochs' windows; None: every window."""
        return NegativeSampler(
            y,
            strategy=self._strategy,
            warmup_epochs=warmup_epochs,
            random_state=random_state,
        )


class AllNegatives(NegativeSchedule):
    """Every negative window, every epoch (in a shuffled order)."""

    _strategy = "all"

    def n_sampled(self, n_pos: int, n_neg: int) -> int:
        return n_neg

    def make_sampler(self, y, *, warmup_epochs, random_state) -> None:
        return None


class BalancedNegatives(NegativeSchedule):
    """``n1`` negatives per epoch, redrawn each epoch (bBCE)."""

    _strategy = "balanced"

    def n_sampled(self, n_pos: int, n_neg: int) -> int:
        return min(n_pos, n_neg)


class SufficientNegatives(NegativeSchedule):
    """``E = n0 (1 - (1 - 1/n0)^n0)`` negatives per epoch, redrawn (ewBCE)."""

    _strategy = "sufficient"

    def n_sampled(self, n_pos: int, n_neg: int) -> int:
        return sufficient_negatives(n_neg)


class IncNeg(NegativeSchedule):
    """iEDeaL's increasing negatives: ``min(⌈b^(log_a e)⌉ · n1, E)`` at epoch e.

    Parameters
    ----------
    a, b : float, default=√2, 2.0
        Growth, both > 1; the paper's values give ``e² · n1`` negatives at
        IncNeg epoch ``e`` (after the strategy's warm-up).
    """

    _strategy = "incneg"

    def __init__(self, a: float = math.sqrt(2.0), b: float = 2.0) -> None:
        self.a = a
        self.b = b

    def n_sampled(self, n_pos: int, n_neg: int) -> int:
        return sufficient_negatives(n_neg)

    def make_sampler(self, y, *, warmup_epochs, random_state) -> NegativeSampler:
        return NegativeSampler(
            y,
            strategy="incneg",
            warmup_epochs=warmup_epochs,
            a=self.a,
            b=self.b,
            random_state=random_state,
        )


# -- strategies ----------------------------------------------------------------
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
    warmup_epochs : int
        Warm-up epochs, run before (outside) the estimator's ``max_epochs``.
    warmup_lr : float or None
        Their learning rate; None: the estimator's ``lr``.
    select_from : int
        First 0-based epoch that best-epoch selection may restore: after the
        warm-up and, for IncNeg, once the negatives reach their cap.
    """

    criterion: nn.Module
    sampler: NegativeSampler | None
    warmup_epochs: int = 0
    warmup_lr: float | None = None
    select_from: int = 0


class LossStrategy(BaseEstimator):
    """A criterion and its negative schedule (base class).

    Subclasses define :meth:`_criterion` and may set ``warmup_epochs``.
    """

    def _check_negatives(self) -> NegativeSchedule:
        if not isinstance(self.negatives, NegativeSchedule):
            raise TypeError(
                f"{type(self).__name__}.negatives must be AllNegatives(), "
                "BalancedNegatives(), SufficientNegatives() or IncNeg(), got "
                f"{self.negatives!r}."
            )
        return self.negatives

    @property
    def binary_only(self) -> bool:
        """Whether the strategy needs a binary target."""
        return True

    @property
    def target_beta(self) -> float:
        """The F-beta the strategy aims at (model selection, ``threshold="auto"``)."""
        return 1.0

    def _criterion(self, n_pos: int, n_neg: int, n_sampled: int) -> nn.Module:
        raise NotImplementedError

    def plan(
        self,
        y: np.ndarray,
        *,
        n_classes: int,
        criterion: nn.Module | None = None,
        random_state: int | None = None,
        class_weight: np.ndarray | None = None,
    ) -> LossPlan:
        """The criterion and window sampler for training targets ``y``.

        Parameters
        ----------
        y : ndarray of shape (n_windows,)
            Encoded training targets (0/1 for two classes, -1 unlabelled).
            Class counts come from here, never from a mini-batch.
        n_classes : int
        criterion : nn.Module, optional
            Replaces the strategy's loss function; the window sampling stays.
        random_state : int, optional
            Seed of the window sampler.
        class_weight : ndarray of shape (n_classes,), optional
            Weight of each encoded class in the cross-entropy (each window's
            loss times its class's weight); only with the cross-entropy of
            :class:`BCE` over all windows and no ``criterion``.
        """
        negatives = self._check_negatives()
        warmup = getattr(self, "warmup_epochs", 0)
        if isinstance(warmup, bool) or not isinstance(warmup, Integral) or warmup < 0:
            raise ValueError(
                f"{type(self).__name__}.warmup_epochs must be an int >= 0, "
                f"got {warmup!r}."
            )
        if n_classes > 2 and self.binary_only:
            raise ValueError(
                f"Only binary classification is supported by loss={self!r}; y has "
                f"{n_classes} classes. Use loss='bce' (cross-entropy)."
            )
        if class_weight is not None and (
            criterion is not None or type(self) is not BCE or self.binary_only
        ):
            raise ValueError(
                "class_weight weights the cross-entropy of loss='bce' (BCE() "
                f"over all windows) without a criterion; got loss={self!r}"
                f"{'' if criterion is None else ' and a criterion'}."
            )
        n_pos, n_neg = int(np.sum(y == 1)), int(np.sum(y == 0))
        if criterion is not None:
            loss_fn = criterion
        elif n_classes > 2:
            weight = None
            if class_weight is not None:
                weight = torch.as_tensor(class_weight, dtype=torch.float32)
            loss_fn = nn.CrossEntropyLoss(weight=weight, ignore_index=-1)
        elif class_weight is not None:
            loss_fn = BCELoss(class_weight=tuple(float(w) for w in class_weight))
        else:
            loss_fn = self._criterion(n_pos, n_neg, negatives.n_sampled(n_pos, n_neg))
        if warmup > 0:
            loss_fn = WarmupLoss(loss_fn, warmup_epochs=warmup)
        sampler = negatives.make_sampler(
            y, warmup_epochs=warmup, random_state=random_state
        )
        steady = warmup if sampler is None else sampler.steady_epoch()
        return LossPlan(
            loss_fn,
            sampler,
            warmup_epochs=warmup,
            warmup_lr=getattr(self, "warmup_lr", None),
            select_from=max(warmup, steady),
        )


class BCE(LossStrategy):
    """Binary cross-entropy (cross-entropy for more than two classes).

    Parameters
    ----------
    negatives : NegativeSchedule, default=AllNegatives()
        ``BalancedNegatives()`` gives the paper's bBCE.
    """

    def __init__(self, negatives: NegativeSchedule | None = None) -> None:
        self.negatives = negatives

    def _check_negatives(self) -> NegativeSchedule:
        if self.negatives is None:
            return AllNegatives()
        return super()._check_negatives()

    @property
    def binary_only(self) -> bool:
        return not isinstance(self._check_negatives(), AllNegatives)

    def _criterion(self, n_pos, n_neg, n_sampled) -> nn.Module:
        return BCELoss()


class WeightedBCE(BCE):
    """BCE with class weights ∝ ``1/n1`` and ``1/n0s`` summing to 2 (wBCE).

    ``n0s`` is the number of negatives an epoch draws: all of them for wBCE,
    ``E`` for the paper's ewBCE (``negatives=SufficientNegatives()``).

    Parameters
    ----------
    negatives : NegativeSchedule, default=AllNegatives()
    """

    @property
    def binary_only(self) -> bool:
        return True

    def _criterion(self, n_pos, n_neg, n_sampled) -> nn.Module:
        return WeightedBCELoss(n_pos=n_pos, n_neg=n_sampled)


class Focal(BCE):
    """Binary focal loss (Lin et al. 2017), modulator detached.

    Parameters
    ----------
    gamma : float, default=2.0
        Focusing exponent.
    alpha : float or None, default=None
        Weight of positives (negatives get ``1 - alpha``); None weighs both 1.
    negatives : NegativeSchedule, default=AllNegatives()
    """

    def __init__(
        self,
        gamma: float = 2.0,
        alpha: float | None = None,
        negatives: NegativeSchedule | None = None,
    ) -> None:
        self.gamma = gamma
        self.alpha = alpha
        self.negatives = negatives

    @property
    def binary_only(self) -> bool:
        return True

    def _criterion(self, n_pos, n_neg, n_sampled) -> nn.Module:
        return FocalLoss(gamma=self.gamma, alpha=self.alpha)


class SaSu(LossStrategy):
    """iEDeaL: regularised SaSu after a BCE warm-up, on increasing negatives.

    Parameters
    ----------
    beta : float, default=1.0
        The F-beta SaSu targets; also the F-beta of best-epoch selection and
        of ``threshold="auto"``.
    gamma_pos, gamma_neg : float, default=0.5
        Modulator exponents; 0 and 0 give unregularised SaSu.
    warmup_epochs : int, default=3
        BCE epochs first (PreBCE) on all positives and as many negatives. They
        run before the estimator's ``max_epochs`` (which count SaSu epochs
        only) and are never restored by best-epoch selection, nor are IncNeg
        epochs before the negatives reach their cap ``E``.
    warmup_lr : float or None, default=None
        Fixed learning rate of the warm-up; None: the estimator's ``lr``
        (the authors' ``lr_warmup = 0.01`` equals their SGD ``lr``; a fixed
        0.01 under the README demo's Adam at 3e-3 dropped its SC+SaSu F1 from
        0.235 to 0.065, with ``norm="instance"``).
    negatives : NegativeSchedule, default=IncNeg()
        ``AllNegatives()`` with ``warmup_epochs=0`` and zero exponents is the
        paper's SF surrogate (``loss="sf"``).
    """

    def __init__(
        self,
        beta: float = 1.0,
        gamma_pos: float = 0.5,
        gamma_neg: float = 0.5,
        warmup_epochs: int = 3,
        warmup_lr: float | None = None,
        negatives: NegativeSchedule | None = None,
    ) -> None:
        self.beta = beta
        self.gamma_pos = gamma_pos
        self.gamma_neg = gamma_neg
        self.warmup_epochs = warmup_epochs
        self.warmup_lr = warmup_lr
        self.negatives = negatives

    def _check_negatives(self) -> NegativeSchedule:
        if self.negatives is None:
            return IncNeg()
        return super()._check_negatives()

    @property
    def target_beta(self) -> float:
        if isinstance(self.beta, bool) or not isinstance(self.beta, Real):
            raise ValueError(f"SaSu.beta must be a positive number, got {self.beta!r}.")
        return float(self.beta)

    def _criterion(self, n_pos, n_neg, n_sampled) -> nn.Module:
        return SaSuLoss(
            beta=self.beta,
            gamma_pos=self.gamma_pos,
            gamma_neg=self.gamma_neg,
            n_pos=n_pos,
            n_neg=n_neg,
            n_neg_sampled=n_sampled,
        )


#: The iEDeaL ablation's strategies by name (paper Table 3).
LOSS_SHORTCUTS: dict[str, LossStrategy] = {
    "bce": BCE(),
    "bbce": BCE(negatives=BalancedNegatives()),
    "wbce": WeightedBCE(),
    "ewbce": WeightedBCE(negatives=SufficientNegatives()),
    "focal": Focal(),
    "sf": SaSu(gamma_pos=0.0, gamma_neg=0.0, warmup_epochs=0, negatives=AllNegatives()),
    "sasu": SaSu(),
}


def resolve_loss(loss: str | LossStrategy) -> LossStrategy:
    """A fresh strategy object for a name of :data:`LOSS_SHORTCUTS` or a strategy.

    Raises
    ------
    ValueError
        For an unknown name or another type, listing the accepted values.
    """
    if isinstance(loss, str) and loss in LOSS_SHORTCUTS:
        return clone(LOSS_SHORTCUTS[loss])
    if isinstance(loss, LossStrategy):
        return loss
    raise ValueError(
        f"loss must be one of {sorted(LOSS_SHORTCUTS)} or a loss strategy "
        f"(BCE(), WeightedBCE(), Focal(), SaSu()), got {loss!r}."
    )
