"""Siamese-ES: IED detection with an auxiliary sleep-stage task (method-specs §6).

:class:`SiameseESClassifier` trains :class:`skeeg.models.siamese_es.SiameseESNet`
on two targets: the IED label ``y`` and, optionally, the sleep stage of each
window (the ``sleep_stage`` fit parameter, routed through scikit-learn's
metadata routing). The loss is ``L_IED + lambda_sleep * L_sleep``: ``L_IED``
is the loss strategy's criterion (``loss=``, as in every skeeg classifier),
``L_sleep`` the cross-entropy of the sleep head over the windows whose stage
is known.

Design decisions beyond the abstract (all **INFERRED**; the network's are in
:mod:`skeeg.models.siamese_es`):

- Stages are labels of a fixed set, ``sleep_stages`` (AASM ``W, N1, N2, N3,
  REM`` by default, the spelling of :func:`skeeg.datasets.rk_to_aasm` and
  :func:`skeeg.datasets.load_dreams`), so the sleep head has one logit per
  stage whether or not a fold holds every stage. R&K codes are not mapped
  silently (``"R"``/``"REM"``, ``"S3"``/``"S4"`` and ``"M"`` would need
  guesses): a label outside the set is an error that points to
  ``rk_to_aasm``. ``-1``, ``"-1"``, ``"?"``, ``"unknown"``, ``"artifact"``,
  ``None`` and NaN mark a window without a usable stage, which the sleep
  loss leaves out (movement time is no sleep stage).
- ``lambda_sleep=0`` keeps the sleep branch (as IED capacity when
  ``fuse_sleep``) but trains no sleep head: the single-task control has the
  same network as the multi-task model.
- Uncertainty weighting (Kendall et al., CVPR 2018) learns ``s_IED`` and
  ``s_sleep`` (log-variances) and trains on
  ``exp(-s_IED) L_IED + s_IED + lambda_sleep (exp(-s_sleep) L_sleep + s_sleep)``
  (the classification form without the 1/2 factors). With SaSu, which is no
  likelihood, the weighting is a heuristic.
"""

from __future__ import annotations

from functools import partial
from numbers import Real
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import _fit_context
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import _num_samples, check_is_fitted
from skorch.dataset import Dataset
from torch import nn

from skeeg._docs import docdict, fill_doc
from skeeg.estimators.deep_classifier import DeepClassifierBase
from skeeg.estimators.eeg_classifier import UNLABELLED
from skeeg.models.siamese_es import SiameseESNet
from skeeg.training.batches import window_source, windows_dataset
from skeeg.training.net import SkeegNet, supervised_loss

#: The sleep stages of AASM, spelled as :func:`skeeg.datasets.rk_to_aasm` does.
AASM_SLEEP_STAGES = ("W", "N1", "N2", "N3", "REM")

#: Stage labels that mark a window without a usable stage (compared as str).
UNKNOWN_STAGES = frozenset({"-1", "-1.0", "?", "unknown", "artifact", "None", "nan"})

# The front-end parameters of SiameseESClassifier and SleepStager, written once.
docdict["siamese_front_params"] = """converter : {"stft", "filterbank"}, default="stft"
    The frequency-temporal converter: the fixed STFT log-magnitude of each
    channel, or ``n_filters`` learned Gabor-initialised filters per channel
    (log-power per frame). Either is stacked with the raw signal averaged
    over each frame (:class:`skeeg.models.siamese_es.FrequencyTemporalConverter`).
n_fft : int, default=64 (SiameseESClassifier) or 128 (SleepStager)
    STFT window (or filter length), in samples; clipped to the window. At
    100 Hz, 64 samples are 0.64 s with 1.56 Hz frequency bins.
hop_length : int, default=16 (SiameseESClassifier) or 32 (SleepStager)
    Samples between frames; clipped to half the effective ``n_fft``.
n_filters : int, default=16
    Filters per channel with ``converter="filterbank"``.
width : int, default=32
    Channels of the shared trunk and of each branch.
n_blocks : int or "auto", default="auto"
    Residual dilated convolutions per branch; "auto" is the smallest count
    whose receptive field covers the frames.
norm : {"instance", "layer", "batch", "none"}, default="layer"
    Normalisation inside the trunk and the branches (the converter's output
    is always standardised by a BatchNorm, see the module's notes).
dropout : float, default=0.2
    Dropout on the pooled branch features."""


