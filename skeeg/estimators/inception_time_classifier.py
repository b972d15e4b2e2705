"""InceptionTimeClassifier: the InceptionTime baseline of the iEDeaL comparison."""

from __future__ import annotations

from torch import nn

from skeeg._docs import fill_doc
from skeeg.estimators.deep_classifier import DeepClassifierBase
from skeeg.models.inception import InceptionTime


@fill_doc
class InceptionTimeClassifier(DeepClassifierBase):
    """InceptionTime baseline (Ismail Fawaz et al. 2020; method-specs §8).

    Parameters
    ----------
    width : int, default=32
        Filters per inception branch (4 branches).
    n_blocks : int or "auto", default="auto"
        Inception modules; "auto" is 6, residual every 3.
    norm : {"instance", "layer", "batch", "none"}, default="none"
        The paper's setting: BatchNorm removed, because imbalanced
        mini-batches destabilise it (see :func:`skeeg.models.norm.make_norm`).
    loss : str or LossStrategy, default="bce"
        See :class:`SCClassifier`.
    %(deep_training_params)s

    Attributes
    ----------
    %(deep_fit_attributes)s
    %(eeg_fit_attributes)s
    """

    def __init__(
        self,
        *,
        width=32,
        n_blocks="auto",
        norm="none",
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
        self.norm = norm

    def _min_n_times(self) -> int:
        return InceptionTime.min_n_times(norm=self.norm)

    def _build_module(self, n_channels: int, n_times: int, n_outputs: int) -> nn.Module:
        kwargs = {} if self.n_blocks == "auto" else {"n_blocks": self.n_blocks}
        return InceptionTime(
            n_channels, n_times, n_outputs, width=self.width, norm=self.norm, **kwargs
        )
