"""Two toy deep estimators that exercise the estimator core's extension points.

- :class:`ToyAutoencoderClassifier`: semi-supervised (``-1`` = unlabelled);
  BCE on labelled windows plus a reconstruction term on every window.
- :class:`ToyTwoHeadClassifier`: multi-task; a second per-window target
  (``stage``) reaches ``fit`` as a fit parameter (metadata routing) and trains
  a second head.

Each is a module plus the steps it changes, as ``docs/estimators.md`` shows.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from skeeg.estimators.deep_classifier import DeepClassifierBase
from skeeg.models.eeg_module import EEGModule
from skeeg.training.batches import window_source, windows_dataset
from skeeg.training.net import SkeegNet, supervised_loss


class _Encoder(EEGModule):
    """Conv -> max over time -> linear head; optional decoder and second head."""

    def __init__(self, n_channels, n_times, n_outputs, width, n_second=0, decode=False):
        super().__init__()
        self.conv = nn.Conv1d(n_channels, width, kernel_size=3, padding=1)
        self.embedding_dim = width
        self.head = nn.Linear(width, n_outputs)
        self.decoder = nn.Linear(width, n_channels * n_times) if decode else None
        self.second = nn.Linear(width, n_second) if n_second else None

    def embed(self, x):
        return torch.relu(self.conv(x)).amax(dim=2)

    def forward(self, x):
        h = self.embed(x)
        logits = self.head(h)
        if self.decoder is not None:
            return logits, self.decoder(h).view_as(x)
        if self.second is not None:
            return logits, self.second(h)
        return logits


class _ReconstructionNet(SkeegNet):
    """Supervised loss on labelled windows + MSE reconstruction of all windows."""

    def get_loss(self, y_pred, y_true, X=None, training=False):
        logits, reconstruction = y_pred
        supervised = supervised_loss(self.criterion_, logits, y_true)
        target = X.to(reconstruction.device)
        return supervised + F.mse_loss(reconstruction, target)


class _TwoTaskNet(SkeegNet):
    """Main loss + cross-entropy of the second head on windows with a stage."""

    def get_loss(self, y_pred, y_true, X=None, training=False):
        logits, stage_logits = y_pred
        main = supervised_loss(self.criterion_, logits, y_true["y"])
        stage = torch.as_tensor(y_true["stage"], device=stage_logits.device)
        if bool((stage >= 0).any()):
            main = main + F.cross_entropy(stage_logits, stage, ignore_index=-1)
        return main


class _ToyBase(DeepClassifierBase):
    def __init__(
        self,
        *,
        width=8,
        n_blocks="auto",
        loss="bce",
        max_epochs=20,
        batch_size=32,
        lr=0.01,
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


class ToyAutoencoderClassifier(_ToyBase):
    """Semi-supervised: ``y == -1`` windows train the reconstruction only."""

    _accepts_unlabelled = True

    def _build_module(self, n_channels, n_times, n_outputs):
        return _Encoder(n_channels, n_times, n_outputs, self.width, decode=True)

    def _net_class(self):
        return _ReconstructionNet


class ToyTwoHeadClassifier(_ToyBase):
    """Multi-task: ``fit(X, y, groups=None, stage=None)``; ``predict_stage``."""

    def fit(self, X, y, groups=None, stage=None):
        """Fit on windows, their labels and, optionally, their stage."""
        known = [] if stage is None else [s for s in np.asarray(stage) if s != -1]
        self.stage_classes_ = np.unique(known)
        return self._fit(X, y, groups=groups, stage=stage)

    def _build_module(self, n_channels, n_times, n_outputs):
        n_second = max(len(self.stage_classes_), 1)
        return _Encoder(n_channels, n_times, n_outputs, self.width, n_second=n_second)

    def _make_dataset(self, X, y, stage=None):
        codes = np.full(len(y), -1, dtype=np.int64)
        if stage is not None:
            known = stage != -1
            codes[known] = np.searchsorted(self.stage_classes_, stage[known])
        targets = {"y": torch.from_numpy(y), "stage": torch.from_numpy(codes)}
        return windows_dataset(X, targets)

    def _net_class(self):
        return _TwoTaskNet

    def predict_stage(self, X):
        """Stage of each window, shape (n_windows,), from ``stage_classes_``."""
        X = window_source(self._validate_predict_X(X, dtype=np.float32))
        module = self.net_.module_
        logits = self._batches(lambda x: module(x)[1], X)
        return self.stage_classes_[logits.argmax(axis=1)]
