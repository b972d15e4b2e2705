"""Binary losses for IED detection, usable as a skorch ``criterion`` (method-specs §1).

Every loss takes ``forward(logits, target)`` like :class:`torch.nn.BCEWithLogitsLoss`:
``logits`` is a floating tensor of shape ``(batch,)`` or ``(batch, 1)`` (a trailing
1 is squeezed), ``target`` has the same batch shape and holds 0/1 in any numeric
dtype (it is cast to the dtype of ``logits``). ``reduction`` is ``"mean"`` (the
batch mean, default), ``"sum"`` or ``"none"`` (per-window values of shape
``(batch,)``).

- :class:`SaSuLoss`: the iEDeaL Sample-based F-beta Surrogate, regularised by
  default; with ``n_neg_sampled=None`` it is the SF surrogate (Table 3 ``sf``).
- :class:`FocalLoss`: binary focal loss (Table 3 ``focal``, modulator detached).
- :class:`WeightedBCELoss`: BCE with class weights summing to 2 (``wbce``).
- :class:`BCELoss`: plain BCE under the same convention (``bce``, ``bbce``).
- :class:`WarmupLoss`: switches from a warm-up loss (BCE) to the main loss after
  ``warmup_epochs`` epochs (the PreBCE stage of the iEDeaL curriculum).

Everything is computed from the logits in log-sigmoid space, so values and
gradients stay finite for saturated predictions (``|z|`` up to at least 100 in
float32). Probability modulators are ``p**gamma = exp(gamma * log p)`` with
``log p`` a log-sigmoid, which gives ``p**0 == 1`` even where ``p`` rounds to 0.

INFERRED (the paper is silent): ``FocalLoss(alpha=a)`` weighs positives by ``a``
and negatives by ``1 - a`` (Lin et al. 2017); :class:`BCELoss` exists so that the
warm-up loss accepts the same ``(logits, target)`` shapes and dtypes as the rest.

In plain skorch, skorch infers its predict non-linearity from the criterion's
type and applies sigmoid only for :class:`torch.nn.BCEWithLogitsLoss`; with these
losses ``predict_proba`` would return raw logits and ``predict`` would fail. Pass
:func:`sigmoid_proba` as ``predict_nonlinearity`` (``n_pos``/``n_neg`` counted on
the whole training set)::

    net = NeuralNetBinaryClassifier(module, criterion=SaSuLoss,
        criterion__n_pos=int((y == 1).sum()), criterion__n_neg=int((y == 0).sum()),
        predict_nonlinearity=sigmoid_proba)
    net.fit(X, y).predict_proba(X)  # shape (n_samples, 2): [1 - p, p]
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "BCELoss",
    "FocalLoss",
    "SaSuLoss",
    "WarmupLoss",
    "WeightedBCELoss",
    "sigmoid_proba",
]

_REDUCTIONS = ("mean", "sum", "none")


def _check_count(value: object, name: str) -> None:
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, Integral) or value < 1
    ):
        raise ValueError(f"{name} must be a positive int or None, got {value!r}.")


def _check_non_negative(value: object, name: str) -> None:
    if not isinstance(value, Real) or not value >= 0:
        raise ValueError(f"{name} must be a number >= 0, got {value!r}.")


def _require_counts(loss: nn.Module) -> tuple[int, int]:
    n_pos, n_neg = loss.n_pos, loss.n_neg
    if n_pos is None or n_neg is None:
        raise ValueError(
            f"{type(loss).__name__} needs n_pos and n_neg from the whole training "
            "set; skeeg estimators set them in fit "
            f"(got n_pos={n_pos!r}, n_neg={n_neg!r})."
        )
    _check_count(n_pos, "n_pos")
    _check_count(n_neg, "n_neg")
    return int(n_pos), int(n_neg)


def _binary_logits(logits: Tensor) -> Tensor:
    """``logits`` of shape (batch,) or (batch, 1) as shape (batch,), checked."""
    if not isinstance(logits, Tensor) or not logits.is_floating_point():
        raise ValueError(
            "logits must be a floating-point tensor, got "
            f"{getattr(logits, 'dtype', type(logits).__name__)}."
        )
    z = logits.squeeze(1) if logits.ndim == 2 and logits.shape[1] == 1 else logits
    if z.ndim != 1:
        raise ValueError(
            f"logits must have shape (batch,) or (batch, 1), got {tuple(logits.shape)}."
        )
    return z


class _BinaryLoss(nn.Module):
    """Shared input checks and reduction of the binary losses."""

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        if reduction not in _REDUCTIONS:
            raise ValueError(
                f"reduction must be one of {_REDUCTIONS}, got {reduction!r}."
            )
        self.reduction = reduction

    @staticmethod
    def _check_inputs(logits: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        """Return ``(z, y)``, both of shape ``(batch,)`` and the dtype of logits."""
        z = _binary_logits(logits)
        target = torch.as_tensor(target, device=z.device)
        y = target.squeeze(1) if target.ndim == 2 and target.shape[1] == 1 else target
        if y.shape != z.shape:
            raise ValueError(
                f"target must have shape {tuple(z.shape)} to match logits of shape "
                f"{tuple(logits.shape)}, got {tuple(target.shape)}."
            )
        y = y.to(z.dtype)
        bad = (y != 0) & (y != 1)
        if bool(bad.any()):
            raise ValueError(
                "target must hold only 0 and 1, got values such as "
                f"{torch.unique(y[bad])[:5].tolist()}."
            )
        return z, y

    def _reduce(self, loss: Tensor) -> Tensor:
        if self.reduction == "mean":
            return loss.mean()
        if self.reduction == "sum":
            return loss.sum()
        return loss


class SaSuLoss(_BinaryLoss):
    r"""SaSu, the Sample-based F-beta Surrogate loss of iEDeaL (paper §4.2).

    Per window, with ``f = sigmoid(z)`` and ``f_hat = f`` detached from the graph:

    .. math::

        L(z, y) = -(1 - \hat f)^{\gamma_1}\, y \log f
                  + \hat f^{\gamma_0}\, (1 - y) \log(c_\beta + f),

        c_\beta = \frac{\beta^2 p_s}{\alpha (1 - p_s)}, \quad
        p_s = \frac{n_1}{n_s}, \quad n_s = n_1 + n_{0s}, \quad
        \alpha = \frac{n_0}{n_{0s}} \ge 1.

    ``c_beta`` equals ``beta**2 * n1 / n0`` whatever ``n0s`` is (Lemma 1: train on
    a sampled imbalance, target the real one).

    Parameters
    ----------
    beta : float, default=1.0
        The ``beta`` of the targeted F-beta score (``beta > 1`` favours recall).
    gamma_pos : float, default=0.5
        Exponent ``gamma_1 >= 0`` of the modulator ``(1 - f_hat)`` of positives.
    gamma_neg : float, default=0.5
        Exponent ``gamma_0 >= 0`` of the modulator ``f_hat`` of negatives.
        ``gamma_pos = gamma_neg = 0`` gives unregularised SaSu.
    n_pos : int or None, default=None
        ``n1``, positives in the whole training set.
    n_neg : int or None, default=None
        ``n0``, negatives in the whole training set.
    n_neg_sampled : int or None, default=None
        ``n0s <= n0``, negatives drawn for training. None means no sampling
        (``alpha = 1``: the SF surrogate).
    reduction : {"mean", "sum", "none"}, default="mean"
        Batch reduction.

    Notes
    -----
    This is the paper's formula without a constant shift: the negative term
    ``log(c_beta + f)`` is negative for small ``c_beta``, so the loss can be
    negative. Adding ``-log(c_beta)`` per negative would make it non-negative
    without changing any gradient.

    For a negative window the gradient is ``dL/dz = f_hat**gamma_0 * f (1 - f) /
    (c_beta + f)``; for a positive, ``dL/dz = -(1 - f_hat)**gamma_1 (1 - f)``.
    The modulators damp the large gradients of well-classified windows (§4.2.1).

    ``log f`` is ``logsigmoid(z)`` and ``log(c + f)`` is
    ``logaddexp(log c, logsigmoid(z))``, so values and gradients are finite for
    saturated logits.

    Shapes: ``logits`` of shape ``(batch,)`` or ``(batch, 1)``, ``target`` of
    shape ``(batch,)``; the output is a scalar, or ``(batch,)`` with
    ``reduction="none"``.
    """

    def __init__(
        self,
        beta: float = 1.0,
        gamma_pos: float = 0.5,
        gamma_neg: float = 0.5,
        n_pos: int | None = None,
        n_neg: int | None = None,
        n_neg_sampled: int | None = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(reduction)
        if not isinstance(beta, Real) or not beta > 0:
            raise ValueError(f"beta must be a positive number, got {beta!r}.")
        _check_non_negative(gamma_pos, "gamma_pos")
        _check_non_negative(gamma_neg, "gamma_neg")
        self.beta = float(beta)
        self.gamma_pos = float(gamma_pos)
        self.gamma_neg = float(gamma_neg)
        self.n_pos = n_pos
        self.n_neg = n_neg
        self.n_neg_sampled = n_neg_sampled
        self._check_counts()

    def _check_counts(self) -> None:
        _check_count(self.n_pos, "n_pos")
        _check_count(self.n_neg, "n_neg")
        _check_count(self.n_neg_sampled, "n_neg_sampled")
        if (
            self.n_neg_sampled is not None
            and self.n_neg is not None
            and self.n_neg_sampled > self.n_neg
        ):
            raise ValueError(
                f"n_neg_sampled must be <= n_neg={self.n_neg}, "
                f"got {self.n_neg_sampled}."
            )

    @property
    def c_beta(self) -> float:
        """``beta**2 * p_s / (alpha * (1 - p_s))``, computed as the paper writes it."""
        self._check_counts()
        n1, n0 = _require_counts(self)
        n0s = n0 if self.n_neg_sampled is None else int(self.n_neg_sampled)
        p_s = n1 / (n1 + n0s)
        alpha = n0 / n0s
        return self.beta**2 * p_s / (alpha * (1.0 - p_s))

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        """SaSu of a batch.

        Parameters
        ----------
        logits : Tensor of shape (batch,) or (batch, 1)
        target : Tensor of shape (batch,)
            0/1 labels.

        Returns
        -------
        loss : Tensor of shape () or (batch,)
        """
        z, y = self._check_inputs(logits, target)
        log_c = math.log(self.c_beta)
        log_f = F.logsigmoid(z)
        with torch.no_grad():
            mod_pos = torch.exp(self.gamma_pos * F.logsigmoid(-z))
            mod_neg = torch.exp(self.gamma_neg * log_f)
        log_c_plus_f = torch.logaddexp(log_f.new_tensor(log_c), log_f)
        loss = -mod_pos * y * log_f + mod_neg * (1 - y) * log_c_plus_f
        return self._reduce(loss)


class FocalLoss(_BinaryLoss):
    r"""Binary focal loss from logits (Lin et al. 2017).

    .. math::

        L(z, y) = -\alpha_t\, (1 - p_t)^{\gamma} \log p_t,

    with ``p_t = sigmoid(z)`` for a positive and ``1 - sigmoid(z)`` for a
    negative, ``alpha_t = alpha`` for a positive and ``1 - alpha`` for a
    negative (1 for both when ``alpha`` is None).

    Parameters
    ----------
    gamma : float, default=2.0
        Focusing exponent ``>= 0``; 0 gives BCE.
    alpha : float or None, default=None
        Weight in ``[0, 1]`` of the positive class; None weighs both by 1.
    detach_modulator : bool, default=True
        Treat ``(1 - p_t)**gamma`` as a constant in backpropagation, as the
        paper's Table 3 variant does. Then ``dL/dz = alpha_t (1 - p_t)**gamma
        (sigmoid(z) - y)``.
    reduction : {"mean", "sum", "none"}, default="mean"
        Batch reduction.
    """

    def __init__(
        self,
        gamma: float = 2.0,
        alpha: float | None = None,
        detach_modulator: bool = True,
        reduction: str = "mean",
    ) -> None:
        super().__init__(reduction)
        _check_non_negative(gamma, "gamma")
        if alpha is not None and (not isinstance(alpha, Real) or not 0 <= alpha <= 1):
            raise ValueError(f"alpha must be None or in [0, 1], got {alpha!r}.")
        self.gamma = float(gamma)
        self.alpha = None if alpha is None else float(alpha)
        self.detach_modulator = detach_modulator

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        """Focal loss of a batch; shapes as in :meth:`SaSuLoss.forward`."""
        z, y = self._check_inputs(logits, target)
        z_t = (2 * y - 1) * z  # logit of p_t
        modulator = torch.exp(self.gamma * F.logsigmoid(-z_t))
        if self.detach_modulator:
            modulator = modulator.detach()
        loss = -modulator * F.logsigmoid(z_t)
        if self.alpha is not None:
            loss = loss * (y * self.alpha + (1 - y) * (1 - self.alpha))
        return self._reduce(loss)


class BCELoss(_BinaryLoss):
    """Binary cross-entropy from logits, with the skeeg input convention.

    :func:`torch.nn.functional.binary_cross_entropy_with_logits` after the
    shape and label checks, so ``(batch, 1)`` logits and integer targets work.

    Parameters
    ----------
    reduction : {"mean", "sum", "none"}, default="mean"
        Batch reduction.
    class_weight : tuple of (float, float) or None, default=None
        ``(w_0, w_1)``: each window's loss times the weight of its class;
        None: 1 for both.
    """

    def __init__(
        self,
        reduction: str = "mean",
        class_weight: tuple[float, float] | None = None,
    ) -> None:
        super().__init__(reduction)
        self.class_weight = None if class_weight is None else tuple(class_weight)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        """BCE of a batch; shapes as in :meth:`SaSuLoss.forward`."""
        z, y = self._check_inputs(logits, target)
        weight = None
        if self.class_weight is not None:
            w_neg, w_pos = self.class_weight
            weight = y * w_pos + (1 - y) * w_neg
        return F.binary_cross_entropy_with_logits(
            z, y, weight=weight, reduction=self.reduction
        )


class WeightedBCELoss(_BinaryLoss):
    r"""BCE with class weights inversely proportional to the class counts.

    The weights are proportional to ``1 / n1`` and ``1 / n0`` and sum to 2:

    .. math::

        w_1 = \frac{2 n_0}{n_0 + n_1}, \qquad w_0 = \frac{2 n_1}{n_0 + n_1},

    and the loss is ``-(w_1 y log f + w_0 (1 - y) log(1 - f))`` per window.

    Parameters
    ----------
    n_pos : int or None, default=None
        ``n1``, positives in the whole training set.
    n_neg : int or None, default=None
        ``n0``, negatives in the whole training set.
    reduction : {"mean", "sum", "none"}, default="mean"
        Batch reduction; ``"mean"`` divides by the batch size, as
        :func:`torch.nn.functional.binary_cross_entropy_with_logits` does.
    """

    def __init__(
        self,
        n_pos: int | None = None,
        n_neg: int | None = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(reduction)
        _check_count(n_pos, "n_pos")
        _check_count(n_neg, "n_neg")
        self.n_pos = n_pos
        self.n_neg = n_neg

    @property
    def class_weights(self) -> tuple[float, float]:
        """``(w_0, w_1)``: the weights of negatives and positives."""
        n1, n0 = _require_counts(self)
        return 2.0 * n1 / (n0 + n1), 2.0 * n0 / (n0 + n1)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        """Weighted BCE of a batch; shapes as in :meth:`SaSuLoss.forward`."""
        z, y = self._check_inputs(logits, target)
        w_neg, w_pos = self.class_weights
        weight = y * w_pos + (1 - y) * w_neg
        return F.binary_cross_entropy_with_logits(
            z, y, weight=weight, reduction=self.reduction
        )


class WarmupLoss(nn.Module):
    """Use a warm-up loss for the first epochs, then the main loss.

    The PreBCE stage of the iEDeaL curriculum (paper §4.4): BCE for
    ``warmup_epochs`` epochs, then SaSu. A callback calls :meth:`set_epoch` at
    the start of every epoch; :meth:`forward` delegates to the selected loss.

    Parameters
    ----------
    loss : torch.nn.Module
        The main loss, used from epoch ``warmup_epochs`` on.
    warmup_epochs : int, default=3
        Number of warm-up epochs (0 disables the warm-up).
    warmup_loss : torch.nn.Module or None, default=None
        The warm-up loss; None means :class:`BCELoss`.

    Attributes
    ----------
    epoch : int
        The current epoch, 0-based; 0 until :meth:`set_epoch` is called.
    """

    def __init__(
        self,
        loss: nn.Module,
        warmup_epochs: int = 3,
        warmup_loss: nn.Module | None = None,
    ) -> None:
        super().__init__()
        if (
            isinstance(warmup_epochs, bool)
            or not isinstance(warmup_epochs, Integral)
            or warmup_epochs < 0
        ):
            raise ValueError(
                f"warmup_epochs must be an int >= 0, got {warmup_epochs!r}."
            )
        self.loss = loss
        self.warmup_loss = BCELoss() if warmup_loss is None else warmup_loss
        self.warmup_epochs = int(warmup_epochs)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the loss for ``epoch`` (0-based)."""
        if isinstance(epoch, bool) or not isinstance(epoch, Integral) or epoch < 0:
            raise ValueError(f"epoch must be an int >= 0, got {epoch!r}.")
        self.epoch = int(epoch)

    @property
    def in_warmup(self) -> bool:
        """Whether the current epoch uses the warm-up loss."""
        return self.epoch < self.warmup_epochs

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        """The selected loss of a batch."""
        active = self.warmup_loss if self.in_warmup else self.loss
        return active(logits, target)


