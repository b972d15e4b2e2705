"""SCClassifier: the iEDeaL SC network with the SaSu loss strategy by default.

The training parameters every deep classifier shares are documented once
(``skeeg._docs``) and filled into the docstring.
"""

from __future__ import annotations

from torch import nn

from skeeg._docs import fill_doc
from skeeg.estimators.deep_classifier import DeepClassifierBase
from skeeg.models.sc import SCNet


@fill_doc
class SCClassifier(DeepClassifierBase):
    """Seanet Classifier (SC) of iEDeaL for IED detection on raw EEG windows.

    A dilated full pre-activation residual CNN (method-specs §2). With the
    default ``loss="sasu"`` it trains as iEDeaL: SaSu, a surrogate of F-beta,
    after a BCE warm-up (PreBCE) with an increasing number of negatives per
    epoch (IncNeg); see :class:`skeeg.training.strategies.SaSu`. The training defaults
    are sized for CPUs and for data sets of hundreds to thousands of windows
    (Adam at 3e-3 decayed linearly to 1e-5, batch 64, 30 epochs, no
    validation split); the paper's (SGD, width 256, 100 epochs, best epoch
    on a validation split) are in ``benchmarks/iedeal_paper_protocol.py``.

    Parameters
    ----------
    width : int, default=16
        Channels inside the network. 16 is sized for a CPU: with the other
        defaults it gives out-of-fold AUPRC 0.69 (F1 0.73) on the README
        demo's data, against 0.38 for a classical feature detector. The
        paper uses 256 on a GPU.
    n_blocks : int or "auto", default="auto"
        Residual blocks, block ``i`` with dilation ``2**i``; "auto" is the
        smallest count >= 1 whose receptive field ``3 + 4 * (2**n_blocks - 1)``
        covers the window (768 samples -> 8 blocks).
    dropout : float, default=0.2
        Dropout before the linear head.
    norm : {"instance", "layer", "batch", "none"}, default="layer"
        Normalisation inside the blocks (:func:`skeeg.models.norm.make_norm`).
        "layer" normalises each window over channels and time together, so
        the amplitude of one derivation relative to the others (a focal
        discharge, its phase reversal) survives. "instance" normalises each
        channel of each window over time on its own, as the authors' code
        does; it erases that relation. On the README demo's data (SC+SaSu,
        3 data seeds) "layer" gave out-of-fold AUPRC 0.674, 0.176, 0.739
        against 0.532, 0.061, 0.474 with "instance".
    loss : str or LossStrategy, default="sasu"
        A name of :data:`skeeg.training.strategies.LOSS_SHORTCUTS` ("bce", "bbce",
        "wbce", "ewbce", "focal", "sf", "sasu") or a strategy object such as
        ``SaSu(beta=2)``, whose settings nest (``loss__beta``). Only BCE is
        defined for more than two classes.
    %(deep_training_params)s

    Attributes
    ----------
    %(deep_fit_attributes)s
    %(eeg_fit_attributes)s
    n_blocks_ : int
        Residual blocks of the fitted network.

    Examples
    --------
    >>> from skeeg import SCClassifier
    >>> clf = SCClassifier(width=16, max_epochs=5)  # doctest: +SKIP
    >>> clf.fit(X, y, groups=subjects).predict_proba(X)  # doctest: +SKIP
    """

    def __init__(
        self,
        *,
        width=16,
        n_blocks="auto",
        dropout=0.2,
        norm="layer",
        loss="sasu",
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
        self.dropout = dropout
        self.norm = norm

    def _min_n_times(self) -> int:
        # Per-sample normalisation ("instance", "layer") needs two or more
        # samples per channel in training.
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
