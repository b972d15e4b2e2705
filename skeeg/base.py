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

import inspect
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, partial
from typing import ClassVar

import numpy as np
import torch
from scipy.special import expit, softmax
from sklearn.base import TransformerMixin
from sklearn.model_selection import StratifiedGroupKFold, StratifiedShuffleSplit
from sklearn.utils import check_random_state
from skorch import NeuralNet
from skorch.dataset import Dataset
from skorch.helper import predefined_split
from skorch.utils import multi_indexing
from torch import nn
from torch.utils.data import DataLoader, default_collate

from skeeg._docs import fill_doc
from skeeg._validation import is_lazy_windows
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


#: Values of the ``precision`` parameter of the deep classifiers.
PRECISIONS = ("float32", "bf16")

#: The arguments of :class:`torch.utils.data.DataLoader` in this torch.
_LOADER_ARGUMENTS = frozenset(inspect.signature(DataLoader).parameters)
#: DataLoader arguments skeeg sets itself, which ``loader_params`` may not.
_LOADER_CONTROLLED = (
    "dataset",
    "batch_size",
    "shuffle",
    "sampler",
    "batch_sampler",
    "collate_fn",
)


def autocast(precision: str, device_type: str):
    """The context of a forward pass at ``precision``.

    Parameters
    ----------
    precision : {"float32", "bf16"}
        "bf16": :class:`torch.autocast` to bfloat16 (matrix products and
        convolutions in bf16, reductions and losses in float32); "float32":
        a disabled autocast, i.e. nothing.
    device_type : str
        ``torch.device.type`` of the module's weights ("cpu", "cuda", ...).
    """
    return torch.autocast(
        device_type, dtype=torch.bfloat16, enabled=precision == "bf16"
    )


def _to_float32(outputs):
    """Module outputs with their bf16 tensors cast to float32."""
    if isinstance(outputs, torch.Tensor):
        return outputs.float() if outputs.dtype == torch.bfloat16 else outputs
    if isinstance(outputs, tuple | list):
        return type(outputs)(_to_float32(o) for o in outputs)
    return outputs


