"""The skorch net every skeeg deep classifier trains: the supervised loss on
the logits, forward passes at the chosen precision, Hugging Face accelerate,
and the one plan that says what a fit trains with.

A module's ``forward`` returns logits, or a tuple whose first element they
are; ``embed`` returns the embedding (:class:`skeeg.models.eeg_module.EEGModule`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, partial

import torch
from skorch import NeuralNet
from torch import nn

from skeeg.estimators.eeg_classifier import UNLABELLED
from skeeg.training.recipe import first_output


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
    them: :class:`skeeg.training.recipe.SelectBestEpoch` and skorch's
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


def with_accelerate(net_class):
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


def resolve_device(device) -> str:
    """``device`` as a torch device string; "auto" is CUDA when present, else CPU."""
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
