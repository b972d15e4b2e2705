"""The deep layer of the skeeg classifiers: torch and skorch on top of
:class:`skeeg.estimators.eeg_classifier.EEGClassifierBase`.

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

The net, its plan and the batches live in :mod:`skeeg.training.recipe`.
"""

from __future__ import annotations

import inspect
import warnings
from numbers import Integral, Real
from typing import ClassVar

import numpy as np
import torch
from scipy.special import expit, softmax
from sklearn.base import TransformerMixin, _fit_context
from sklearn.model_selection import StratifiedGroupKFold, StratifiedShuffleSplit
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted
from skorch import NeuralNet
from skorch.dataset import Dataset
from skorch.helper import predefined_split
from torch import nn
from torch.utils.data import DataLoader

from skeeg._docs import fill_doc
from skeeg.estimators.eeg_classifier import UNLABELLED, EEGClassifierBase
from skeeg.training.batches import collate_windows, window_source, windows_dataset
from skeeg.training.net import (
    PRECISIONS,
    SkeegNet,
    TrainingPlan,
    autocast,
    resolve_device,
    with_accelerate,
)
from skeeg.training.recipe import (
    OPTIMIZERS,
    first_output,
    make_callbacks,
    make_optimizer,
)
from skeeg.training.strategies import LossStrategy, resolve_loss
from skeeg.training.threads import limit_threads

