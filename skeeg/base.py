"""The one deep-estimator base of skeeg.

:class:`DeepClassifierBase` validates EEG windows, encodes labels, splits a
group-aware validation set, and composes a :class:`skorch.NeuralNet` built
inside ``fit`` (skorch's own classifier is not subclassed: it fails most
scikit-learn checks, braindecode #172, skorch #521). Subclasses only name their
torch module and the parameters it takes.
"""

from __future__ import annotations

import inspect
import math
from typing import ClassVar

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.model_selection import StratifiedGroupKFold, StratifiedShuffleSplit
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d
from skorch import NeuralNet
from skorch.dataset import Dataset
from skorch.helper import predefined_split
from torch import nn

from skeeg._validation import validate_eeg
from skeeg.training import make_callbacks, make_loss_plan, make_optimizer

#: Prefixes of parameters routed as keyword arguments, as in skorch.
ROUTED_PREFIXES = ("criterion__", "optimizer__")

#: IncNeg's default base a (a = sqrt(2), b = 2 draws e**2 * n_pos negatives).
SQRT2 = math.sqrt(2.0)

#: Label of an unlabelled window, in semi-supervised estimators only.
UNLABELLED = -1


class _Net(NeuralNet):
    """skorch net whose loss squeezes a single binary logit.

    A binary module returns logits of shape (batch, 1); BCE-type criteria take
    (batch,) logits and float targets.
    """

    def get_loss(self, y_pred, y_true, X=None, training=False) -> torch.Tensor:
        y_true = torch.as_tensor(y_true, device=y_pred.device)
        if y_pred.ndim == 2 and y_pred.shape[1] == 1:
            return self.criterion_(y_pred[:, 0], y_true.float())
        return self.criterion_(y_pred, y_true.long())