class SkeegNet(NeuralNet):
    """The skorch net of the skeeg classifiers: supervised loss on the logits.

    Override :meth:`get_loss` to add terms that use other module outputs
    (``y_pred`` is whatever ``forward`` returns), other dataset targets
    (``y_true`` is what :meth:`DeepClassifierBase._make_dataset` put there) or
    the inputs ``X``.

    Parameters
    ----------
    precision : {"float32", "bf16"}, default="float32"
        "bf16" runs every forward pass (training and validation) under
        :func:`autocast` and casts the outputs back to float32, so
        :meth:`get_loss` computes in float32.
    *args, **kwargs
        Those of :class:`skorch.NeuralNet`.
    """

    def __init__(self, *args, precision: str = "float32", **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.precision = precision

    def infer(self, x, **fit_params):
        if self.precision == "float32":
            return super().infer(x, **fit_params)
        # The weights' device, not self.device: None under accelerate.
        device_type = next(self.module_.parameters()).device.type
        with autocast(self.precision, device_type):
            outputs = super().infer(x, **fit_params)
        return _to_float32(outputs)

    def get_loss(self, y_pred, y_true, X=None, training=False) -> torch.Tensor:
        return supervised_loss(self.criterion_, first_output(y_pred), y_true)

    def _set_training(self, training: bool = True) -> None:
        # skorch sets the mode of the module and criterion before every batch;
        # ``train()`` walks every submodule (0.2 ms a step for SC), so only a
        # change of mode goes through.
        if self.module_.training != training:
            super()._set_training(training)


class _AccelerateHooks:
    """What skeeg changes in skorch's ``AccelerateMixin`` (see :func:`accelerated`).

    The module is unwrapped after the callbacks' ``on_train_end``, not before
    them: :class:`skeeg.training.SelectBestEpoch` and skorch's
    ``EarlyStopping(load_best=True)`` restore a ``state_dict`` saved from the
    wrapped module, whose keys carry DistributedDataParallel's ``module.``
    prefix in multi-process training.

    A criterion without trainable parameters is moved to the accelerator's
    device rather than prepared: skorch prepares every criterion, and on
    several CPU processes accelerate wraps it in DistributedDataParallel,
    which refuses a module without trainable parameters (on GPUs accelerate
    skips the wrapping itself; accelerate #760).
    """

    def _initialize_accelerator(self):
        criteria = self._criteria
        frozen = [
            name for name in criteria if not _has_trainable(getattr(self, name + "_"))
        ]
        self._criteria = [name for name in criteria if name not in frozen]
        try:
            super()._initialize_accelerator()
        finally:
            self._criteria = criteria
        if self.accelerator.device_placement:
            for name in frozen:
                criterion = getattr(self, name + "_")
                if isinstance(criterion, nn.Module):
                    setattr(self, name + "_", criterion.to(self.accelerator.device))
        return self

    def on_train_end(self, net, X=None, y=None, **kwargs) -> None:
        self.accelerator.wait_for_everyone()

    def partial_fit(self, X, y=None, classes=None, **fit_params):
        super().partial_fit(X, y, classes=classes, **fit_params)
        if self.unwrap_after_train:
            self._unwrap_accelerator()
        for name in self._optimizers:
            # torch's LR schedulers wrap ``step`` on the optimizer instance to
            # count calls; accelerate's optimizer wrapper pickles its
            # ``__dict__``, and pickle cannot find that wrapper by name.
            # Training is over: the class's ``step`` comes back.
            vars(getattr(self, name + "_")).pop("step", None)
        return self

    def __reduce_ex__(self, protocol):
        # The class is made at run time; pickle rebuilds it from the net
        # class it extends.
        return _new_accelerated, (self._base_net,), self.__getstate__()


def _has_trainable(obj) -> bool:
    """Whether ``obj`` is a torch module with a parameter that needs a gradient."""
    return isinstance(obj, nn.Module) and any(p.requires_grad for p in obj.parameters())


def _with_accelerate(net_class):
    """:func:`accelerated` of a net class, or of the class a
    :func:`functools.partial` of :meth:`DeepClassifierBase._net_class` binds."""
    if isinstance(net_class, partial):
        return partial(
            accelerated(net_class.func), *net_class.args, **net_class.keywords
        )
    return accelerated(net_class)


@cache
def accelerated(net_class: type[NeuralNet]) -> type[NeuralNet]:
    """``net_class`` with skorch's ``AccelerateMixin`` (Hugging Face accelerate).

    The net takes an ``accelerator`` (an :class:`accelerate.Accelerator`),
    which places the module and the batches, wraps the module for
    data-parallel training when launched on several processes
    (``accelerate launch``) and gathers validation outputs across them.
    One class per ``net_class``; instances pickle.
    """
    from skorch.hf import AccelerateMixin

    return type(
        f"Accelerated{net_class.__name__}",
        (_AccelerateHooks, AccelerateMixin, net_class),
        {"__module__": __name__, "_base_net": net_class},
    )


def _new_accelerated(net_class: type[NeuralNet]) -> NeuralNet:
    cls = accelerated(net_class)
    return cls.__new__(cls)


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

    #: False where the net reaches attributes of ``net.module_`` during
    #: training, which multi-process (DistributedDataParallel) training
    #: wraps: such an estimator refuses an accelerator with several processes.
    _data_parallel: ClassVar[bool] = True
    #: fit and inference read a LazyWindows batch by batch.
    _accepts_lazy: ClassVar[bool] = True

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
        precision,
        loader_params,
        accelerator,
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
        self.precision = precision
        self.loader_params = loader_params
        self.accelerator = accelerator
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
        return windows_dataset(X, torch.from_numpy(y))

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
    def fit(self, X, y=None, groups=None) -> DeepClassifierBase:
        """Train on EEG windows.

        Parameters
        ----------
        X : array-like of shape (n_windows, n_channels, n_times) or (n_windows, n_times)
            EEG windows (a 2-D X has one channel). Cast to float32. Or a
            :class:`~skeeg.datasets.LazyWindows`, read batch by batch.
        y : array-like of shape (n_windows,) or None
            Labels of any type (ints, strings). In semi-supervised estimators
            -1 marks an unlabelled window. None: a LazyWindows' ``y``.
        groups : array-like of shape (n_windows,), optional
            Subject (or recording) of each window. Keeps the internal
            validation split group-aware; never reaches the module. None: a
            LazyWindows' ``groups``.

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
        if self.accelerator is None:
            self.device_ = _resolve_device(self.device)
        else:
            self.device_ = str(self.accelerator.device)
            seed = _shared_seed(self.accelerator, seed)
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
            train_ds = (  # without a split, X itself: no copy of the windows
                self._make_dataset(X, y_enc, **side)
                if valid is None
                else self._make_dataset(X[train], y_enc[train], **_take(side, train))
            )
            self.net_.fit(train_ds, y=None)
        if self.accelerator is not None:
            # accelerate keeps every object it prepared (each epoch's
            # DataLoaders, with their data) until told to let go between two
            # trainings.
            self.accelerator.free_memory()
        y_valid = proba_valid = None
        if self.threshold == "auto":
            y_valid = y_enc[valid]
            logits = self._forward_logits(window_source(X[valid]))
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
        if self.precision not in PRECISIONS:
            raise ValueError(
                f"precision must be one of {PRECISIONS}, got {self.precision!r}."
            )
        _check_loader_params(self.loader_params)
        if self.accelerator is not None:
            self._check_accelerator()
        self._check_threshold()
        if self.threshold == "auto" and vf is None:
            raise ValueError(
                "threshold='auto' tunes the threshold on the internal validation "
                "split; set validation_fraction to a float in (0, 1)."
            )

    def _check_accelerator(self) -> None:
        try:
            from accelerate import Accelerator
        except ImportError:
            Accelerator = None
        if Accelerator is None or not isinstance(self.accelerator, Accelerator):
            raise TypeError(
                "accelerator must be None or an accelerate.Accelerator "
                "(pip install 'skeeg[scale]'), got "
                f"{type(self.accelerator).__name__}."
            )
        if self.device != "auto":
            raise ValueError(
                f"device={self.device!r} with an accelerator: the accelerator "
                f"places the model (on {self.accelerator.device}); leave "
                "device='auto'."
            )
        mixed = self.accelerator.mixed_precision
        if self.grad_clip is not None and mixed not in ("no", "bf16"):
            # Its GradScaler unscales the gradients only at the optimizer
            # step, after skeeg.training.ClipGradientNorm has clipped them.
            raise ValueError(
                f"An accelerator with mixed_precision={mixed!r} scales the "
                "gradients that grad_clip would clip; set grad_clip=None, or "
                "use precision='bf16' with an accelerator without mixed "
                "precision."
            )
        if self.accelerator.num_processes > 1 and not self._data_parallel:
            raise ValueError(
                f"{type(self).__name__} does not train on several processes "
                f"(accelerator.num_processes={self.accelerator.num_processes}): "
                "its net reaches attributes of the module, which "
                "DistributedDataParallel wraps. Launch one process."
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
        net_class, placement = self._net_class(), {"device": self.device_}
        if self.accelerator is not None:
            net_class = _with_accelerate(net_class)
            # skorch leaves placement to an accelerator that does it.
            device = None if self.accelerator.device_placement else self.device_
            placement = {
                "accelerator": self.accelerator,
                "device": device,
                # PrintLog ignores verbose for any sink but print; the
                # accelerator's prints on the main process only.
                "callbacks__print_log__sink": (
                    self.accelerator.print if self.verbose else print
                ),
            }
        loader = {
            f"iterator_{kind}__{key}": value
            for kind in ("train", "valid")
            for key, value in {
                "collate_fn": collate_windows,
                **(self.loader_params or {}),
            }.items()
        }
        return net_class(
            module=module,
            criterion=plan.criterion,
            optimizer=optimizer,
            lr=self.lr,
            max_epochs=plan.n_epochs,
            batch_size=self.batch_size,
            train_split=None if valid_ds is None else predefined_split(valid_ds),
            callbacks=plan.callbacks,
            verbose=self.verbose,
            precision=self.precision,
            **placement,
            **iterator,
            **loader,
            **{f"optimizer__{k}": v for k, v in optimizer_kwargs.items()},
        )

    # -- inference ------------------------------------------------------------
    def _batches(self, fn, X: torch.Tensor, *, inference: bool = True) -> np.ndarray:
        """Apply ``fn`` to batches of ``X`` in eval mode at ``precision``; results
        go to the CPU batch by batch so a large X never piles up on the GPU
        (skorch #145). ``inference=False`` runs under :func:`torch.no_grad`
        rather than :func:`torch.inference_mode`, for an ``fn`` that computes
        gradients itself (Grad-CAM)."""
        module = self.net_.module_
        module.eval()
        # Where the weights are, not device_: a net pickled on a GPU loads
        # onto the CPU of a machine without one (skorch moves it).
        device = next(module.parameters()).device
        out = []
        grad_mode = torch.inference_mode() if inference else torch.no_grad()
        with grad_mode, autocast(self.precision, device.type):
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
        return self._forward_logits(window_source(X))

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
        return self._batches(self.net_.module_.embed, window_source(X))

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


def _check_loader_params(params) -> None:
    """Refuse ``loader_params`` that skeeg sets itself, that are not DataLoader
    arguments, or whose values :class:`~torch.utils.data.DataLoader` refuses."""
    if params is None:
        return
    if not isinstance(params, dict):
        raise TypeError(f"loader_params must be a dict or None, got {params!r}.")
    for key in params:
        if key in _LOADER_CONTROLLED:
            raise ValueError(
                f"loader_params may not set {key!r}: skeeg sets "
                f"{', '.join(_LOADER_CONTROLLED)} (batch_size is a parameter of "
                "the estimator; sampling follows the loss strategy)."
            )
        if key not in _LOADER_ARGUMENTS:
            raise ValueError(
                f"loader_params key {key!r} is not an argument of "
                "torch.utils.data.DataLoader; expected some of "
                f"{sorted(_LOADER_ARGUMENTS.difference(_LOADER_CONTROLLED))}."
            )
    try:
        # DataLoader checks its arguments when built (workers start only
        # when it is iterated).
        DataLoader([], **params)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"torch.utils.data.DataLoader refuses loader_params={params!r}: {exc}"
        ) from None


def _shared_seed(accelerator, seed: int) -> int:
    """The main process's ``seed`` on every process of ``accelerator``: all
    draw the same validation split, window sampling and shuffling, which
    accelerate then shards."""
    if accelerator.num_processes == 1:
        return seed
    from accelerate.utils import broadcast_object_list

    return int(broadcast_object_list([seed])[0])


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


def windows_dataset(X, y) -> Dataset:
    """The skorch dataset of training windows ``X`` with targets ``y``.

    Parameters
    ----------
    X : ndarray of float32, shape (n_windows, n_channels, n_times), or LazyWindows
    y : Tensor or dict of Tensor
        The targets, shape (n_windows, ...) each.

    Returns
    -------
    dataset : skorch.dataset.Dataset
        Its batches are taken in one indexing (of the array, or one
        :meth:`~skeeg.datasets.LazyWindows.read`) when torch's DataLoader asks
        for a batch's indices; with :func:`collate_windows` (what skeeg's nets
        use) the DataLoader stacks nothing. Any other DataLoader sees rows.
    """
    return _WindowsDataset(X, y)


class _WindowsDataset(Dataset):
    """A skorch dataset that takes a batch in one indexing.

    skorch's own ``Dataset`` indexes, converts and stacks one window at a time:
    0.5 ms a batch of 64 windows, a few per cent of a small network's step
    (``benchmarks/overhead.py``). Numpy's fancy indexing takes the batch in
    0.02 ms, and a LazyWindows reads it in one call.
    """

    def __getitems__(self, indices) -> _Batch:
        # torch's DataLoader calls __getitems__ with a batch's indices when
        # the dataset has it, then collates what it returns.
        indices = np.asarray(indices, dtype=np.intp)
        windows = self.X.read(indices) if is_lazy_windows(self.X) else self.X[indices]
        # A tensor indexed by a tensor: 30 times faster than by an array.
        rows = torch.from_numpy(indices)
        y = (
            {key: target[rows] for key, target in self.y.items()}
            if isinstance(self.y, dict)
            else self.y[rows]
        )
        return _Batch(torch.from_numpy(windows), y)

    def __getitem__(self, i):
        return self.__getitems__([i])[0]


class _Batch(Sequence):
    """A batch's windows, shape (batch, n_channels, n_times), and targets,
    taken together; a sequence of ``(window, target)`` rows to torch's
    ``default_collate``, passed on as it is by :func:`collate_windows`."""

    def __init__(self, X: torch.Tensor, y) -> None:
        self.X, self.y = X, y

    def __len__(self) -> int:
        return len(self.X)

    def __getitem__(self, i: int) -> tuple:
        return self.X[i], multi_indexing(self.y, i)


def collate_windows(data):
    """The DataLoader ``collate_fn`` of skeeg's nets: a :class:`_Batch` as the
    ``(X, y)`` it holds, anything else through torch's ``default_collate``."""
    if isinstance(data, _Batch):
        return data.X, data.y
    return default_collate(data)


def window_source(X):
    """Windows for :meth:`DeepClassifierBase._batches`: a tensor for an
    array, a view that reads each slice from disk for a LazyWindows.

    Parameters
    ----------
    X : ndarray of float32, shape (n_windows, n_channels, n_times), or LazyWindows

    Returns
    -------
    windows : Tensor or _LazyBatches
        ``len(windows)`` and ``windows[a:b]`` (a Tensor) work on both.
    """
    if is_lazy_windows(X):
        return _LazyBatches(X)
    return torch.from_numpy(X)


class _LazyBatches:
    """Slices of a LazyWindows read into tensors: ``len`` and ``[a:b]``, as
    :meth:`DeepClassifierBase._batches` uses a tensor."""

    def __init__(self, windows) -> None:
        self.windows = windows

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, key: slice) -> torch.Tensor:
        # The slice's own indices: no arange over the whole dataset per batch.
        idx = np.arange(*key.indices(len(self.windows)))
        return torch.from_numpy(self.windows.read(idx))