#: Share of the labelled windows ``threshold="auto"`` holds out to tune on
#: when there is no validation split (``validation_fraction=None``).
AUTO_THRESHOLD_FRACTION = 0.2

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
        A name of :data:`skeeg.training.strategies.LOSS_SHORTCUTS` or a strategy
        object such as ``SaSu(beta=2)``.
    %(deep_training_params)s
    """

    #: The shared parameters' constraints (scikit-learn's parameter
    #: validation, run by ``fit``); subclasses add their own to a copy.
    _parameter_constraints: ClassVar[dict] = {
        "width": [Interval(Integral, 1, None, closed="left")],
        "n_blocks": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "loss": [str, LossStrategy],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "optimizer": [StrOptions(set(OPTIMIZERS)), type],
        "optimizer_params": [dict, None],
        "lr_schedule": [StrOptions({"linear"}), None],
        "min_lr": [Interval(Real, 0, None, closed="left")],
        "grad_clip": [Interval(Real, 0, None, closed="neither"), None],
        "criterion": [type, nn.Module, None],
        "criterion_params": [dict, None],
        "threshold": [StrOptions({"auto"}), Interval(Real, 0, 1, closed="neither")],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither"), None],
        "patience": [Interval(Integral, 1, None, closed="left"), None],
        "random_state": ["random_state"],
        "device": [str],
        "n_threads": [
            StrOptions({"auto"}),
            Interval(Integral, 1, None, closed="left"),
            None,
        ],
        "precision": [StrOptions(set(PRECISIONS))],
        "loader_params": [dict, None],
        # Checked in fit: an accelerate.Accelerator needs skeeg[scale].
        "accelerator": "no_validation",
        "verbose": ["verbose"],
    }

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
        n_threads,
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
        self.n_threads = n_threads
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
            y,
            n_classes=len(self.classes_),
            criterion=criterion,
            random_state=seed,
            class_weight=self._class_weight(y),
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

    def _class_weight(self, y: np.ndarray) -> np.ndarray | None:
        """Weights of the encoded classes in the loss, from the training
        targets ``y`` (``-1``: unlabelled); None: unweighted."""
        return None

    def _net_class(self) -> type[NeuralNet]:
        """The skorch net class; its ``get_loss`` computes the training loss."""
        return SkeegNet

    # -- fit --------------------------------------------------------------------
    @_fit_context(prefer_skip_nested_validation=True)
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
        with limit_threads(self.n_threads):
            return self._train(X, y_enc, groups, side)

    def _train(self, X, y_enc, groups, side: dict) -> DeepClassifierBase:
        """The body of :meth:`_fit` on validated data, under the thread limit."""
        loss = resolve_loss(self.loss)
        seed = int(
            check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        )
        if self.accelerator is None:
            self.device_ = resolve_device(self.device)
        else:
            self.device_ = str(self.accelerator.device)
            seed = _shared_seed(self.accelerator, seed)
        n_outputs = 1 if len(self.classes_) == 2 else len(self.classes_)
        train, valid = self._split(y_enc, groups, seed, self.validation_fraction)
        # threshold="auto" without a validation split holds out windows to
        # tune on only: they pick no epoch and never train.
        tune = valid
        if self.threshold == "auto" and valid is None:
            train, tune = self._split(y_enc, groups, seed, AUTO_THRESHOLD_FRACTION)
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
            train_ds = (  # training on everything: X itself, no copy of the windows
                self._make_dataset(X, y_enc, **side)
                if len(train) == len(y_enc)
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
            y_valid = y_enc[tune]
            logits = self._forward_logits(window_source(X[tune]))
            proba_valid = self._proba(logits)[:, 1]
        self._fit_threshold(y_valid, proba_valid, beta=loss.target_beta)
        return self

    def _check_params(self) -> None:
        """What the parameter constraints cannot say; runs once the data is
        validated (``classes_`` and the window shape are set)."""
        _check_loader_params(self.loader_params)
        if self.accelerator is not None:
            self._check_accelerator()
        self._check_threshold()

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
            # step, after skeeg.training.recipe.ClipGradientNorm has clipped them.
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

    def _split(self, y_enc: np.ndarray, groups, seed: int, fraction: float | None):
        """Train indices and a held-out share ``fraction`` of the labelled
        windows (None when ``fraction`` is None).

        The held-out windows are labelled; unlabelled ones all train. With
        ``groups`` each group is on one side.
        """
        all_idx = np.arange(len(y_enc))
        if fraction is None:
            return all_idx, None
        labelled = y_enc != UNLABELLED
        if groups is not None:
            n_splits = max(2, round(1 / fraction))
            n_groups = len(np.unique(groups[labelled]))
            if n_groups < n_splits:
                raise ValueError(
                    f"A held-out share of {fraction} (validation_fraction, or "
                    f"threshold='auto') needs at least {n_splits} groups, got "
                    f"{n_groups}; pass more groups, or no groups."
                )
            splitter = StratifiedGroupKFold(n_splits, shuffle=True, random_state=seed)
            split = splitter.split(all_idx[labelled], y_enc[labelled], groups[labelled])
        else:
            splitter = StratifiedShuffleSplit(1, test_size=fraction, random_state=seed)
            split = splitter.split(all_idx[labelled], y_enc[labelled])
        train, valid = next(split)
        valid = all_idx[labelled][valid]
        missing = set(range(len(self.classes_))) - set(y_enc[valid])
        if missing:
            raise ValueError(
                f"The held-out share {fraction} (validation_fraction, or "
                f"threshold='auto') holds no window of class(es) "
                f"{[self.classes_[m] for m in sorted(missing)]}; pass more "
                "windows of each class, or more groups."
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
            net_class = with_accelerate(net_class)
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
        with (
            limit_threads(self.n_threads),
            grad_mode,
            autocast(self.precision, device.type),
        ):
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

    # -- the model file ---------------------------------------------------------
    def __skeeg_state__(self) -> dict:
        """What a model file (:mod:`skeeg.model_file`) keeps of the fitted model.

        Returns
        -------
        state : dict
            ``attributes``: the public fitted attributes but the skorch net
            and the device; ``weights``: the network's ``state_dict``. No
            training history, optimizer or criterion state.
        """
        from skeeg.model_file import fitted_state

        check_is_fitted(self)
        attributes = fitted_state(self)
        del attributes["net_"]
        attributes.pop("device_", None)
        return {"attributes": attributes, "weights": self.net_.module_.state_dict()}

    def __skeeg_restore__(self, state: dict, *, device: str = "cpu") -> None:
        """Rebuild the fitted model from :meth:`__skeeg_state__`'s ``state``.

        The network is built from the parameters and fitted shapes, takes the
        weights (strictly: every tensor, of the same shape), and goes into a
        skorch net trimmed for prediction on ``device``.
        """
        from skeeg.model_file import ModelFileError, restore_fitted_state

        attributes, weights = state["attributes"], state["weights"]
        if "net_" in attributes:
            raise ModelFileError("a deep classifier's state may not set net_.")
        restore_fitted_state(self, attributes)
        n_outputs = 1 if len(self.classes_) == 2 else len(self.classes_)
        # Built without touching the caller's global torch RNG: the weights
        # are overwritten at once.
        with torch.random.fork_rng(devices=[]):
            module = self._build_module(
                self.n_channels_in_, self.n_times_in_, n_outputs
            )
        try:
            module.load_state_dict(weights, strict=True)
        except RuntimeError as exc:
            raise ModelFileError(
                "the weights do not fit the network the parameters build: "
                f"{str(exc).splitlines()[0]}"
            ) from None
        # skorch needs a criterion to initialise; trim_for_prediction drops it
        # (and the optimizer) at once.
        net = self._net_class()(
            module=module,
            criterion=nn.Identity,
            device=device,
            batch_size=self.batch_size,
        )
        net.initialize()
        net.trim_for_prediction()
        self.net_, self.device_ = net, device

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        try:
            tags.classifier_tags.multi_class = not resolve_loss(self.loss).binary_only
        except (TypeError, ValueError):
            pass  # fit reports a bad loss with its own message
        return tags


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
