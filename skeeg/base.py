"""The deep layer of the skeeg classifiers: torch and skorch on top of
:class:`skeeg.eeg_base.EEGClassifierBase`.

:class:`DeepClassifierBase` composes a :class:`skorch.NeuralNet` built inside
``fit`` (skorch's own classifier is not subclassed: it fails most scikit-learn
checks, braindecode #172, skorch #521). ``fit`` runs through steps a new model
overrides only where it differs:

1. :meth:`~DeepClassifierBase._build_module` — the torch module (required).
2. :meth:`~DeepClassifierBase._make_dataset` — the training/validation dataset
   from ``X``, encoded ``y`` and per-window side inputs (fit parameters such as
   ``sleep_stage``, routed by scikit-learn's metadata routing).
3. :meth:`~DeepClassifierBase._training_plan` — criterion, window sampler and
   callbacks.
4. :meth:`~DeepClassifierBase._net_class` — the skorch net class, whose
   ``get_loss`` turns module outputs and dataset targets into the loss.

A module's ``forward`` returns logits, or a tuple whose first element they
are; ``embed`` returns the embedding (:class:`skeeg.models.base.EEGModule`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch
from scipy.special import expit, softmax
from sklearn.base import TransformerMixin
from sklearn.model_selection import StratifiedGroupKFold, StratifiedShuffleSplit
from sklearn.utils import check_random_state
from skorch import NeuralNet
from skorch.dataset import Dataset
from skorch.helper import predefined_split
from torch import nn

from skeeg._docs import fill_doc
from skeeg.eeg_base import UNLABELLED, EEGClassifierBase
from skeeg.strategies import LossStrategy, resolve_loss
from skeeg.training import first_output, make_callbacks, make_optimizer


def supervised_loss(criterion: nn.Module, logits: torch.Tensor, y) -> torch.Tensor:
    """``criterion`` on the labelled windows of a batch.

    Parameters
    ----------
    criterion : nn.Module
        Takes ``(logits, target)``: binary losses get logits of shape
        (batch,) and float 0/1 targets, multi-class ones (batch, n_classes)
        and class indices.
    logits : Tensor of shape (batch, n_outputs)
    y : Tensor of shape (batch,)
        Class indices; ``-1`` (unlabelled) windows are left out.

    Returns
    -------
    loss : Tensor
        A scalar; 0 (still attached to the graph) when no window is labelled.
    """
    y = torch.as_tensor(y, device=logits.device)
    labelled = y != UNLABELLED
    if not bool(labelled.all()):
        if not bool(labelled.any()):
            return logits.sum() * 0.0
        logits, y = logits[labelled], y[labelled]
    if logits.shape[1] == 1:
        return criterion(logits[:, 0], y.float())
    return criterion(logits, y.long())


class SkeegNet(NeuralNet):
    """The skorch net of the skeeg classifiers: supervised loss on the logits.

    Override :meth:`get_loss` to add terms that use other module outputs
    (``y_pred`` is whatever ``forward`` returns), other dataset targets
    (``y_true`` is what :meth:`DeepClassifierBase._make_dataset` put there) or
    the inputs ``X``.
    """

    def get_loss(self, y_pred, y_true, X=None, training=False) -> torch.Tensor:
        return supervised_loss(self.criterion_, first_output(y_pred), y_true)


@dataclass
class TrainingPlan:
    """What one fit trains with.

    Attributes
    ----------
    criterion : nn.Module
        The skorch criterion.
    sampler : torch.utils.data.Sampler or None
        Windows of each epoch; None: all, shuffled.
    callbacks : list of (name, Callback)
    n_epochs : int
        Epochs in all: ``max_epochs`` plus any warm-up.
    """

    criterion: nn.Module
    sampler: torch.utils.data.Sampler | None
    callbacks: list
    n_epochs: int


@fill_doc
class DeepClassifierBase(TransformerMixin, EEGClassifierBase):
    """Base of the skeeg deep classifiers (not to be used directly).

    Subclasses write an explicit ``__init__`` (every parameter by name, the
    shared ones passed to this one) and :meth:`_build_module`; see
    ``docs/estimators.md`` for a complete example.

    Parameters
    ----------
    width : int
        Channels inside the network.
    n_blocks : int or "auto"
        Depth of the network; what a block is depends on the model.
    loss : str or LossStrategy
        A name of :data:`skeeg.strategies.LOSS_SHORTCUTS` or a strategy
        object such as ``SaSu(beta=2)``.
    %(deep_training_params)s
    """

    def __init__(
        self,
        *,
        width,
        n_blocks,
        loss,
        max_epochs,
        batch_size,
        lr,
        optimizer,
        optimizer_params,
        lr_schedule,
        min_lr,
        grad_clip,
        criterion,
        criterion_params,
        threshold,
        validation_fraction,
        patience,
        random_state,
        device,
        verbose,
    ):
        self.width = width
        self.n_blocks = n_blocks
        self.loss = loss
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.optimizer = optimizer
        self.optimizer_params = optimizer_params
        self.lr_schedule = lr_schedule
        self.min_lr = min_lr
        self.grad_clip = grad_clip
        self.criterion = criterion
        self.criterion_params = criterion_params
        self.threshold = threshold
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    # -- steps a subclass overrides -------------------------------------------
    def _min_n_times(self) -> int:
        """Shortest window the module can take, in samples."""
        return 1

    def _build_module(self, n_channels: int, n_times: int, n_outputs: int) -> nn.Module:
        """The torch module; ``forward`` gives logits, ``embed`` the features."""
        raise NotImplementedError

    def _make_dataset(self, X: np.ndarray, y: np.ndarray, **side) -> Dataset:
        """The dataset of training (or validation) windows.

        Parameters
        ----------
        X : ndarray of float32, shape (n_windows, n_channels, n_times)
        y : ndarray of int64, shape (n_windows,)
            Class indices, ``-1`` for unlabelled windows.
        **side : ndarray of shape (n_windows, ...) or None
            The per-window fit inputs of :meth:`_fit`, already sliced like
            ``X``. The default ignores them: they reach the module or the
            loss only when a subclass puts them here.
        """
        # Tensors once, so batches are sliced from memory without per-item
        # numpy conversion (skorch #322).
        return Dataset(torch.from_numpy(X), torch.from_numpy(y))

    def _training_plan(
        self, loss: LossStrategy, y: np.ndarray, *, seed: int, validation: bool
    ) -> TrainingPlan:
        """Criterion, window sampler and callbacks for training targets ``y``."""
        criterion = self.criterion
        if isinstance(criterion, type):
            criterion = criterion(**(self.criterion_params or {}))
        plan = loss.plan(
            y, n_classes=len(self.classes_), criterion=criterion, random_state=seed
        )
        n_epochs = plan.warmup_epochs + self.max_epochs
        if validation and plan.select_from >= n_epochs:
            warnings.warn(
                f"{type(self).__name__}: the loss strategy's negatives reach their "
                f"cap only at epoch {plan.select_from + 1}, after the last of "
                f"{n_epochs} epochs; no epoch is eligible for best-epoch "
                "selection and the last one is kept. Raise max_epochs.",
                UserWarning,
                stacklevel=3,
            )
        callbacks = make_callbacks(
            max_epochs=self.max_epochs,
            lr=self.lr,
            lr_schedule=self.lr_schedule,
            min_lr=self.min_lr,
            grad_clip=self.grad_clip,
            select_on_validation=validation,
            beta=loss.target_beta,
            patience=self.patience,
            curriculum=plan.sampler is not None or hasattr(plan.criterion, "set_epoch"),
            verbose=self.verbose,
            warmup_epochs=plan.warmup_epochs,
            warmup_lr=plan.warmup_lr,
            select_from=plan.select_from,
        )
        return TrainingPlan(plan.criterion, plan.sampler, callbacks, n_epochs)

    def _net_class(self) -> type[NeuralNet]:
        """The skorch net class; its ``get_loss`` computes the training loss."""
        return SkeegNet

    # -- fit --------------------------------------------------------------------
    def fit(self, X, y, groups=None) -> DeepClassifierBase:
        """Train on EEG windows.

        Parameters
        ----------
        X : array-like of shape (n_windows, n_channels, n_times) or (n_windows, n_times)
            EEG windows (a 2-D X has one channel). Cast to float32.
        y : array-like of shape (n_windows,)
            Labels of any type (ints, strings). In semi-supervised estimators
            -1 marks an unlabelled window.
        groups : array-like of shape (n_windows,), optional
            Subject (or recording) of each window. Keeps the internal
            validation split group-aware; never reaches the module.

        Returns
        -------
        self
        """
        return self._fit(X, y, groups=groups)

    def _fit(self, X, y, groups=None, **side) -> DeepClassifierBase:
        """``fit`` with per-window side inputs (a subclass's extra fit parameters)."""
        X, y_enc, groups, side = self._validate_fit_data(
            X, y, groups, dtype=np.float32, min_times=self._min_n_times(), **side
        )
        self._check_params()
        loss = resolve_loss(self.loss)
        seed = int(
            check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        )
        self.device_ = _resolve_device(self.device)
        n_outputs = 1 if len(self.classes_) == 2 else len(self.classes_)
        train, valid = self._split(y_enc, groups, seed)
        # Seed inside a fork so the caller's global torch RNG is left as it was.
        cuda = self.device_.startswith("cuda")
        with torch.random.fork_rng(
            devices=range(torch.cuda.device_count()) if cuda else []
        ):
            torch.manual_seed(seed)
            module = self._build_module(
                self.n_channels_in_, self.n_times_in_, n_outputs
            )
            plan = self._training_plan(
                loss, y_enc[train], seed=seed, validation=valid is not None
            )
            valid_ds = None
            if valid is not None:
                valid_ds = self._make_dataset(
                    X[valid], y_enc[valid], **_take(side, valid)
                )
            self.net_ = self._make_net(module, plan, valid_ds)
            self.net_.fit(
                self._make_dataset(X[train], y_enc[train], **_take(side, train)),
                y=None,
            )
        y_valid = proba_valid = None
        if self.threshold == "auto":
            y_valid = y_enc[valid]
            logits = self._forward_logits(torch.from_numpy(X[valid]))
            proba_valid = self._proba(logits)[:, 1]
        self._fit_threshold(y_valid, proba_valid, beta=loss.target_beta)
        return self

    def _check_params(self) -> None:
        for name in ("max_epochs", "batch_size", "width"):
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}.")
        if self.n_blocks != "auto" and not (
            _is_int(self.n_blocks) and self.n_blocks >= 1
        ):
            raise ValueError(
                f"n_blocks must be 'auto' or an int >= 1, got {self.n_blocks!r}."
            )
        if self.patience is not None and not (
            _is_int(self.patience) and self.patience >= 1
        ):
            raise ValueError(
                f"patience must be None or an int >= 1, got {self.patience!r}."
            )
        if not (isinstance(self.lr, (int, float)) and self.lr > 0):
            raise ValueError(f"lr must be a float > 0, got {self.lr!r}.")
        vf = self.validation_fraction
        if vf is not None and not (isinstance(vf, float) and 0 < vf < 1):
            raise ValueError(
                f"validation_fraction must be None or a float in (0, 1), got {vf!r}."
            )
        for name in ("optimizer_params", "criterion_params"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, dict):
                raise TypeError(f"{name} must be a dict or None, got {value!r}.")
        self._check_threshold()
        if self.threshold == "auto" and vf is None:
            raise ValueError(
                "threshold='auto' tunes the threshold on the internal validation "
                "split; set validation_fraction to a float in (0, 1)."
            )

    def _split(self, y_enc: np.ndarray, groups, seed: int):
        """Train and validation indices; validation is None when not used.

        Validation holds labelled windows only; unlabelled ones all train.
        """
        all_idx = np.arange(len(y_enc))
        if self.validation_fraction is None:
            return all_idx, None
        labelled = y_enc != UNLABELLED
        if groups is not None:
            n_splits = max(2, round(1 / self.validation_fraction))
            n_groups = len(np.unique(groups[labelled]))
            if n_groups < n_splits:
                raise ValueError(
                    f"validation_fraction={self.validation_fraction} needs at least "
                    f"{n_splits} groups, got {n_groups}; pass more groups or "
                    "validation_fraction=None."
                )
            splitter = StratifiedGroupKFold(n_splits, shuffle=True, random_state=seed)
            split = splitter.split(all_idx[labelled], y_enc[labelled], groups[labelled])
        else:
            splitter = StratifiedShuffleSplit(
                1, test_size=self.validation_fraction, random_state=seed
            )
            split = splitter.split(all_idx[labelled], y_enc[labelled])
        train, valid = next(split)
        valid = all_idx[labelled][valid]
        missing = set(range(len(self.classes_))) - set(y_enc[valid])
        if missing:
            raise ValueError(
                f"The validation split (validation_fraction="
                f"{self.validation_fraction}) holds no window of class(es) "
                f"{[self.classes_[m] for m in sorted(missing)]}; pass more groups, "
                "a larger validation_fraction, or validation_fraction=None."
            )
        return np.setdiff1d(all_idx, valid), valid

    def _make_net(self, module, plan: TrainingPlan, valid_ds) -> NeuralNet:
        optimizer, optimizer_kwargs = make_optimizer(
            self.optimizer, self.optimizer_params or {}
        )
        iterator = (
            {"iterator_train__sampler": plan.sampler, "iterator_train__shuffle": False}
            if plan.sampler is not None
            else {"iterator_train__shuffle": True}
        )
        return self._net_class()(
            module=module,
            criterion=plan.criterion,
            optimizer=optimizer,
            lr=self.lr,
            max_epochs=plan.n_epochs,
            batch_size=self.batch_size,
            train_split=None if valid_ds is None else predefined_split(valid_ds),
            callbacks=plan.callbacks,
            device=self.device_,
            verbose=self.verbose,
            **iterator,
            **{f"optimizer__{k}": v for k, v in optimizer_kwargs.items()},
        )

    # -- inference ------------------------------------------------------------
    def _batches(self, fn, X: torch.Tensor) -> np.ndarray:
        """Apply ``fn`` to batches of ``X`` in eval mode; results go to the CPU
        batch by batch so a large X never piles up on the GPU (skorch #145)."""
        module = self.net_.module_
        module.eval()
        # Where the weights are, not device_: a net pickled on a GPU loads
        # onto the CPU of a machine without one (skorch moves it).
        device = next(module.parameters()).device
        out = []
        with torch.no_grad():
            for start in range(0, len(X), self.batch_size):
                batch = X[start : start + self.batch_size].to(device)
                out.append(fn(batch).cpu())
        return torch.cat(out).double().numpy()

    def _forward_logits(self, X: torch.Tensor) -> np.ndarray:
        module = self.net_.module_
        return self._batches(lambda x: first_output(module(x)), X)

    @staticmethod
    def _proba(logits: np.ndarray) -> np.ndarray:
        if logits.shape[1] == 1:
            p = expit(logits[:, 0])
            return np.column_stack([1.0 - p, p])
        return softmax(logits, axis=1)

    def _logits(self, X) -> np.ndarray:
        X = self._validate_predict_X(X, dtype=np.float32)
        return self._forward_logits(torch.from_numpy(X))

    def decision_function(self, X) -> np.ndarray:
        """Confidence scores; positive where :meth:`predict` gives ``classes_[1]``.

        Two classes: the logit of ``classes_[1]`` minus the logit of
        ``threshold_``, shape (n_windows,) (raw logits at the default 0.5).
        More classes: logits, shape (n_windows, n_classes).
        """
        logits = self._logits(X)
        if logits.shape[1] > 1:
            return logits
        return logits[:, 0] - np.log(self.threshold_ / (1.0 - self.threshold_))

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, shape (n_windows, n_classes), as ``classes_``."""
        return self._proba(self._logits(X))

    def transform(self, X) -> np.ndarray:
        """The embedding the head sees, shape (n_windows, embedding_dim)."""
        X = self._validate_predict_X(X, dtype=np.float32)
        return self._batches(self.net_.module_.embed, torch.from_numpy(X))

    def fit_transform(self, X, y=None, groups=None) -> np.ndarray:
        """Fit, then return the embedding of ``X``."""
        return self.fit(X, y, groups=groups).transform(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        try:
            tags.classifier_tags.multi_class = not resolve_loss(self.loss).binary_only
        except (TypeError, ValueError):
            pass  # fit reports a bad loss with its own message
        return tags


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _take(side: dict, idx: np.ndarray) -> dict:
    return {k: None if v is None else v[idx] for k, v in side.items()}


def _resolve_device(device) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"device must be 'auto' or a torch device string such as 'cpu' or "
            f"'cuda:0', got {device!r}."
        ) from exc
    return str(device)
