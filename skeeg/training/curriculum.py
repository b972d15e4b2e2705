"""The iEDeaL training curriculum (method-specs §1, paper §4.3–4.4).

:func:`sufficient_negatives`, :func:`incneg_count`, the torch
:class:`NegativeSampler` that draws each epoch's windows, and the skorch
:class:`EpochCurriculum` callback that tells the sampler (and a warm-up loss)
which epoch it is. Kept apart from the imbalanced-learn samplers of
:mod:`skeeg.sampling` so that training a deep estimator does not import
imbalanced-learn.

A skorch net follows the curriculum with::

    sampler = NegativeSampler(y_train, strategy="incneg", random_state=0)
    net = NeuralNet(..., iterator_train__sampler=sampler,
                    iterator_train__shuffle=False, callbacks=[EpochCurriculum()])
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_random_state, check_scalar
from skorch.callbacks import Callback
from torch.utils.data import Sampler

_STRATEGIES = ("all", "balanced", "sufficient", "incneg")

# Relative tolerance when rounding b ** log_a(e) up: the float power is off by a
# few ulps (2 ** (2 * log2(3)) = 9.000000000000002), which would make ceil()
# overshoot by a whole multiple of n_pos.
_CEIL_RTOL = 1e-9


def _check_growth(a, b) -> None:
    """Check the IncNeg growth parameters: both real numbers > 1."""
    check_scalar(a, "a", Real, min_val=1, include_boundaries="neither")
    check_scalar(b, "b", Real, min_val=1, include_boundaries="neither")


def sufficient_negatives(n_neg: int) -> int:
    """Number of random negatives that suffices to represent ``n_neg`` of them.

    The expected number of distinct windows when ``N = n_neg`` windows are
    drawn with replacement from ``N`` (random covering, iEDeaL §4.3):
    ``E = N · (1 − (1 − 1/N)^N)``, which tends to ``(1 − 1/e) · N ≈ 0.632 N``.

    Parameters
    ----------
    n_neg : int
        Number of negative windows in the training set, ``N >= 1``.

    Returns
    -------
    n_sufficient : int
        ``E`` rounded to the nearest integer, at least 1.
    """
    check_scalar(n_neg, "n_neg", Integral, min_val=1)
    n = int(n_neg)
    if n == 1:
        # log1p(-1) is -inf: one draw from one window always covers it.
        return 1
    # (1 - 1/N)^N - 1 via expm1/log1p: the naive power loses ~7 digits at N=1e9.
    expected = -n * math.expm1(n * math.log1p(-1.0 / n))
    return max(1, int(round(expected)))


def incneg_count(
    epoch: int, n_pos: int, n_max: int, a: float = math.sqrt(2), b: float = 2.0
) -> int:
    """Negatives to draw at IncNeg epoch ``epoch``: ``min(⌈b^(log_a e)⌉·n_pos, n_max)``.

    With the paper's ``a = √2, b = 2`` this is ``min(e² · n_pos, n_max)``.

    Parameters
    ----------
    epoch : int
        1-based SaSu (IncNeg) epoch ``e``, counted after the warm-up.
    n_pos : int
        Number of positive windows ``n1``.
    n_max : int
        Cap, the sufficient number ``E`` of negatives.
    a, b : float, default=√2, 2.0
        Growth parameters, both > 1: the multiplier is ``b ** log_a(e)``, i.e.
        ``e ** (log b / log a)``.

    Returns
    -------
    n_negatives : int
    """
    check_scalar(epoch, "epoch", Integral, min_val=1)
    check_scalar(n_pos, "n_pos", Integral, min_val=0)
    check_scalar(n_max, "n_max", Integral, min_val=0)
    _check_growth(a, b)
    if n_pos == 0 or n_max == 0:
        return 0
    log_multiplier = math.log(epoch) / math.log(a) * math.log(b)
    # Past the cap anyway; also keeps b ** x from overflowing for huge epochs.
    if log_multiplier > math.log(n_max) + 1:
        return int(n_max)
    multiplier = math.exp(log_multiplier)
    nearest = round(multiplier)
    if abs(multiplier - nearest) <= _CEIL_RTOL * max(1, nearest):
        multiplier = nearest
    return int(min(math.ceil(multiplier) * n_pos, n_max))


class NegativeSampler(Sampler):
    """Torch sampler of the training windows of each epoch (iEDeaL curriculum).

    Every epoch keeps all positives, every unlabelled window (``y == -1``,
    for semi-supervised models) and a random subset of negatives, drawn
    without replacement; the windows are yielded in a shuffled order. The
    epoch is set from outside with :meth:`set_epoch` (see
    :class:`EpochCurriculum`); the sampler never counts epochs itself, so
    repeated iteration within an epoch yields the same windows.

    Strategies (``n1`` positives, ``n0`` negatives, ``E =
    sufficient_negatives(n0)``):

    - "all": every window, every epoch (plain BCE).
    - "balanced": ``n1`` negatives redrawn each epoch (bBCE).
    - "sufficient": ``E`` negatives redrawn each epoch (ewBCE).
    - "incneg": iEDeaL. Epochs ``0 .. warmup_epochs - 1`` (PreBCE) reuse one
      set of ``n1`` negatives drawn once; epoch ``k >= warmup_epochs`` is
      IncNeg epoch ``e = k - warmup_epochs + 1`` and draws
      ``incneg_count(e, n1, E, a, b)`` negatives afresh.

    Negative counts above ``n0`` (``n1 > n0``) are capped at ``n0``.

    Parameters
    ----------
    y : array-like of shape (n_windows,)
        Binary training targets, 1 for positive (IED) windows, 0 otherwise,
        -1 for unlabelled windows. Indices yielded are positions in ``y``.
    strategy : {"incneg", "all", "balanced", "sufficient"}, default="incneg"
        Which windows each epoch sees.
    warmup_epochs : int, default=3
        PreBCE epochs of the "incneg" strategy.
    a, b : float, default=√2, 2.0
        IncNeg growth parameters, see :func:`incneg_count`.
    random_state : int, RandomState instance or None, default=None
        Seed. Each epoch's draw depends only on it and the epoch number.

    Attributes
    ----------
    n_pos_ : int
        Number of positive windows ``n1``.
    n_neg_ : int
        Number of negative windows ``n0``.
    n_sufficient_ : int
        ``E = sufficient_negatives(n0)``.
    epoch_ : int
        The current 0-based epoch, set by :meth:`set_epoch`.
    """

    def __init__(
        self,
        y,
        strategy: str = "incneg",
        *,
        warmup_epochs: int = 3,
        a: float = math.sqrt(2),
        b: float = 2.0,
        random_state=None,
    ):
        super().__init__()
        y = np.asarray(y)
        if y.ndim != 1:
            raise ValueError(f"y must be 1-D; got an array of shape {y.shape}.")
        if not np.isin(y, (0, 1, -1)).all():
            raise ValueError(
                "y must be binary with values 0 and 1 (-1: unlabelled); got "
                f"values {np.unique(y)}."
            )
        if strategy not in _STRATEGIES:
            raise ValueError(
                f"strategy must be one of {_STRATEGIES}; got {strategy!r}."
            )
        check_scalar(warmup_epochs, "warmup_epochs", Integral, min_val=0)
        _check_growth(a, b)
        self.y = y
        self.strategy = strategy
        self.warmup_epochs = warmup_epochs
        self.a = a
        self.b = b
        self.random_state = random_state

        self._pos = np.flatnonzero(y == 1)
        self._neg = np.flatnonzero(y == 0)
        self._unlabelled = np.flatnonzero(y == -1)
        if self._pos.size == 0 or self._neg.size == 0:
            raise ValueError(
                f"y must contain both positives (1) and negatives (0); got "
                f"{self._pos.size} positives and {self._neg.size} negatives."
            )
        self.n_pos_ = int(self._pos.size)
        self.n_neg_ = int(self._neg.size)
        self.n_sufficient_ = sufficient_negatives(self.n_neg_)
        # One integer seed, fixed now, from which every epoch's generator is
        # derived: draws do not depend on the order epochs are visited in.
        self._seed = int(check_random_state(random_state).randint(2**31 - 1))
        self._warmup_negatives = None
        self.epoch_ = 0

    def set_epoch(self, epoch: int) -> None:
        """Set the 0-based epoch whose windows :meth:`__iter__` yields.

        Parameters
        ----------
        epoch : int
            0-based epoch index, ``>= 0``.
        """
        check_scalar(epoch, "epoch", Integral, min_val=0)
        self.epoch_ = int(epoch)

    def n_negatives_for_epoch(self, epoch: int) -> int:
        """Number of negatives drawn at the 0-based ``epoch``.

        Parameters
        ----------
        epoch : int
            0-based epoch index.

        Returns
        -------
        n_negatives : int
        """
        check_scalar(epoch, "epoch", Integral, min_val=0)
        balanced = min(self.n_pos_, self.n_neg_)
        if self.strategy == "all":
            return self.n_neg_
        if self.strategy == "balanced":
            return balanced
        if self.strategy == "sufficient":
            return self.n_sufficient_
        if epoch < self.warmup_epochs:
            return balanced
        return incneg_count(
            epoch - self.warmup_epochs + 1,
            self.n_pos_,
            self.n_sufficient_,
            a=self.a,
            b=self.b,
        )

    def steady_epoch(self) -> int:
        """First 0-based epoch at which the negatives per epoch stop growing.

        The first epoch after the warm-up, or for "incneg" the first at which
        the draw reaches its cap ``E`` (the authors' ``ready4stop``).
        """
        if self.strategy != "incneg":
            return 0
        epoch = self.warmup_epochs
        cap = min(self.n_sufficient_, self.n_neg_)
        while self.n_negatives_for_epoch(epoch) < cap:
            epoch += 1
        return epoch

    def indices_for_epoch(self, epoch: int) -> np.ndarray:
        """The windows of the 0-based ``epoch``, in the order they are yielded.

        Parameters
        ----------
        epoch : int
            0-based epoch index.

        Returns
        -------
        indices : ndarray of shape (n_pos_ + n_negatives + n_unlabelled,)
            Positions in ``y``: every positive, the epoch's negatives and
            every unlabelled window, shuffled, without repeats.
        """
        n_negatives = self.n_negatives_for_epoch(epoch)
        if self.strategy == "all":
            negatives = self._neg
        elif self.strategy == "incneg" and epoch < self.warmup_epochs:
            if self._warmup_negatives is None:
                rng = np.random.default_rng([self._seed, 0])
                self._warmup_negatives = rng.choice(
                    self._neg, size=n_negatives, replace=False
                )
            negatives = self._warmup_negatives
        else:
            rng = np.random.default_rng([self._seed, 1, epoch])
            negatives = rng.choice(self._neg, size=n_negatives, replace=False)
        indices = np.concatenate([self._pos, negatives, self._unlabelled])
        return np.random.default_rng([self._seed, 2, epoch]).permutation(indices)

    def __iter__(self):
        return iter(self.indices_for_epoch(self.epoch_).tolist())

    def __len__(self) -> int:
        n_labelled = self.n_pos_ + self.n_negatives_for_epoch(self.epoch_)
        return n_labelled + len(self._unlabelled)


class EpochCurriculum(Callback):
    """Skorch callback that passes the 0-based epoch to the sampler and loss.

    At the beginning of each epoch it calls ``set_epoch(epoch)`` on the net's
    ``iterator_train__sampler`` (e.g. a :class:`NegativeSampler`) and on its
    initialised criterion ``criterion_`` (e.g. a warm-up loss wrapper), when
    they have that method. The epoch is ``len(net.history) - 1``: skorch's
    ``NeuralNet.on_epoch_begin`` appends the new epoch's history row before
    callbacks are notified, so this is 0 in the first epoch and it continues
    counting across ``partial_fit`` calls.
    """

    def on_epoch_begin(self, net, **kwargs) -> None:
        epoch = len(net.history) - 1
        for target in (
            getattr(net, "iterator_train__sampler", None),
            getattr(net, "criterion_", None),
        ):
            set_epoch = getattr(target, "set_epoch", None)
            if callable(set_epoch):
                set_epoch(epoch)