def sigmoid_proba(logits: Tensor) -> Tensor:
    """Two-column probabilities ``[1 - p, p]`` from binary logits.

    The ``predict_nonlinearity`` to give :class:`skorch.NeuralNetBinaryClassifier`
    (or :class:`skorch.NeuralNet`) when its criterion is one of the losses of
    this module. skorch only recognises :class:`torch.nn.BCEWithLogitsLoss`, so
    with any other criterion it leaves the logits untouched: the binary
    classifier's ``predict_proba`` returns them as a 1-D array and its
    ``predict``, which reads column 1, raises ``IndexError``. A module-level
    function, so that nets using it pickle.

    Parameters
    ----------
    logits : Tensor of shape (batch,) or (batch, 1)
        Floating-point logits ``z`` of the positive class.

    Returns
    -------
    proba : Tensor of shape (batch, 2)
        ``[1 - p, p]`` per row with ``p = sigmoid(z)``: the probabilities of
        classes 0 and 1, in the dtype and on the device of ``logits``.

    Raises
    ------
    ValueError
        If ``logits`` is not a floating-point tensor of shape ``(batch,)`` or
        ``(batch, 1)``.

    Examples
    --------
    >>> import torch
    >>> sigmoid_proba(torch.tensor([0.0, 2.0])).shape
    torch.Size([2, 2])
    """
    p = torch.sigmoid(_binary_logits(logits))
    return torch.stack((1 - p, p), dim=1)