def front_kwargs(est) -> dict:
    """The keyword arguments of :class:`skeeg.models.siamese_es.SharedFrontEnd`
    from an estimator's parameters (the network checks them)."""
    return {
        "converter": est.converter,
        "n_fft": est.n_fft,
        "hop_length": est.hop_length,
        "n_filters": est.n_filters,
        "width": est.width,
        "n_blocks": est.n_blocks,
        "norm": est.norm,
        "dropout": est.dropout,
    }


def is_unknown_stage(stages: np.ndarray) -> np.ndarray:
    """Boolean mask of the entries of ``stages`` that mark an unknown stage.

    Parameters
    ----------
    stages : ndarray of shape (n_windows,)

    Returns
    -------
    mask : ndarray of bool, shape (n_windows,)
        True for ``-1``, ``"-1"``, ``"?"``, ``"unknown"``, ``"artifact"``,
        ``None`` and NaN.
    """
    return np.array([str(s).strip() in UNKNOWN_STAGES for s in stages], dtype=bool)


def encode_stages(stages, known: tuple, n_windows: int) -> np.ndarray:
    """Stage labels as indices into ``known``; ``-1`` where unknown.

    Parameters
    ----------
    stages : array-like of shape (n_windows,)
    known : tuple
        The stage labels, in logit order.
    n_windows : int

    Returns
    -------
    codes : ndarray of int64, shape (n_windows,)

    Raises
    ------
    ValueError
        If ``stages`` is not 1-D with one entry per window, or holds a label
        outside ``known`` that does not mark an unknown stage.
    """
    stages = np.asarray(stages, dtype=object)
    if stages.ndim != 1 or len(stages) != n_windows:
        got = f"shape {stages.shape}"
        raise ValueError(
            f"sleep_stage has {got}, but X has {n_windows} windows; pass one "
            "stage per window (behind a resampling step, sleep_stage cannot "
            "follow the resampled windows)."
        )
    unknown = is_unknown_stage(stages)
    index = {stage: i for i, stage in enumerate(known)}
    bad = sorted({str(s) for s in stages[~unknown] if s not in index})
    if bad:
        raise ValueError(
            f"sleep_stage holds labels {bad} outside sleep_stages={known}; mark "
            f"windows without a stage with one of {sorted(UNKNOWN_STAGES)}, and "
            "map Rechtschaffen & Kales stages with skeeg.datasets.rk_to_aasm."
        )
    codes = np.full(n_windows, UNLABELLED, dtype=np.int64)
    codes[~unknown] = [index[s] for s in stages[~unknown]]
    return codes


def check_stage_set(stages) -> tuple:
    """``sleep_stages`` as a tuple of >= 2 distinct labels, none unknown."""
    if isinstance(stages, str) or not hasattr(stages, "__iter__"):
        raise TypeError(f"sleep_stages must be a sequence of labels, got {stages!r}.")
    stages = tuple(stages)
    if len(stages) < 2 or len(set(stages)) != len(stages):
        raise ValueError(
            f"sleep_stages must hold at least 2 distinct labels, got {stages!r}."
        )
    if is_unknown_stage(np.asarray(stages, dtype=object)).any():
        raise ValueError(
            f"sleep_stages={stages!r} holds a label that marks an unknown "
            f"stage ({sorted(UNKNOWN_STAGES)})."
        )
    return stages


