"""XCM, the explainable convolutional network, as a skeeg classifier
(method-specs §5; the network is :mod:`skeeg.models.xcm`).

:meth:`XCMClassifier.explain` returns Grad-CAM attributions of a class, per
channel and time sample from the 2-D branch or per time sample from the 1-D
branch; :func:`skeeg.plotting.plot_explanation` draws one window with its
attribution.
"""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import ClassVar

import numpy as np
import torch
from sklearn.utils._param_validation import Interval
from torch import nn

from skeeg._docs import fill_doc
from skeeg.estimators.deep_classifier import DeepClassifierBase
from skeeg.models.xcm import XCMNet, grad_cam
from skeeg.training.batches import window_source


@fill_doc
class XCMClassifier(DeepClassifierBase):
    """XCM: explainable convolutional network for EEG windows.

    A 2-D convolution branch filters each channel on its own, a 1-D branch
    filters across channels; their maps are stacked, convolved once more and
    averaged over time before a linear head (method-specs §5; Fauvel et al.
    2021). :meth:`explain` gives Grad-CAM attributions of shape
    ``(n_windows, n_channels, n_times)``. Sizes default to a CPU-friendly
    quarter of the paper's; the paper's in brackets.

    Parameters
    ----------
    width : int, default=32
        Filters of every convolution block [128].
    n_blocks : int or "auto", default="auto"
        Convolution blocks per branch; "auto" is 1 [1].
    window : float in (0, 1] or int, default=0.3
        Kernel length along time: a fraction of ``n_times``
        (``ceil(window * n_times)`` samples) or a number of samples
        [0.3: 384 samples of a 10-s window at 128 Hz].
    loss : str or LossStrategy, default="bce"
        Cross-entropy ("bce") is the paper's; see :class:`skeeg.SCClassifier`.
        Only BCE is defined for more than two classes.
    %(deep_training_params)s

    Attributes
    ----------
    %(deep_fit_attributes)s
    %(eeg_fit_attributes)s
    window_ : int
        Kernel length along time, in samples.

    Notes
    -----
    The paper trains with Adam for 10 epochs; pass ``optimizer="adam"`` to
    follow it.

    Examples
    --------
    >>> from skeeg import XCMClassifier
    >>> clf = XCMClassifier(width=16, max_epochs=5).fit(X, y)  # doctest: +SKIP
    >>> clf.explain(X[:4]).shape  # doctest: +SKIP
    (4, n_channels, n_times)
    """

    def __init__(
        self,
        *,
        width=32,
        n_blocks="auto",
        window=0.3,
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
        self.window = window

    _parameter_constraints: ClassVar[dict] = {
        **DeepClassifierBase._parameter_constraints,
        "window": [
            Interval(Integral, 1, None, closed="left"),
            Interval(Real, 0, 1, closed="right"),
        ],
    }

    def _check_params(self) -> None:
        super()._check_params()
        window, n_times = self.window, self.n_times_in_
        if isinstance(window, Integral):
            if window > n_times:
                raise ValueError(
                    f"window={window} samples must be between 1 and n_times="
                    f"{n_times}, the window length seen in fit."
                )
            self.window_ = int(window)
        else:
            self.window_ = max(1, math.ceil(window * n_times))

    def _min_n_times(self) -> int:
        # BatchNorm over (batch, time) needs two values per channel in
        # training, also for a last mini-batch of one window.
        return 2

    def _build_module(self, n_channels: int, n_times: int, n_outputs: int) -> nn.Module:
        return XCMNet(
            n_channels,
            n_times,
            n_outputs,
            window=self.window_,
            width=self.width,
            n_blocks=1 if self.n_blocks == "auto" else self.n_blocks,
        )

    def explain(
        self, X, target=None, *, branch: str = "2d", normalize: bool = True
    ) -> np.ndarray:
        """Grad-CAM attributions of a class for each window.

        Parameters
        ----------
        X : array-like of shape (n_windows, n_channels, n_times) or (n_windows, n_times)
            EEG windows.
        target : label, array-like of shape (n_windows,) or None, default=None
            The class to explain, from ``classes_``, for all windows or per
            window; None explains each window's predicted class
            (:meth:`predict`, so ``threshold_`` applies).
        branch : {"2d", "1d"}, default="2d"
            "2d": the per-channel branch, attributions per channel and time
            sample. "1d": the cross-channel branch, attributions per time
            sample.
        normalize : bool, default=True
            Scale each window's attribution to a maximum of 1 (all-zero
            attributions stay zero); False returns Grad-CAM's raw values,
            comparable across windows.

        Returns
        -------
        attributions : ndarray of shape (n_windows, n_channels, n_times)
            (n_windows, n_times) for ``branch="1d"``. Non-negative; larger
            where the window supports ``target`` more. Positions align with
            the input samples ("same" padding).
        """
        if branch not in ("2d", "1d"):
            raise ValueError(f"branch must be '2d' or '1d', got {branch!r}.")
        X = self._validate_predict_X(X, dtype=np.float32)
        labels = self.predict(X) if target is None else target
        labels = np.broadcast_to(np.asarray(labels), len(X))
        unknown = ~np.isin(labels, self.classes_)
        if unknown.any():
            raise ValueError(
                f"target {labels[unknown][0].item()!r} is not a class of this "
                f"classifier; classes_ is {self.classes_.tolist()}."
            )
        index = torch.from_numpy(
            np.searchsorted(self.classes_, labels).astype(np.int64)
        )
        # _batches slices X in order with batch_size; the targets follow the
        # same slicing.
        targets = iter(torch.split(index, self.batch_size))
        module = self.net_.module_
        return self._batches(
            lambda x: grad_cam(
                module,
                x,
                next(targets).to(x.device),
                branch=branch,
                normalize=normalize,
            ),
            window_source(X),
            inference=False,  # Grad-CAM differentiates the class score
        )