class DeepClassifierBase(ClassifierMixin, TransformerMixin, BaseEstimator):
    """Base of the skeeg deep classifiers (not to be used directly).

    Parameters
    ----------
    width : int, default=64
        Channels inside the network.
    n_blocks : int or "auto", default="auto"
        Depth of the network; what a block is depends on the model.
    max_epochs : int, default=30
        Training epochs.
    batch_size : int, default=256
        Windows per mini-batch (training and inference).
    lr : float, default=0.01
        Learning rate.
    optimizer : {"sgd", "adam", "adamw"} or torch.optim.Optimizer class, default="sgd"
        "sgd" adds momentum 0.9 and weight decay 1e-4; ``optimizer__*``
        parameters override these and reach the optimizer.
    lr_schedule : {"linear", None}, default="linear"
        "linear" decays the learning rate to ``min_lr`` over ``max_epochs``.
    min_lr : float, default=1e-5
        Final learning rate of the linear schedule.
    grad_clip : float or None, default=1.0
        Maximum gradient norm; None disables clipping.
    loss : {"bce", "bbce", "wbce", "ewbce", "focal", "sf", "sasu"}, default="bce"
        Loss strategy (iEDeaL's ablation names, see :mod:`skeeg.training`).
        Only "bce" (cross-entropy) is defined for more than two classes.
    criterion : torch loss class or instance, default=None
        Replaces the strategy's loss function; a class is built with the
        ``criterion__*`` parameters. Takes ``(logits, target)``.
    neg_schedule : {"auto", "all", "balanced", "sufficient", "incneg"}, default="auto"
        Negative windows per epoch; "auto" is the loss strategy's own.
    beta : float, default=1.0
        The F-beta that SaSu targets and that selects the best epoch.
    gamma_pos, gamma_neg : float, default=0.5
        SaSu's modulator exponents (0 gives unregularised SaSu).
    focal_gamma : float, default=2.0
        Exponent of the focal loss.
    warmup_epochs : int, default=3
        BCE warm-up (PreBCE) epochs of the "incneg" schedule.
    incneg_rate : tuple of (a, b), default=(sqrt(2), 2)
        IncNeg draws ``ceil(b ** log_a(e)) * n_pos`` negatives at SaSu epoch e.
    validation_fraction : float or None, default=0.2
        Share of the training windows held out to pick the epoch with the best
        validation F-beta. With ``groups`` the split keeps each group on one
        side (:class:`~sklearn.model_selection.StratifiedGroupKFold`). None
        trains on everything and keeps the last epoch.
    patience : int or None, default=None
        Early stopping after this many epochs without a better validation
        F-beta; None never stops early.
    random_state : int, RandomState or None, default=None
        Seeds weight initialisation, dropout, shuffling and window sampling;
        an int makes CPU training reproducible.
    device : str, default="auto"
        "auto" picks CUDA when present, else CPU; or any torch device string.
    verbose : int, default=0
        1 prints a line per epoch, 2 adds a progress bar.
    """

    #: Estimators that treat label -1 as "unlabelled" set this to True.
    _semi_supervised: ClassVar[bool] = False
    #: Parameters of the subclass that reach its module, with their defaults.
    _module_params: ClassVar[dict] = {}
    #: Defaults of base parameters that the subclass changes.
    _default_overrides: ClassVar[dict] = {}

    def __init__(
        self,
        *,
        width=64,
        n_blocks="auto",
        max_epochs=30,
        batch_size=256,
        lr=0.01,
        optimizer="sgd",
        lr_schedule="linear",
        min_lr=1e-5,
        grad_clip=1.0,
        loss="bce",
        criterion=None,
        neg_schedule="auto",
        beta=1.0,
        gamma_pos=0.5,
        gamma_neg=0.5,
        focal_gamma=2.0,
        warmup_epochs=3,
        incneg_rate=(SQRT2, 2.0),
        validation_fraction=0.2,
        patience=None,
        random_state=None,
        device="auto",
        verbose=0,
        **routed,
    ):
        params = dict(locals())
        del params["self"], params["routed"]
        for name, value in params.items():
            setattr(self, name, value)
        self._set_routed(routed)

    def __init_subclass__(cls, **kwargs):
        # scikit-learn reads an estimator's parameters from the signature of
        # its __init__. Rather than repeat the ~25 base parameters in every
        # subclass, build the subclass's __init__ from the base signature, the
        # subclass's default overrides and its module parameters.
        super().__init_subclass__(**kwargs)
        if "__init__" not in cls.__dict__:
            cls.__init__ = _compose_init(cls)

    # -- parameters -------------------------------------------------------
    def _set_routed(self, routed: dict) -> None:
        for key, value in routed.items():
            if not key.startswith(ROUTED_PREFIXES):
                raise TypeError(
                    f"{type(self).__name__} got an unexpected keyword argument "
                    f"{key!r}; routed parameters start with {ROUTED_PREFIXES}."
                )
            setattr(self, key, value)

    def get_params(self, deep: bool = True) -> dict:
        params = super().get_params(deep=deep)
        params.update(
            {k: v for k, v in vars(self).items() if k.startswith(ROUTED_PREFIXES)}
        )
        return params

    def set_params(self, **params) -> DeepClassifierBase:
        routed = {k: v for k, v in params.items() if k.startswith(ROUTED_PREFIXES)}
        self._set_routed(routed)
        return super().set_params(
            **{k: v for k, v in params.items() if k not in routed}
        )

    def _routed(self, prefix: str) -> dict:
        return {
            k[len(prefix) :]: v for k, v in vars(self).items() if k.startswith(prefix)
        }

    # -- hooks for subclasses ---------------------------------------------
    def _min_n_times(self) -> int:
        """Shortest window the module can take, in samples."""
        return 1

    def _build_module(self, n_channels: int, n_times: int, n_outputs: int) -> nn.Module:
        """The torch module; ``forward`` gives logits, ``embed`` the features."""
        raise NotImplementedError

    # -- fit ----------------------------------------------------------------
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
        X, _ = validate_eeg(
            self, X, reset=True, dtype=np.float32, min_times=self._min_n_times()
        )
        y_enc = self._encode_labels(y, len(X))
        groups = self._check_groups(groups, len(X))
        self._check_params()
        rng = check_random_state(self.random_state)
        seed = int(rng.randint(np.iinfo(np.int32).max))
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
            self.net_ = self._make_net(module, y_enc[train], valid, X, y_enc, seed)
            self.net_.fit(_dataset(X[train], y_enc[train]), y=None)
        return self

    def _encode_labels(self, y, n_windows: int) -> np.ndarray:
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, "
                "but the target y is None."
            )
        y = column_or_1d(y, warn=True)
        if len(y) != n_windows:
            raise ValueError(f"y has {len(y)} entries, but X has {n_windows} windows.")
        check_classification_targets(y)
        labelled = np.ones(len(y), dtype=bool)
        if self._semi_supervised:
            labelled = ~_is_unlabelled(y)
        encoder = LabelEncoder().fit(y[labelled])
        self.classes_ = encoder.classes_
        if len(self.classes_) < 2:
            raise ValueError(
                f"y has {len(self.classes_)} class(es) {list(self.classes_)}, but "
                f"{type(self).__name__} needs at least 2 classes."
            )
        y_enc = np.full(len(y), UNLABELLED, dtype=np.int64)
        y_enc[labelled] = encoder.transform(y[labelled])
        return y_enc

    @staticmethod
    def _check_groups(groups, n_windows: int):
        if groups is None:
            return None
        groups = column_or_1d(groups)
        if len(groups) != n_windows:
            raise ValueError(
                f"groups has {len(groups)} entries, but X has {n_windows} windows."
            )
        return groups

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
        if not _is_int(self.warmup_epochs) or self.warmup_epochs < 0:
            raise ValueError(
                f"warmup_epochs must be an int >= 0, got {self.warmup_epochs!r}."
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

    def _split(self, y_enc: np.ndarray, groups, seed: int):
        """Train and validation indices; validation is None when not used."""
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

    def _make_net(self, module, y_train, valid, X, y_enc, seed) -> NeuralNet:
        plan = make_loss_plan(
            y_train,
            n_classes=len(self.classes_),
            loss=self.loss,
            criterion=self.criterion,
            criterion_kwargs=self._routed("criterion__"),
            neg_schedule=self.neg_schedule,
            beta=self.beta,
            gamma_pos=self.gamma_pos,
            gamma_neg=self.gamma_neg,
            focal_gamma=self.focal_gamma,
            warmup_epochs=self.warmup_epochs,
            incneg_rate=self.incneg_rate,
            random_state=seed,
        )
        optimizer, optimizer_kwargs = make_optimizer(
            self.optimizer, self._routed("optimizer__")
        )
        callbacks = make_callbacks(
            max_epochs=self.max_epochs,
            lr=self.lr,
            lr_schedule=self.lr_schedule,
            min_lr=self.min_lr,
            grad_clip=self.grad_clip,
            select_on_validation=valid is not None,
            beta=self.beta,
            patience=self.patience,
            curriculum=plan.sampler is not None,
            verbose=self.verbose,
        )
        iterator = (
            {"iterator_train__sampler": plan.sampler, "iterator_train__shuffle": False}
            if plan.sampler is not None
            else {"iterator_train__shuffle": True}
        )
        train_split = (
            None
            if valid is None
            else predefined_split(_dataset(X[valid], y_enc[valid]))
        )
        return _Net(
            module=module,
            criterion=plan.criterion,
            optimizer=optimizer,
            lr=self.lr,
            max_epochs=self.max_epochs,
            batch_size=self.batch_size,
            train_split=train_split,
            callbacks=callbacks,
            device=self.device_,
            verbose=self.verbose,
            **iterator,
            **{f"optimizer__{k}": v for k, v in optimizer_kwargs.items()},
        )

    # -- inference ------------------------------------------------------------
    def _check_X(self, X) -> torch.Tensor:
        check_is_fitted(self)
        X, _ = validate_eeg(self, X, reset=False, dtype=np.float32)
        return torch.from_numpy(X)

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

    def decision_function(self, X) -> np.ndarray:
        """Logits: shape (n_windows,) for two classes (positive = ``classes_[1]``),
        (n_windows, n_classes) otherwise."""
        X = self._check_X(X)
        logits = self._batches(self.net_.module_, X)
        return logits[:, 0] if logits.shape[1] == 1 else logits

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, shape (n_windows, n_classes), as ``classes_``."""
        logits = self.decision_function(X)
        if logits.ndim == 1:
            p = 1.0 / (1.0 + np.exp(-logits))
            return np.column_stack([1.0 - p, p])
        logits = logits - logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        return e / e.sum(axis=1, keepdims=True)

    def predict(self, X) -> np.ndarray:
        """Predicted labels, shape (n_windows,), values from ``classes_``."""
        logits = self.decision_function(X)
        idx = (logits > 0).astype(int) if logits.ndim == 1 else logits.argmax(axis=1)
        return self.classes_[idx]

    def transform(self, X) -> np.ndarray:
        """The embedding the head sees, shape (n_windows, embedding_dim)."""
        X = self._check_X(X)
        return self._batches(self.net_.module_.embed, X)

    def fit_transform(self, X, y=None, groups=None) -> np.ndarray:
        """Fit, then return the embedding of ``X``."""
        return self.fit(X, y, groups=groups).transform(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.target_tags.required = True
        return tags


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _dataset(X: np.ndarray, y: np.ndarray) -> Dataset:
    # Tensors once, so batches are sliced from memory without per-item numpy
    # conversion (skorch #322).
    return Dataset(torch.from_numpy(X), torch.from_numpy(y))


def _is_unlabelled(y: np.ndarray) -> np.ndarray:
    if y.dtype.kind in "iuf":
        return y == UNLABELLED
    return np.array([str(v) == str(UNLABELLED) for v in y])


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


def _compose_init(cls):
    """An ``__init__`` for ``cls`` with the base parameters, ``cls``'s default
    overrides and its module parameters, and a real signature for sklearn."""
    base = inspect.signature(DeepClassifierBase.__init__).parameters
    defaults = {
        name: p.default
        for name, p in base.items()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    }
    unknown = set(cls._default_overrides) - set(defaults)
    if unknown:
        raise TypeError(f"{cls.__name__}._default_overrides names unknown {unknown}.")
    defaults.update(cls._default_overrides)
    defaults.update(cls._module_params)

    def __init__(self, **params):
        routed = {k: v for k, v in params.items() if k not in defaults}
        for name, default in defaults.items():
            setattr(self, name, params.get(name, default))
        self._set_routed(routed)

    __init__.__signature__ = inspect.Signature(
        [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
        + [
            inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=d)
            for n, d in defaults.items()
        ]
    )
    __init__.__qualname__ = f"{cls.__qualname__}.__init__"
    __init__.__doc__ = (
        f"Store the parameters of {cls.__name__} (see the class docstring)."
    )
    return __init__