class _MultiTaskNet(SkeegNet):
    """``L_IED + lambda_sleep * L_sleep``, optionally uncertainty-weighted.

    Parameters
    ----------
    lambda_sleep : float
        Weight of the sleep loss; 0 leaves it out.
    *args, **kwargs
        Those of :class:`skorch.NeuralNet`.
    """

    def __init__(self, *args, lambda_sleep: float = 1.0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.lambda_sleep = lambda_sleep

    def get_loss(self, y_pred, y_true, X=None, training=False) -> torch.Tensor:
        ied_logits, sleep_logits = y_pred
        loss = supervised_loss(self.criterion_, ied_logits, y_true["y"])
        log_var = self.module_.log_var
        if log_var is not None:
            loss = torch.exp(-log_var[0]) * loss + log_var[0]
        stage = torch.as_tensor(y_true["sleep_stage"], device=sleep_logits.device)
        if self.lambda_sleep == 0 or not bool((stage != UNLABELLED).any()):
            return loss
        sleep = F.cross_entropy(sleep_logits, stage, ignore_index=UNLABELLED)
        if log_var is not None:
            sleep = torch.exp(-log_var[1]) * sleep + log_var[1]
        return loss + self.lambda_sleep * sleep


@fill_doc
class SiameseESClassifier(DeepClassifierBase):
    """Siamese-ES: IED detection that learns the sleep stage alongside
    (Gao et al., Neurology 2025, abstract; method-specs §6, design INFERRED).

    A shared frequency-temporal converter and trunk feed two branches of one
    architecture: Twins-Electron (IED) and Twins-Sleep (sleep stage). The IED
    head sees both branches' features (``fuse_sleep``), so sleep transients
    that look like IEDs (spindles, K-complexes, vertex waves) can be told
    apart by their stage context; the sleep head is trained on the windows
    whose stage is known. ``predict``/``predict_proba`` answer the IED task,
    :meth:`predict_sleep`/:meth:`predict_sleep_proba` the stage.

    Parameters
    ----------
    %(siamese_front_params)s
    fuse_sleep : bool, default=True
        The IED head also sees the sleep branch's features ("sleep feature
        integration"); False is the abstract's first ablation.
    detach_sleep : bool, default=False
        With ``fuse_sleep``: the IED loss does not train the sleep branch.
    lambda_sleep : float, default=1.0
        Weight of the sleep loss (>= 0); 0 is single-task training (the
        abstract's second ablation).
    uncertainty_weighting : bool, default=False
        Weigh the two losses by learned task uncertainties (Kendall et al.
        2018), on top of ``lambda_sleep``.
    sleep_stages : sequence, default=("W", "N1", "N2", "N3", "REM")
        The stage labels ``sleep_stage`` may hold, in the sleep head's
        order; ``sleep_classes_``.
    loss : str or LossStrategy, default="sasu"
        The IED criterion and its negative sampling, as in
        :class:`skeeg.SCClassifier` ("bce", "wbce", "focal", "sasu", or a
        strategy object such as ``SaSu(beta=2)``).
    %(deep_training_params)s

    Attributes
    ----------
    %(deep_fit_attributes)s
    %(eeg_fit_attributes)s
    sleep_classes_ : ndarray of shape (n_stages,)
        The stages of the sleep head, set when the sleep head was trained
        (``lambda_sleep > 0`` and a known stage in ``sleep_stage``).
    n_blocks_ : int
        Residual blocks per branch of the fitted network.

    Notes
    -----
    ``sleep_stage`` reaches ``fit`` through metadata routing::

        sklearn.set_config(enable_metadata_routing=True)
        clf = SiameseESClassifier().set_fit_request(sleep_stage=True)
        cross_validate(Pipeline([("scale", Scaler()), ("clf", clf)]), X, y,
                       params={"sleep_stage": stages})

    Examples
    --------
    >>> from skeeg import SiameseESClassifier
    >>> clf = SiameseESClassifier(width=16, max_epochs=5)  # doctest: +SKIP
    >>> clf.fit(X, y, sleep_stage=stages).predict_sleep(X)  # doctest: +SKIP
    """

    # The net reads module_.log_var.
    _data_parallel = False

    def __init__(
        self,
        *,
        converter="stft",
        n_fft=64,
        hop_length=16,
        n_filters=16,
        width=32,
        n_blocks="auto",
        norm="layer",
        dropout=0.2,
        fuse_sleep=True,
        detach_sleep=False,
        lambda_sleep=1.0,
        uncertainty_weighting=False,
        sleep_stages=AASM_SLEEP_STAGES,
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
        self.converter = converter
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.n_filters = n_filters
        self.norm = norm
        self.dropout = dropout
        self.fuse_sleep = fuse_sleep
        self.detach_sleep = detach_sleep
        self.lambda_sleep = lambda_sleep
        self.uncertainty_weighting = uncertainty_weighting
        self.sleep_stages = sleep_stages

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sleep_stage=None, groups=None) -> SiameseESClassifier:
        """Train on EEG windows, their IED labels and, optionally, their stage.

        Parameters
        ----------
        X : array-like of shape (n_windows, n_channels, n_times) or (n_windows, n_times)
            EEG windows (a 2-D X has one channel). Cast to float32.
        y : array-like of shape (n_windows,)
            IED labels of any type.
        sleep_stage : array-like of shape (n_windows,), optional
            Stage of each window, from ``sleep_stages``; ``-1``, ``"?"``,
            ``"unknown"``, ``"artifact"``, None or NaN where unknown (left
            out of the sleep loss). None: no sleep supervision.
        groups : array-like of shape (n_windows,), optional
            Subject (or recording) of each window; keeps the internal
            validation split group-aware.

        Returns
        -------
        self
        """
        stages = check_stage_set(self.sleep_stages)
        codes = None
        if sleep_stage is not None:
            codes = encode_stages(sleep_stage, stages, _num_samples(X))
        self._fit(X, y, groups=groups, sleep_stage=codes)
        if hasattr(self, "sleep_classes_"):
            del self.sleep_classes_
        if codes is not None and (codes != UNLABELLED).any() and self.lambda_sleep > 0:
            self.sleep_classes_ = np.array(stages, dtype=object)
        return self

    # -- the steps of DeepClassifierBase._fit -----------------------------------
    _parameter_constraints: ClassVar[dict] = {
        **DeepClassifierBase._parameter_constraints,
        "fuse_sleep": ["boolean"],
        "detach_sleep": ["boolean"],
        "uncertainty_weighting": ["boolean"],
        "lambda_sleep": [Interval(Real, 0, None, closed="left")],
    }

    def _min_n_times(self) -> int:
        return 2

    def _build_module(self, n_channels: int, n_times: int, n_outputs: int) -> nn.Module:
        module = SiameseESNet(
            n_channels,
            n_times,
            n_outputs,
            len(self.sleep_stages),
            fuse_sleep=self.fuse_sleep,
            detach_sleep=self.detach_sleep,
            uncertainty_weighting=self.uncertainty_weighting,
            **front_kwargs(self),
        )
        self.n_blocks_ = module.front.n_blocks
        return module

    def _make_dataset(self, X, y, sleep_stage=None) -> Dataset:
        if sleep_stage is None:
            sleep_stage = np.full(len(y), UNLABELLED, dtype=np.int64)
        targets = {
            "y": torch.from_numpy(y),
            "sleep_stage": torch.from_numpy(sleep_stage),
        }
        return windows_dataset(X, targets)

    def _net_class(self):
        return partial(_MultiTaskNet, lambda_sleep=float(self.lambda_sleep))

    # -- the sleep head -------------------------------------------------------
    def _sleep_logits(self, X) -> np.ndarray:
        check_is_fitted(self)
        if not hasattr(self, "sleep_classes_"):
            raise ValueError(
                "The sleep head was not trained: fit got no known sleep_stage "
                f"or lambda_sleep={self.lambda_sleep!r}. Fit with sleep_stage and "
                "lambda_sleep > 0 to predict stages."
            )
        X = window_source(self._validate_predict_X(X, dtype=np.float32))
        module = self.net_.module_
        return self._batches(lambda x: module(x)[1], X)

    def predict_sleep_proba(self, X) -> np.ndarray:
        """Stage probabilities, shape (n_windows, n_stages), as ``sleep_classes_``."""
        return self._proba(self._sleep_logits(X))

    def predict_sleep(self, X) -> np.ndarray:
        """Most probable stage of each window, shape (n_windows,)."""
        logits = self._sleep_logits(X)
        return self.sleep_classes_[logits.argmax(axis=1)]
