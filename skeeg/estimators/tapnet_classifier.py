"""TapNet, the attentional prototypical network, as a skeeg classifier
(method-specs §4; the network is :mod:`skeeg.models.tapnet`).

Training (per mini-batch): the prototypes are built from the batch's own
embeddings (labelled windows, plus unlabelled ones through their soft
assignment), the loss is the loss strategy's criterion on the distance logits
minus ``prototype_separation`` times the mean squared distance between
prototypes. A class without a labelled window in a batch keeps its stored
prototype, which is set from all training windows when training starts and
refreshed by every batch that holds the class. When training ends (after the
best epoch is restored) the stored prototypes are recomputed from all
training windows; prediction measures distances to them.
"""

from __future__ import annotations

import math
from functools import partial
from numbers import Integral, Real
from typing import ClassVar

import torch
from sklearn.utils._param_validation import Interval, StrOptions
from skorch.callbacks import Callback
from torch import nn

from skeeg._docs import fill_doc
from skeeg.estimators.deep_classifier import DeepClassifierBase
from skeeg.models.tapnet import TapNet, mean_pairwise_distance
from skeeg.training.net import SkeegNet, TrainingPlan, supervised_loss


class _PrototypeNet(SkeegNet):
    """Mini-batch prototypes in training, stored prototypes otherwise.

    Parameters
    ----------
    prototype_separation : float
        Weight of the mean pairwise prototype distance subtracted from the
        loss.
    *args, **kwargs
        Those of :class:`skorch.NeuralNet`.
    """

    def __init__(self, *args, prototype_separation: float = 0.0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.prototype_separation = prototype_separation

    def get_loss(self, y_pred, y_true, X=None, training=False) -> torch.Tensor:
        logits, embeddings = y_pred
        if not training:
            return supervised_loss(self.criterion_, logits, y_true)
        head = self.module_.head
        y = torch.as_tensor(y_true, device=embeddings.device)
        prototypes, present = head.compute_prototypes(embeddings, y)
        with torch.no_grad():
            head.prototypes[present] = prototypes[present]
        loss = supervised_loss(self.criterion_, head.logits(embeddings, prototypes), y)
        return loss - self.prototype_separation * mean_pairwise_distance(prototypes)


class _PrototypesFromTrainingSet(Callback):
    """Set the stored prototypes from every training window (eval mode), when
    training starts and when it ends."""

    def on_train_begin(self, net, X=None, y=None, **kwargs) -> None:
        _store_prototypes(net, X)

    def on_train_end(self, net, X=None, y=None, **kwargs) -> None:
        _store_prototypes(net, X)


def _store_prototypes(net, dataset) -> None:
    module = net.module_
    was_training = module.training
    module.eval()
    embeddings, labels = [], []
    with torch.no_grad():
        for Xi, yi in net.get_iterator(dataset, training=False):
            embeddings.append(module.embed(Xi.to(net.device)))
            labels.append(torch.as_tensor(yi).to(net.device))
        prototypes, _ = module.head.compute_prototypes(
            torch.cat(embeddings), torch.cat(labels)
        )
        module.head.prototypes.copy_(prototypes)
    module.train(was_training)


@fill_doc
class TapNetClassifier(DeepClassifierBase):
    """TapNet: attentional prototypical network for EEG windows (semi-supervised).

    Random channel groups each feed their own convolutional encoder, an LSTM
    reads the whole window, fully connected layers map both to an embedding,
    and each class is an attention-weighted prototype of its training
    windows; a window's class probabilities are the softmax of its negative
    squared distances to the prototypes (method-specs §4; Zhang et al., AAAI
    2020). Sizes default to a CPU-friendly quarter of the paper's; the
    paper's in brackets.

    Semi-supervised: ``y == -1`` marks an unlabelled window, which joins the
    prototypes with its soft assignment (softmax of negative squared
    distances to the labelled prototypes); every class needs at least one
    labelled window.

    Parameters
    ----------
    width : int, default=32
        Filters of each group's last convolution; the earlier ones have
        ``2 * width`` [128: 256, 256, 128].
    n_blocks : int or "auto", default="auto"
        Convolutions per group, kernels 8, 5, 3 then 3; "auto" is 3 [3].
    n_groups : int, default=3
        Random channel groups (random dimension permutation) [3: the
        reference code's automatic setting].
    group_ratio : float in (0, 1], default=2/3
        Each group holds ``max(1, floor(n_channels * group_ratio))`` channels,
        drawn without replacement by ``random_state`` [2/3].
    dilation : int or "auto", default=1
        Dilation of each group's first convolution; "auto" is
        ``max(1, n_times // 64)`` (the reference code's automatic setting) [1].
    lstm_hidden : int, default=32
        Hidden units of the LSTM [128].
    mapping_dims : tuple of int, default=(128, 64)
        Fully connected layers after the encoders; the last is the embedding
        size [(500, 300)].
    attention_dim : int, default=32
        Hidden units of each class's attention MLP [128].
    prototype_separation : float, default=1e-6
        Weight of the mean pairwise squared distance between prototypes,
        subtracted from the loss (the reference code's ``metric_param``).
    loss : str or LossStrategy, default="bce"
        The criterion on the distance logits: with two classes the logit of
        ``classes_[1]`` is ``||e - p_0||^2 - ||e - p_1||^2``, so "bce" is the
        paper's cross-entropy; more classes take cross-entropy. See
        :class:`skeeg.SCClassifier`.
    %(deep_training_params)s

    Attributes
    ----------
    %(deep_fit_attributes)s
    %(eeg_fit_attributes)s
    channel_groups_ : ndarray of int, shape (n_groups, group_size)
        The channels of each group.
    prototypes_ : ndarray of shape (n_classes, embedding_dim)
        Class prototypes from all training windows (the network's internal
        validation windows excluded), in :meth:`transform`'s space.

    Notes
    -----
    The paper trains with Adam, lr 1e-5, weight decay 1e-3, for 3000 epochs
    on the whole training set at once; pass ``optimizer="adam"`` and
    ``optimizer_params={"weight_decay": 1e-3}`` to follow it. Mini-batches
    here need no window of every class: a class absent from a batch keeps its
    stored prototype.

    Examples
    --------
    >>> from skeeg import TapNetClassifier
    >>> clf = TapNetClassifier(width=8, max_epochs=5)  # doctest: +SKIP
    >>> clf.fit(X, y_with_minus_one).transform(X).shape  # doctest: +SKIP
    (n_windows, 64)
    """

    _accepts_unlabelled = True
    # The net reads module_.head, and a callback module_.embed.
    _data_parallel = False

    def __init__(
        self,
        *,
        width=32,
        n_blocks="auto",
        n_groups=3,
        group_ratio=2 / 3,
        dilation=1,
        lstm_hidden=32,
        mapping_dims=(128, 64),
        attention_dim=32,
        prototype_separation=1e-6,
        loss="bce",
        max_epochs=30,
        batch_size=64,
        lr=3e-3,
        optimizer="adam",
        optimizer_params=None,
        lr_schedule="linear",
        min_lr=1e-5,
        grad_clip=1.0,
        criterion=None,
        criterion_params=None,
        threshold=0.5,
        validation_fraction=None,
        patience=None,
        random_state=None,
        device="auto",
        n_threads=None,
        precision="float32",
        loader_params=None,
        accelerator=None,
        verbose=0,
    ):
        super().__init__(
            width=width,
            n_blocks=n_blocks,
            loss=loss,
            max_epochs=max_epochs,
            batch_size=batch_size,
            lr=lr,
            optimizer=optimizer,
            optimizer_params=optimizer_params,
            lr_schedule=lr_schedule,
            min_lr=min_lr,
            grad_clip=grad_clip,
            criterion=criterion,
            criterion_params=criterion_params,
            threshold=threshold,
            validation_fraction=validation_fraction,
            patience=patience,
            random_state=random_state,
            device=device,
            n_threads=n_threads,
            precision=precision,
            loader_params=loader_params,
            accelerator=accelerator,
            verbose=verbose,
        )
        self.n_groups = n_groups
        self.group_ratio = group_ratio
        self.dilation = dilation
        self.lstm_hidden = lstm_hidden
        self.mapping_dims = mapping_dims
        self.attention_dim = attention_dim
        self.prototype_separation = prototype_separation

    _parameter_constraints: ClassVar[dict] = {
        **DeepClassifierBase._parameter_constraints,
        "n_groups": [Interval(Integral, 1, None, closed="left")],
        "group_ratio": [Interval(Real, 0, 1, closed="right")],
        "dilation": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "mapping_dims": [tuple, list],
        "lstm_hidden": [Interval(Integral, 1, None, closed="left")],
        "attention_dim": [Interval(Integral, 1, None, closed="left")],
        "prototype_separation": [Interval(Real, 0, None, closed="left")],
    }

    def _check_params(self) -> None:
        super()._check_params()
        dims = self.mapping_dims
        if not dims or not all(
            isinstance(d, Integral) and not isinstance(d, bool) and d >= 1 for d in dims
        ):
            raise ValueError(
                f"mapping_dims must be a non-empty tuple of ints >= 1, got {dims!r}."
            )

    def _min_n_times(self) -> int:
        # BatchNorm over (batch, time) needs two values per channel in
        # training, also for a last mini-batch of one window.
        return 2

    def _build_module(self, n_channels: int, n_times: int, n_outputs: int) -> nn.Module:
        dilation = max(1, n_times // 64) if self.dilation == "auto" else self.dilation
        module = TapNet(
            n_channels,
            n_times,
            n_outputs,
            n_groups=self.n_groups,
            group_size=max(1, math.floor(n_channels * self.group_ratio)),
            width=self.width,
            n_layers=3 if self.n_blocks == "auto" else self.n_blocks,
            dilation=dilation,
            lstm_hidden=self.lstm_hidden,
            mapping_dims=tuple(self.mapping_dims),
            attention_dim=self.attention_dim,
        )
        self.channel_groups_ = module.channel_groups.numpy().copy()
        return module

    def _training_plan(self, loss, y, *, seed, validation) -> TrainingPlan:
        plan = super()._training_plan(loss, y, seed=seed, validation=validation)
        # Last, so that it runs after the best epoch's weights are restored.
        plan.callbacks.append(("prototypes", _PrototypesFromTrainingSet()))
        return plan

    def _net_class(self):
        return partial(_PrototypeNet, prototype_separation=self.prototype_separation)

    def _fit(self, X, y, groups=None, **side) -> TapNetClassifier:
        super()._fit(X, y, groups=groups, **side)
        self.prototypes_ = self.net_.module_.head.prototypes.detach().cpu().numpy()
        return self
