"""The skeeg deep classifiers for IED detection: a module and its defaults each.

Every class here is a :class:`skeeg.base.DeepClassifierBase`; its parameters
are the base's (see there) plus the module parameters listed in its docstring.
"""

from __future__ import annotations

from torch import nn

from skeeg.base import DeepClassifierBase
from skeeg.models.inception import InceptionTime
from skeeg.models.resnet1d import ResNet1D
from skeeg.models.sc import SCNet


class SCClassifier(DeepClassifierBase):
    """Seanet Classifier (SC) of iEDeaL for IED detection on raw EEG windows.

    A dilated full pre-activation residual CNN (method-specs §2). With
    ``loss="sasu"`` (the default) it trains as iEDeaL: SaSu, a surrogate of
    F-beta, after ``warmup_epochs`` of BCE (PreBCE) with an increasing number
    of negatives per epoch (IncNeg). All parameters of
    :class:`~skeeg.base.DeepClassifierBase` apply; the defaults follow the
    paper's recipe (SGD, momentum 0.9, lr 0.01 decayed linearly to 1e-5,
    gradient clipping at norm 1, batch 256, best epoch by validation F-beta).

    Parameters
    ----------
    width : int, default=64
        Channels inside the network.
    n_blocks : int or "auto", default="auto"
        Residual blocks, block ``i`` with dilation ``2**i``; "auto" is the
        smallest count whose receptive field ``3 + 4 * (2**n_blocks - 1)``
        covers the window (768 samples -> 8 blocks).
    dropout : float, default=0.2
        Dropout before the linear head.
    norm : {"layer", "group", "batch", "none"}, default="layer"
        Normalisation inside the blocks; "layer" normalises each sample over
        time (never BatchNorm by default: imbalanced batches destabilise it).
    loss : str, default="sasu"
        Loss strategy, see :data:`skeeg.training.LOSS_STRATEGIES`; only "bce"
        works for more than two classes.
    **base parameters
        See :class:`~skeeg.base.DeepClassifierBase`.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    n_channels_in_ : int
    n_times_in_ : int
    n_blocks_ : int
        Residual blocks of the fitted network.
    net_ : skorch.NeuralNet
        The fitted net; ``net_.history`` holds the per-epoch log.

    Examples
    --------
    >>> from skeeg import SCClassifier
    >>> clf = SCClassifier(width=16, max_epochs=5)  # doctest: +SKIP
    >>> clf.fit(X, y, groups=subjects).predict_proba(X)  # doctest: +SKIP
    """

    _module_params = {"dropout": 0.2, "norm": "layer"}
    _default_overrides = {"loss": "sasu"}

    def _min_n_times(self) -> int:
        # Per-sample normalisation over time needs two or more samples.
        return 2

    def _build_module(self, n_channels: int, n_times: int, n_outputs: int) -> nn.Module:
        module = SCNet(
            n_channels,
            n_times,
            n_outputs,
            width=self.width,
            n_blocks=self.n_blocks,
            dropout=self.dropout,
            norm=self.norm,
        )
        self.n_blocks_ = module.n_blocks
        return module


class ResNet1DClassifier(DeepClassifierBase):
    """1-D ResNet-18 baseline of the iEDeaL comparison (method-specs §8).

    Parameters
    ----------
    width : int, default=64
        Filters of the first stage (doubling per stage).
    n_blocks : int or "auto", default="auto"
        Residual blocks per stage; "auto" is 2 (ResNet-18).
    norm : {"layer", "group", "batch", "none"}, default="layer"
        "none" is the paper's setting (BatchNorm removed).
    **base parameters
        See :class:`~skeeg.base.DeepClassifierBase`; ``loss`` defaults to "bce".
    """

    _module_params = {"norm": "layer"}

    def _min_n_times(self) -> int:
        return ResNet1D.min_n_times(norm=self.norm)

    def _build_module(self, n_channels: int, n_times: int, n_outputs: int) -> nn.Module:
        kwargs = {} if self.n_blocks == "auto" else {"n_blocks": self.n_blocks}
        return ResNet1D(
            n_channels, n_times, n_outputs, width=self.width, norm=self.norm, **kwargs
        )


class InceptionTimeClassifier(DeepClassifierBase):
    """InceptionTime baseline (Ismail Fawaz et al. 2020; method-specs §8).

    Parameters
    ----------
    width : int, default=32
        Filters per inception branch (4 branches).
    n_blocks : int or "auto", default="auto"
        Inception modules; "auto" is 6, residual every 3.
    norm : {"layer", "group", "batch", "none"}, default="layer"
        "none" is the paper's setting (BatchNorm removed).
    **base parameters
        See :class:`~skeeg.base.DeepClassifierBase`; ``loss`` defaults to "bce".
    """

    _module_params = {"norm": "layer"}
    _default_overrides = {"width": 32}

    def _min_n_times(self) -> int:
        return InceptionTime.min_n_times(norm=self.norm)

    def _build_module(self, n_channels: int, n_times: int, n_outputs: int) -> nn.Module:
        kwargs = {} if self.n_blocks == "auto" else {"n_blocks": self.n_blocks}
        return InceptionTime(
            n_channels, n_times, n_outputs, width=self.width, norm=self.norm, **kwargs
        )
