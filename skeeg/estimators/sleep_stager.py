"""A sleep stager of EEG epochs: the Twins-Sleep branch of Siamese-ES on its
own, with optional hidden-Markov smoothing over consecutive epochs.

:class:`SleepStager` classifies 30-s (or 5-s) epochs of one or more channels
with :class:`skeeg.models.siamese_es.SleepStageNet` (the Siamese-ES front end,
its sleep branch and a linear head, trained with cross-entropy). With
``smoothing`` the network's per-epoch posteriors become the emissions of a
hidden Markov model over the stages (the hybrid HMM/ANN of Bourlard & Morgan:
emission likelihood ``p(x | s) ∝ p(s | x) / p(s)``, ``p(s)`` the prior the
network was trained under), whose transition matrix
counts the stage changes between consecutive epochs of the training
hypnograms; hmmlearn's forward-backward (or Viterbi) decodes each recording.

Consecutive epochs: rows of ``X`` in time order, within one run of equal
``groups`` values (one recording). ``fit(X, y, groups=...)`` and
``predict(X, groups=...)`` take the same convention; without ``groups`` all of
``X`` is one recording.
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import ClassVar

import numpy as np
from hmmlearn.base import BaseHMM
from sklearn.base import _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, column_or_1d
from torch import nn

from skeeg._docs import fill_doc
from skeeg.estimators.deep_classifier import DeepClassifierBase
from skeeg.estimators.eeg_classifier import UNLABELLED, fit_targets, is_unlabelled
from skeeg.estimators.siamese_es_classifier import front_kwargs
from skeeg.models.siamese_es import ContextStageNet, SleepStageNet
from skeeg.training.batches import ContextWindows, window_source

#: Values of ``SleepStager.smoothing``.
SMOOTHING_KINDS = (None, "hmm", "viterbi")
#: Named values of ``SleepStager.class_weight``.
CLASS_WEIGHT_KINDS = ("balanced", "balanced_sqrt")


def estimate_transitions(
    y, groups=None, *, n_classes: int, pseudo_count: float = 1.0
) -> np.ndarray:
    """Transition matrix of stages between consecutive epochs.

    Parameters
    ----------
    y : array-like of int, shape (n_epochs,)
        Stage indices ``0 .. n_classes - 1`` in time order; ``-1`` marks an
        epoch without a stage (its transitions are not counted).
    groups : array-like of shape (n_epochs,), optional
        Recording of each epoch; epochs ``i`` and ``i + 1`` are consecutive
        when their groups are equal. None: one recording.
    n_classes : int
    pseudo_count : float, default=1.0
        Added to every count (Laplace smoothing), so that no transition has
        probability 0.

    Returns
    -------
    transmat : ndarray of shape (n_classes, n_classes)
        ``transmat[i, j]`` estimates P(stage j at t+1 | stage i at t); rows
        sum to 1.
    """
    y = np.asarray(y)
    counts = np.full((n_classes, n_classes), float(pseudo_count))
    pairs = (y[:-1] != UNLABELLED) & (y[1:] != UNLABELLED)
    if groups is not None:
        groups = np.asarray(groups)
        pairs &= groups[:-1] == groups[1:]
    np.add.at(counts, (y[:-1][pairs], y[1:][pairs]), 1.0)
    return counts / counts.sum(axis=1, keepdims=True)


def sequence_lengths(groups, n_epochs: int) -> np.ndarray:
    """Lengths of the runs of equal ``groups`` values (one run: no groups)."""
    if groups is None:
        return np.array([n_epochs])
    groups = np.asarray(groups)
    starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
    return np.diff(np.r_[starts, n_epochs])


def context_index(groups, n_epochs: int, context: int) -> np.ndarray:
    """Rows of each epoch's neighbourhood, within its recording.

    Parameters
    ----------
    groups : array-like of shape (n_epochs,) or None
        Recording of each epoch; a run of equal values is one recording, its
        rows in time order. None: one recording.
    n_epochs : int
    context : int
        Epochs on each side (>= 0).

    Returns
    -------
    index : ndarray of int, shape (n_epochs, 2 * context + 1)
        ``index[i, context + d]`` is the row of the epoch ``d`` epochs from
        ``i`` (``-context <= d <= context``); past the first or last epoch
        of a recording it repeats that epoch, so no row reaches into another
        recording.
    """
    lengths = sequence_lengths(groups, n_epochs)
    ends = np.cumsum(lengths)
    first = np.repeat(ends - lengths, lengths)
    last = np.repeat(ends - 1, lengths)
    offsets = np.arange(-context, context + 1)
    index = np.arange(n_epochs)[:, None] + offsets
    return np.clip(index, first[:, None], last[:, None])


class _GivenEmissionHMM(BaseHMM):
    """An HMM whose "observations" are their own emission log-likelihoods.

    hmmlearn's forward-backward and Viterbi then run on any per-epoch scores:
    ``X`` of shape (n_epochs, n_states) holds log p(x_t | state).
    """

    def _compute_log_likelihood(self, X: np.ndarray) -> np.ndarray:
        return X

    def _check(self) -> None:
        self._check_sum_1("startprob_")
        self._check_sum_1("transmat_")


@fill_doc
class SleepStager(DeepClassifierBase):
    """Sleep stager of EEG epochs: the Twins-Sleep branch of Siamese-ES as a
    standalone classifier, with optional HMM smoothing over consecutive epochs.

    Works on 30-s or 5-s epochs of one or more channels (any length: the
    converter's frames follow the window). ``y`` holds any stage labels
    (AASM strings, ints); ``-1`` marks an epoch without a stage, which keeps
    its place in the sequence but trains nothing. Multi-class training uses
    cross-entropy; the best epoch is chosen by validation macro-F1.

    Parameters
    ----------
    %(siamese_front_params)s
    smoothing : {None, "hmm", "viterbi"}, default=None
        None: each epoch on its own. "hmm": ``predict_proba`` gives the
        forward-backward posteriors of a hidden Markov model over the stages
        (emissions: the network's posteriors divided by ``network_prior_``;
        transitions: ``transmat_``) and ``predict`` their most probable
        stage. "viterbi": the same ``predict_proba``, and ``predict`` gives
        the most probable stage sequence. Smoothing needs the epochs of a
        recording in time order (see ``groups`` in :meth:`predict`).
    transition_pseudo_count : float, default=1.0
        Added to every transition count of the training hypnograms (> 0).
    context : int, default=0
        Neighbouring epochs on each side the network sees (>= 0). 0: each
        epoch on its own (:class:`~skeeg.models.siamese_es.SleepStageNet`).
        k >= 1: each epoch is staged from the run of ``2k + 1`` consecutive
        epochs centred on it, within its recording (``groups``), in fit and
        in predict alike (:class:`~skeeg.models.siamese_es.ContextStageNet`:
        each epoch embedded with shared weights, a bidirectional GRU over the
        run). At a recording's first and last k epochs the missing
        neighbours are copies of its first or last epoch (:func:`context_index`):
        no run reaches into another recording. Training and inference cost
        about ``2k + 1`` times the one-epoch network's.
    class_weight : {"balanced", "balanced_sqrt"}, dict, array-like or None, default=None
        Weight of each stage in the cross-entropy (each epoch's loss times
        the weight of its stage), so that rare stages (N1, REM) are
        predicted. "balanced": ``n / (n_classes * n_c)`` from the ``n_c``
        labelled training epochs of stage ``c`` (scikit-learn's convention);
        "balanced_sqrt": proportional to ``1 / sqrt(n_c)``, scaled to the
        same mean; an array of shape (n_classes,): one weight > 0 per
        stage, in the order of ``classes_`` (the sorted stage labels); a
        dict: ``{stage: weight}``, 1 for the stages it leaves out (a model
        file keeps only string keys). None:
        unweighted. A stage absent from the training targets counts as one
        epoch. Needs ``loss="bce"`` and no ``criterion``.
    loss : str or LossStrategy, default="bce"
        Cross-entropy ("bce"); binary strategies work with two stages.
    %(deep_training_params)s

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Stages seen in ``fit`` (``-1`` excluded).
    net_ : skorch.NeuralNet
        The fitted net; ``net_.history`` holds the per-epoch log.
    device_ : str
        Device the net was trained on.
    transmat_ : ndarray of shape (n_classes, n_classes)
        Stage transition probabilities between consecutive training epochs
        (:func:`estimate_transitions`).
    class_prior_ : ndarray of shape (n_classes,)
        Stage frequencies of the labelled training epochs; also the HMM's
        start probabilities.
    network_prior_ : ndarray of shape (n_classes,)
        The stage prior the network's posteriors carry, which the HMM's
        emissions divide out: ``class_prior_`` times the class weights,
        normalised (``class_prior_`` without ``class_weight``; uniform with
        "balanced").
    n_blocks_ : int
        Residual blocks of the fitted branch.
    %(eeg_fit_attributes)s

    Notes
    -----
    ``predict_proba`` and ``predict`` depend on the order of the rows when
    ``smoothing`` is set; ``decision_function`` and ``transform`` never do.

    Examples
    --------
    >>> from skeeg import SleepStager
    >>> stager = SleepStager(smoothing="hmm")  # doctest: +SKIP
    >>> stager.fit(X, hypnogram, groups=recording)  # doctest: +SKIP
    >>> stager.predict(X_night, groups=night_id)  # doctest: +SKIP
    """

    _accepts_unlabelled = True

    def __init__(
        self,
        *,
        converter="stft",
        n_fft=128,
        hop_length=32,
        n_filters=16,
        width=32,
        n_blocks="auto",
        norm="layer",
        dropout=0.2,
        smoothing=None,
        transition_pseudo_count=1.0,
        context=0,
        class_weight=None,
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
        # Stages are the most probable class: no decision threshold.
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
            threshold=0.5,
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
        self.smoothing = smoothing
        self.transition_pseudo_count = transition_pseudo_count
        self.context = context
        self.class_weight = class_weight

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, groups=None) -> SleepStager:
        """Train on epochs and their stages; estimate the stage transitions.

        Parameters
        ----------
        X : array-like of shape (n_epochs, n_channels, n_times) or (n_epochs, n_times)
            EEG epochs, in time order within each recording. Cast to float32.
        y : array-like of shape (n_epochs,)
            Stage of each epoch; ``-1`` where unknown.
        groups : array-like of shape (n_epochs,), optional
            Recording (subject) of each epoch: consecutive rows of one group
            are consecutive epochs. Also keeps the validation split
            group-aware.

        Returns
        -------
        self
        """
        self._fit(X, y, groups=groups)
        labels = column_or_1d(fit_targets(X, y))
        y_enc = np.full(len(labels), UNLABELLED, dtype=np.int64)
        labelled = ~is_unlabelled(labels)
        y_enc[labelled] = np.searchsorted(self.classes_, labels[labelled])
        n_classes = len(self.classes_)
        self.transmat_ = estimate_transitions(
            y_enc,
            groups,
            n_classes=n_classes,
            pseudo_count=self.transition_pseudo_count,
        )
        self.class_prior_ = np.bincount(y_enc[labelled], minlength=n_classes) / int(
            labelled.sum()
        )
        # Weighted cross-entropy fits posteriors under the weighted prior
        # w_c * pi_c: that prior, not pi_c, turns them into likelihoods.
        weights = self._class_weight(y_enc)
        prior = self.class_prior_ * (1.0 if weights is None else weights)
        self.network_prior_ = prior / prior.sum()
        return self

    _parameter_constraints: ClassVar[dict] = {
        **DeepClassifierBase._parameter_constraints,
        "smoothing": [StrOptions({k for k in SMOOTHING_KINDS if k}), None],
        "transition_pseudo_count": [Interval(Real, 0, None, closed="neither")],
        "context": [Interval(Integral, 0, None, closed="left")],
        "class_weight": [
            StrOptions(set(CLASS_WEIGHT_KINDS)),
            dict,
            "array-like",
            None,
        ],
    }

    def _min_n_times(self) -> int:
        return 2

    def _build_module(self, n_channels: int, n_times: int, n_outputs: int) -> nn.Module:
        if self.context:
            module = ContextStageNet(
                n_channels,
                n_times,
                n_outputs,
                context=self.context,
                **front_kwargs(self),
            )
        else:
            module = SleepStageNet(n_channels, n_times, n_outputs, **front_kwargs(self))
        self.n_blocks_ = module.front.n_blocks
        return module

    # -- context and class weights ------------------------------------------------
    def _check_params(self) -> None:
        super()._check_params()
        if self.class_weight is None or isinstance(self.class_weight, str):
            return
        if isinstance(self.class_weight, dict):
            unknown = set(self.class_weight) - set(self.classes_.tolist())
            if unknown:
                raise ValueError(
                    f"class_weight names stages {sorted(map(str, unknown))} that "
                    f"are not in y (classes_={self.classes_.tolist()})."
                )
        weights = np.asarray(self._given_weights(), dtype=object)
        weights = np.asarray(weights.tolist())
        n_classes = len(self.classes_)
        if weights.shape != (n_classes,) or weights.dtype.kind not in "iuf":
            raise ValueError(
                f"class_weight must hold one number per stage ({n_classes}: "
                f"{self.classes_.tolist()}, the order of classes_), got "
                f"{self.class_weight!r}."
            )
        if not (np.isfinite(weights).all() and (weights > 0).all()):
            raise ValueError(
                f"class_weight must hold finite weights > 0, got {self.class_weight!r}."
            )

    def _given_weights(self):
        """``class_weight`` as a list in ``classes_`` order (a dict: 1 for
        the stages it leaves out, as scikit-learn)."""
        if isinstance(self.class_weight, dict):
            return [self.class_weight.get(c, 1.0) for c in self.classes_.tolist()]
        return self.class_weight

    def _class_weight(self, y: np.ndarray) -> np.ndarray | None:
        if self.class_weight is None:
            return None
        n_classes = len(self.classes_)
        if not isinstance(self.class_weight, str):
            return np.asarray(self._given_weights(), dtype=np.float64)
        counts = np.bincount(y[y != UNLABELLED], minlength=n_classes)
        counts = np.maximum(counts, 1).astype(np.float64)
        if self.class_weight == "balanced":
            return counts.sum() / (n_classes * counts)
        weights = 1.0 / np.sqrt(counts)
        return weights * (counts.sum() / (n_classes * counts)).mean() / weights.mean()

    def _train(self, X, y_enc, groups, side: dict) -> SleepStager:
        if self.context:
            X = ContextWindows(X, context_index(groups, len(y_enc), self.context))
        return super()._train(X, y_enc, groups, side)

    def _source(self, X, groups):
        """Validated ``X`` as the batches the network reads (runs of epochs
        with ``context``)."""
        X = self._validate_predict_X(X, dtype=np.float32)
        if self.context:
            groups = self._check_per_window(groups, "groups", len(X))
            X = ContextWindows(X, context_index(groups, len(X), self.context))
        return window_source(X)

    def _logits(self, X, groups=None) -> np.ndarray:
        return self._forward_logits(self._source(X, groups))

    def decision_function(self, X, groups=None) -> np.ndarray:
        """Stage logits, shape (n_epochs, n_classes) (two stages: (n_epochs,)).

        Parameters
        ----------
        X : array-like of shape (n_epochs, n_channels, n_times) or (n_epochs, n_times)
        groups : array-like of shape (n_epochs,), optional
            Recording of each epoch, with ``context``: each run of equal
            values is one recording, its rows in time order. None: one
            recording.
        """
        logits = self._logits(X, groups)
        if logits.shape[1] > 1:
            return logits
        return logits[:, 0] - np.log(self.threshold_ / (1.0 - self.threshold_))

    def transform(self, X, groups=None) -> np.ndarray:
        """The embedding the head sees, shape (n_epochs, embedding_dim).

        ``groups`` as in :meth:`decision_function`.
        """
        return self._batches(self.net_.module_.embed, self._source(X, groups))

    def fit_transform(self, X, y=None, groups=None) -> np.ndarray:
        """Fit, then return the embedding of ``X``."""
        return self.fit(X, y, groups=groups).transform(X, groups)

    # -- inference with smoothing -----------------------------------------------
    def _hmm(self) -> _GivenEmissionHMM:
        hmm = _GivenEmissionHMM(n_components=len(self.classes_), implementation="log")
        hmm.startprob_ = self.class_prior_
        hmm.transmat_ = self.transmat_
        return hmm

    def _emissions(self, X, groups) -> tuple[np.ndarray, np.ndarray]:
        """Per-epoch emission log-likelihoods and the sequence lengths."""
        proba = self._proba(self._logits(X, groups))
        lengths = sequence_lengths(
            self._check_per_window(groups, "groups", len(proba)), len(proba)
        )
        with np.errstate(divide="ignore"):
            # Files saved before network_prior_ existed: no class weights.
            prior = getattr(self, "network_prior_", self.class_prior_)
            emissions = np.log(proba) - np.log(prior)
        return emissions, lengths

    def predict_proba(self, X, groups=None) -> np.ndarray:
        """Stage probabilities, shape (n_epochs, n_classes), as ``classes_``.

        Parameters
        ----------
        X : array-like of shape (n_epochs, n_channels, n_times) or (n_epochs, n_times)
        groups : array-like of shape (n_epochs,), optional
            Recording of each epoch, with ``smoothing`` or ``context``: each
            run of equal values is one recording, its rows in time order.
            None: one recording. Ignored without either.

        Returns
        -------
        proba : ndarray of shape (n_epochs, n_classes)
            The network's posteriors, or with ``smoothing`` the HMM's
            forward-backward posteriors.
        """
        check_is_fitted(self)
        if self.smoothing is None:
            return self._proba(self._logits(X, groups))
        emissions, lengths = self._emissions(X, groups)
        return self._hmm().predict_proba(emissions, lengths)

    def predict(self, X, groups=None) -> np.ndarray:
        """Stage of each epoch, shape (n_epochs,), values from ``classes_``.

        Parameters
        ----------
        X : array-like of shape (n_epochs, n_channels, n_times) or (n_epochs, n_times)
        groups : array-like of shape (n_epochs,), optional
            As in :meth:`predict_proba`.

        Returns
        -------
        stages : ndarray of shape (n_epochs,)
            The most probable stage of each epoch; with
            ``smoothing="viterbi"`` the most probable stage sequence.
        """
        check_is_fitted(self)
        if self.smoothing == "viterbi":
            emissions, lengths = self._emissions(X, groups)
            _, states = self._hmm().decode(emissions, lengths, algorithm="viterbi")
            return self.classes_[states]
        return self.classes_[self.predict_proba(X, groups).argmax(axis=1)]
