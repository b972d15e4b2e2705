"""SMATE classifier: a semi-supervised spatio-temporal autoencoder and a linear
SVM on its embedding (method-specs §3).

:class:`SMATEClassifier` trains :class:`skeeg.models.smate.SMATENet` with
:class:`skeeg.models.smate.SMATELoss` on every window, labelled or not
(``y == -1``), in mini-batches drawn by :class:`ClassCoveringBatchSampler`,
then fits a linear SVM on the embeddings of the labelled windows.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import replace
from numbers import Integral, Real
from typing import ClassVar

import numpy as np
import torch
from sklearn.base import _fit_context
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import (
    GridSearchCV,
    StratifiedGroupKFold,
    StratifiedKFold,
)
from sklearn.svm import SVC
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.validation import column_or_1d
from skorch import NeuralNet
from skorch.callbacks import EarlyStopping
from torch import nn
from torch.utils.data import Sampler

from skeeg._docs import fill_doc
from skeeg.estimators.deep_classifier import DeepClassifierBase
from skeeg.estimators.eeg_classifier import fit_targets, is_unlabelled
from skeeg.models.smate import DISTANCE_PROBAS, SMATELoss, SMATENet
from skeeg.training.batches import window_source
from skeeg.training.net import SkeegNet, TrainingPlan
from skeeg.training.recipe import make_callbacks

#: Most folds of the SVM's probability calibration and of C="auto".
_CALIBRATION_FOLDS = 5
#: The SVM's C values C="auto" chooses from, smallest first.
C_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)
#: C when C="auto" cannot cross-validate (a class with one labelled window).
_FALLBACK_C = 1.0


class ClassCoveringBatchSampler(Sampler):
    """Mini-batches that each hold a labelled window of every class.

    Each epoch the windows are shuffled into ``ceil(n_windows / batch_size)``
    batches. Every batch first gets one labelled window of each class (a
    class with fewer labelled windows than there are batches lends some of
    them to several batches), then an equal share of the other windows.
    Every window appears at least once per epoch; a batch has at most
    ``batch_size + n_classes`` windows.

    Parameters
    ----------
    y : array-like of int, shape (n_windows,)
        Class indices ``0 .. n_classes - 1``; ``-1`` marks an unlabelled window.
        Every class needs a labelled window.
    batch_size : int
        Windows per batch, before the per-class windows are added.
    random_state : int, RandomState instance or None, default=None
        Seed. Epoch ``e`` (the ``e``-th iteration) depends only on it and ``e``.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class indices, ``0 .. n_classes - 1``.
    n_batches_ : int
        Batches per epoch.
    """

    def __init__(self, y, batch_size: int, random_state=None) -> None:
        super().__init__()
        y = np.asarray(y)
        self.classes_ = np.unique(y[y >= 0])
        if len(self.classes_) == 0 or not np.array_equal(
            self.classes_, np.arange(len(self.classes_))
        ):
            raise ValueError(
                "y must hold class indices 0..n_classes-1 with a labelled window "
                f"each (-1: unlabelled); got classes {self.classes_.tolist()}."
            )
        self.y = y
        self.batch_size = batch_size
        self.n_batches_ = max(1, math.ceil(len(y) / batch_size))
        self._seed = int(check_random_state(random_state).randint(2**31 - 1))
        self._epoch = 0

    def batches_for_epoch(self, epoch: int) -> list[np.ndarray]:
        """The batches of the 0-based ``epoch``: lists of positions in ``y``."""
        rng = np.random.default_rng([self._seed, epoch])
        anchors = []
        rest = [np.flatnonzero(self.y < 0)]
        for k in self.classes_:
            members = rng.permutation(np.flatnonzero(self.y == k))
            anchors.append(members[np.arange(self.n_batches_) % len(members)])
            rest.append(members[self.n_batches_ :])
        shares = np.array_split(rng.permutation(np.concatenate(rest)), self.n_batches_)
        return [
            rng.permutation(np.concatenate([[a[b] for a in anchors], shares[b]]))
            for b in range(self.n_batches_)
        ]

    def __iter__(self):
        batches = self.batches_for_epoch(self._epoch)
        self._epoch += 1
        return iter([batch.tolist() for batch in batches])

    def __len__(self) -> int:
        return self.n_batches_


class _SMATENet(SkeegNet):
    """Skorch net whose criterion is :class:`SMATELoss` on module outputs."""

    def get_loss(self, y_pred, y_true, X=None, training=False) -> torch.Tensor:
        embedding, reconstruction = y_pred
        y = torch.as_tensor(y_true, device=embedding.device)
        return self.criterion_(
            embedding, reconstruction, X.to(embedding.device), y.long()
        )


@fill_doc
class SMATEClassifier(DeepClassifierBase):
    """SMATE: semi-supervised spatio-temporal representation learning and a
    linear SVM (Zuo et al., ICDM 2021; the seed study's §III-B1).

    An autoencoder with a spatial encoder (spatial modelling blocks and
    convolutions) and a temporal encoder (stacked GRUs) learns an embedding
    of every window, labelled or not (``y == -1``), under reconstruction plus
    ``lambda_reg`` times a centroid regularisation that pulls each class's
    windows to its centroid: class centroids of the labelled windows, refined
    by distance-based weights, then with the unlabelled windows folded in by
    their most probable class (:func:`skeeg.models.smate.smate_centroids`).
    The centroids and the loss are computed per mini-batch, and every
    mini-batch carries labelled windows of every class
    (:class:`ClassCoveringBatchSampler`). A linear SVM on the embeddings of
    the labelled windows then classifies; ``predict_proba`` are its
    probabilities, calibrated with a sigmoid on cross-validated decisions.

    Parameters
    ----------
    width : int, default=128
        Filters of the first and third spatial convolutions (the second has
        ``2 * width``; the paper's 128/256/128).
    kernel_sizes : tuple of 3 int, default=(8, 5, 3)
        Kernels of the spatial convolutions and windows of their spatial
        modelling blocks, in samples.
    smb_hidden : tuple of 3 int, default=(2, 8, 16)
        Bottleneck width of each spatial modelling block.
    hidden_size : int, default=128
        Units of each GRU of the temporal encoder and of the decoder.
    gru_layers : int, default=3
        Stacked GRUs in the temporal encoder and in the decoder.
    embedding_size : int, default=128
        Embedding features per pooled segment.
    pool_size : int, default=128
        Samples per pooled segment; the embedding has
        ``embedding_size * ceil(n_times / pool_size)`` features (10-s windows
        at 128 Hz: 10 segments, as in the seed).
    use_spatial : bool, default=True
        Keep the spatial encoder (ablation: False).
    use_temporal : bool, default=True
        Keep the temporal encoder (ablation: False). One of the two must stay.
    lambda_reg : float, default=1.0
        Weight of the centroid regularisation (>= 0; 0: a plain autoencoder).
    distance : {"inverse", "softmax"}, default="inverse"
        Class probability from the distances ``d`` to the centroids:
        proportional to ``1 / d`` (the seed) or ``softmax(-d)``.
    reg_unlabelled : bool, default=True
        Unlabelled windows enter the regularisation loss with their
        propagated class (the paper). False: they only move the centroids
        (the authors' code).
    C : float or "auto", default="auto"
        Regularisation parameter of the linear SVM (> 0). "auto" picks it
        from :data:`C_GRID` by the cross-validated ROC AUC (two classes) or
        balanced accuracy (more) of the SVM on the labelled windows' embeddings,
        in folds by ``groups`` when ``fit`` has them (see Notes); ``C_`` is
        the choice.
    class_weight : "balanced", dict or None, default="balanced"
        Weights of the labelled windows in the SVM and its probability
        calibration, per class: "balanced" weighs each class inversely to its
        labelled windows (``n / (n_classes * n_k)``, scikit-learn's rule), a
        dict maps class labels to weights, None weighs every window 1. With
        "balanced", ``predict_proba`` are the probabilities of equally
        frequent classes, so ``threshold=0.5`` does not call every window the
        majority class when the embedding separates the classes weakly.
    max_epochs : int, default=30
        Training epochs of the autoencoder.
    batch_size : int, default=128
        Windows per mini-batch (the seed's 128), before the per-class
        windows :class:`ClassCoveringBatchSampler` adds; also the inference
        batch.
    lr : float, default=1e-3
        Learning rate. The seed trains 1000 epochs at 1e-5; 30 epochs at
        1e-3 fit a CPU.
    optimizer : {"sgd", "adam", "adamw"} or torch.optim.Optimizer class, default="adam"
        The seed's Adam.
    optimizer_params : dict or None, default=None
        Keyword arguments of the optimizer.
    lr_schedule : {"linear", None}, default="linear"
        "linear" decays the learning rate to ``min_lr`` over ``max_epochs``.
    min_lr : float, default=1e-5
        Final learning rate of the linear schedule.
    grad_clip : float or None, default=1.0
        Maximum gradient norm; None disables clipping.
    threshold : float in (0, 1), default=0.5
        Two classes: predict ``classes_[1]`` where its probability is above
        it (``threshold_``). To tune it, use
        :class:`~sklearn.model_selection.TunedThresholdClassifierCV`.
    validation_fraction : float or None, default=None
        Share of the labelled windows held out to keep the epoch of lowest
        validation loss (the authors' checkpoint on ``val_loss``); with
        ``groups`` the split keeps each group on one side. None trains on
        everything and keeps the last epoch. The SVM is fitted on every
        labelled window either way.
    patience : int or None, default=None
        With a validation split: stop after this many epochs without a
        lower validation loss; None never stops early.
    random_state : int, RandomState or None, default=None
        Seeds weights, batches and the SVM's calibration folds.
    device : str, default="auto"
        "auto" picks CUDA when present, else CPU; or any torch device string.
    %(n_threads)s
    verbose : int, default=0
        1 prints a line per epoch, 2 adds a progress bar.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Labels seen in ``fit``, ``-1`` (unlabelled) excluded.
    threshold_ : float
        Decision threshold on the probability of ``classes_[1]``.
    net_ : skorch.NeuralNet
        The fitted autoencoder; ``net_.history`` holds the per-epoch log.
    device_ : str
        Device the net was trained on.
    svm_ : sklearn.calibration.CalibratedClassifierCV
        The calibrated linear SVM on the embeddings of the labelled windows.
    C_ : float
        The SVM's regularisation parameter (``C``, or the one "auto" chose).
    %(eeg_fit_attributes)s

    Notes
    -----
    The SVM is :class:`~sklearn.svm.SVC` with a linear kernel (libsvm: the
    exact hinge loss with an unpenalised intercept; liblinear's
    ``LinearSVC`` penalises the intercept), inside
    :class:`~sklearn.calibration.CalibratedClassifierCV` (sigmoid,
    ``ensemble=False``: one SVM on all labelled windows, calibrated on
    stratified folds of up to 5). ``SVC(probability=True)`` is deprecated
    since scikit-learn 1.9, and its internal calibration inverted the
    probabilities of two-window problems in a trial. With a single labelled
    window in some class no fold can be held out, and the sigmoid is fitted
    on the training decisions; so it is too when the cross-validated
    sigmoid would reverse the SVM's order (a positive slope: seen with 16
    labelled windows). ``predict`` thresholds the calibrated
    probabilities (``threshold_``); ``decision_function`` is their log-odds
    minus the threshold's (two classes) or their logarithm (more classes).
    libsvm's cost grows with the square of the labelled windows: up to ~10^4
    is quick; ``C="auto"`` fits ``len(C_GRID)`` times up to 5 more SVMs.

    ``C="auto"`` and ``class_weight="balanced"`` are skeeg's defaults, not the
    seed's (an SVM with ``C=1``, unweighted): on the 128- to 160-dimensional
    embedding of a few hundred windows, ``C=1`` fits the training windows
    (about half are support vectors) and ranks held-out ones worse than a
    more regularised SVM, and an unweighted calibration with a minority
    class of a quarter of the windows put every eegmat test window below
    0.5 (``docs/subject_classification.md``). The folds of ``C="auto"``
    keep each of ``groups`` (a subject) on one side, as the test folds of a
    subject-wise evaluation do; without ``groups`` they are stratified.

    Examples
    --------
    >>> from skeeg import SMATEClassifier
    >>> clf = SMATEClassifier(width=16, hidden_size=16, max_epochs=5)  # doctest: +SKIP
    >>> clf.fit(X, y_with_minus_one).predict_proba(X)  # doctest: +SKIP
    """

    _accepts_unlabelled = True

    def __init__(
        self,
        *,
        width=128,
        kernel_sizes=(8, 5, 3),
        smb_hidden=(2, 8, 16),
        hidden_size=128,
        gru_layers=3,
        embedding_size=128,
        pool_size=128,
        use_spatial=True,
        use_temporal=True,
        lambda_reg=1.0,
        distance="inverse",
        reg_unlabelled=True,
        C="auto",
        class_weight="balanced",
        max_epochs=30,
        batch_size=128,
        lr=1e-3,
        optimizer="adam",
        optimizer_params=None,
        lr_schedule="linear",
        min_lr=1e-5,
        grad_clip=1.0,
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
        # SMATE's depth is fixed (three spatial blocks) and its loss is its
        # own: the base's n_blocks, loss and criterion are not parameters here.
        super().__init__(
            width=width,
            n_blocks=3,
            loss="bce",
            max_epochs=max_epochs,
            batch_size=batch_size,
            lr=lr,
            optimizer=optimizer,
            optimizer_params=optimizer_params,
            lr_schedule=lr_schedule,
            min_lr=min_lr,
            grad_clip=grad_clip,
            criterion=None,
            criterion_params=None,
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
        self.kernel_sizes = kernel_sizes
        self.smb_hidden = smb_hidden
        self.hidden_size = hidden_size
        self.gru_layers = gru_layers
        self.embedding_size = embedding_size
        self.pool_size = pool_size
        self.use_spatial = use_spatial
        self.use_temporal = use_temporal
        self.lambda_reg = lambda_reg
        self.distance = distance
        self.reg_unlabelled = reg_unlabelled
        self.C = C
        self.class_weight = class_weight

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, groups=None) -> SMATEClassifier:
        """Train the autoencoder on all windows, then the SVM on the labelled ones.

        Parameters
        ----------
        X : array-like of shape (n_windows, n_channels, n_times) or (n_windows, n_times)
            EEG windows (a 2-D X has one channel). Cast to float32.
        y : array-like of shape (n_windows,)
            Labels of any type; -1 marks an unlabelled window. Each class
            needs at least one labelled window.
        groups : array-like of shape (n_windows,), optional
            Subject (or recording) of each window; keeps the validation
            split (``validation_fraction``) and the folds of ``C="auto"``
            group-aware.

        Returns
        -------
        self
        """
        self._fit(X, y, groups=groups)
        return self._fit_head(X, y, groups)

    def _fit_head(self, X, y, groups=None) -> SMATEClassifier:
        """Fit the SVM (``C_``, ``svm_``) on the embeddings of ``X``'s labelled
        windows by the trained network; ``fit``'s arguments."""
        labels = column_or_1d(fit_targets(X, y))
        labelled = ~is_unlabelled(labels)
        X = self._validate_predict_X(X, dtype=np.float32)[labelled]
        embedding = self._batches(self.net_.module_.embed, window_source(X))
        y_enc = np.searchsorted(self.classes_, labels[labelled])
        if groups is not None:
            groups = column_or_1d(groups)[labelled]
        weight = self._sample_weight(y_enc)
        self.C_ = (
            self._choose_C(embedding, y_enc, weight, groups)
            if self.C == "auto"
            else float(self.C)
        )
        self.svm_ = self._fit_svm(embedding, y_enc, weight)
        return self

    def _sample_weight(self, y: np.ndarray) -> np.ndarray:
        """Weights of the labelled windows, shape (n,), from ``class_weight``
        and their class indices ``y`` (n,)."""
        class_weight = self.class_weight
        if isinstance(class_weight, dict):
            unknown = set(class_weight) - set(self.classes_.tolist())
            if unknown:
                raise ValueError(
                    f"class_weight has labels {sorted(unknown, key=str)} that are "
                    f"not among the classes {self.classes_.tolist()}."
                )
            if any(not w > 0 for w in class_weight.values()):
                raise ValueError(
                    f"class_weight must map labels to weights > 0, got {class_weight}."
                )
            class_weight = {
                int(np.searchsorted(self.classes_, k)): float(v)
                for k, v in class_weight.items()
            }
        return compute_sample_weight(class_weight, y)

    def _folds(self, y: np.ndarray, groups) -> list | None:
        """Up to 5 (train, test) splits of the labelled windows for ``C="auto"``,
        by group when ``groups`` gives at least 2 splits in which every class
        trains; None when no split is possible."""
        n_folds = min(_CALIBRATION_FOLDS, int(np.bincount(y).min()))
        if n_folds < 2:
            return None
        n_classes = len(self.classes_)
        if groups is not None:
            n_group_folds = min(_CALIBRATION_FOLDS, len(np.unique(groups)))
            if n_group_folds >= 2:
                cv = StratifiedGroupKFold(
                    n_group_folds, shuffle=True, random_state=self.random_state
                )
                splits = list(cv.split(y, y, groups))
                if all(len(np.unique(y[train])) == n_classes for train, _ in splits):
                    return splits
        cv = StratifiedKFold(n_folds, shuffle=True, random_state=self.random_state)
        return list(cv.split(y, y))

    def _choose_C(self, embedding, y, weight, groups) -> float:
        """The C of :data:`C_GRID` with the best mean out-of-fold ROC AUC (two
        classes) or balanced accuracy (more); ties: the smallest C."""
        splits = self._folds(y, groups)
        if splits is None:
            return _FALLBACK_C
        search = GridSearchCV(
            SVC(kernel="linear"),
            {"C": list(C_GRID)},
            scoring="roc_auc" if len(self.classes_) == 2 else "balanced_accuracy",
            cv=splits,
            refit=False,
        ).fit(embedding, y, sample_weight=weight)
        return float(search.best_params_["C"])

    def _fit_svm(
        self, embedding: np.ndarray, y: np.ndarray, weight: np.ndarray
    ) -> CalibratedClassifierCV:
        """The linear SVM on ``embedding`` (n, dim), class indices ``y`` (n,)
        and window weights ``weight`` (n,), with sigmoid-calibrated
        probabilities."""
        svm = SVC(kernel="linear", C=self.C_)
        n_folds = min(_CALIBRATION_FOLDS, int(np.bincount(y).min()))
        if n_folds >= 2:
            cv = StratifiedKFold(n_folds, shuffle=True, random_state=self.random_state)
            calibrated = CalibratedClassifierCV(svm, cv=cv, ensemble=False).fit(
                embedding, y, sample_weight=weight
            )
            # On a few labelled windows the fold SVMs can disagree with the
            # final one so much that the sigmoid's slope turns positive
            # (sklearn: p = 1 / (1 + exp(a f + b))) and reverses the SVM's
            # ranking; such a calibration is dropped for the one below.
            (fitted,) = calibrated.calibrated_classifiers_
            if all(c.a_ < 0 for c in fitted.calibrators):
                return calibrated
        # Calibrate the fitted (frozen) SVM on its training decisions: one
        # "fold" whose test set is the training set. Overconfident, but in
        # the order of the SVM's own decisions.
        every = np.arange(len(y))
        frozen = FrozenEstimator(svm.fit(embedding, y, sample_weight=weight))
        with warnings.catch_warnings():
            # The SVM was fitted with the weights before it was frozen; only
            # the sigmoid is fitted here, and it takes them.
            warnings.filterwarnings(
                "ignore", "Since FrozenEstimator does not appear to accept"
            )
            return CalibratedClassifierCV(frozen, cv=[(every, every)]).fit(
                embedding, y, sample_weight=weight
            )

    # -- the steps of DeepClassifierBase._fit -----------------------------------
    _parameter_constraints: ClassVar[dict] = {
        **DeepClassifierBase._parameter_constraints,
        "hidden_size": [Interval(Integral, 1, None, closed="left")],
        "gru_layers": [Interval(Integral, 1, None, closed="left")],
        "embedding_size": [Interval(Integral, 1, None, closed="left")],
        "pool_size": [Interval(Integral, 1, None, closed="left")],
        "distance": [StrOptions(set(DISTANCE_PROBAS))],
        "lambda_reg": [Interval(Real, 0, None, closed="left")],
        "C": [StrOptions({"auto"}), Interval(Real, 0, None, closed="neither")],
        "class_weight": [StrOptions({"balanced"}), dict, None],
        "use_spatial": ["boolean"],
        "use_temporal": ["boolean"],
        "reg_unlabelled": ["boolean"],
    }

    def _check_params(self) -> None:
        if self.threshold == "auto":
            raise ValueError(
                "SMATEClassifier takes threshold as a float in (0, 1), got 'auto'; "
                "tune it with sklearn.model_selection.TunedThresholdClassifierCV."
            )
        super()._check_params()

    def _build_module(self, n_channels: int, n_times: int, n_outputs: int) -> nn.Module:
        return SMATENet(
            n_channels,
            n_times,
            width=self.width,
            kernel_sizes=self.kernel_sizes,
            smb_hidden=self.smb_hidden,
            hidden_size=self.hidden_size,
            gru_layers=self.gru_layers,
            embedding_size=self.embedding_size,
            pool_size=self.pool_size,
            use_spatial=self.use_spatial,
            use_temporal=self.use_temporal,
        )

    def _training_plan(self, loss, y, *, seed: int, validation: bool) -> TrainingPlan:
        # The centroids are recomputed in every mini-batch, not once per
        # epoch as the spec's wording has it: L_Reg must differentiate
        # through the centroids of the current weights, and embedding every
        # training window at each step costs a full pass (the authors' code
        # makes the whole training set one batch). Hence the sampler that
        # puts labelled windows of every class in each batch.
        criterion = SMATELoss(
            len(self.classes_),
            lambda_reg=self.lambda_reg,
            kind=self.distance,
            reg_unlabelled=self.reg_unlabelled,
        )
        callbacks = make_callbacks(
            max_epochs=self.max_epochs,
            lr=self.lr,
            lr_schedule=self.lr_schedule,
            min_lr=self.min_lr,
            grad_clip=self.grad_clip,
            select_on_validation=False,
            beta=1.0,
            patience=None,
            curriculum=False,
            verbose=self.verbose,
        )
        if validation:
            patience = self.max_epochs if self.patience is None else self.patience
            callbacks.append(
                (
                    "select_best",
                    EarlyStopping(
                        monitor="valid_loss",
                        patience=patience,
                        load_best=True,
                        sink=_silent,
                    ),
                )
            )
        sampler = ClassCoveringBatchSampler(y, self.batch_size, random_state=seed)
        return TrainingPlan(criterion, sampler, callbacks, self.max_epochs)

    def _make_net(self, module, plan: TrainingPlan, valid_ds) -> NeuralNet:
        net = super()._make_net(module, replace(plan, sampler=None), valid_ds)
        # A batch sampler replaces the DataLoader's batch_size and shuffle.
        return net.set_params(
            iterator_train__batch_sampler=plan.sampler,
            iterator_train__batch_size=1,
            iterator_train__shuffle=False,
        )

    def _net_class(self) -> type[NeuralNet]:
        return _SMATENet

    # -- inference through the SVM ---------------------------------------------
    def _forward_logits(self, X: torch.Tensor) -> np.ndarray:
        """Log-odds of ``classes_[1]`` (two classes) or log-probabilities."""
        embedding = self._batches(self.net_.module_.embed, X)
        proba = np.clip(self.svm_.predict_proba(embedding), 1e-12, 1.0)
        if proba.shape[1] == 2:
            return np.log(proba[:, 1:]) - np.log(proba[:, :1])
        return np.log(proba)


def _silent(*args, **kwargs) -> None:
    """EarlyStopping's message sink: the estimator's ``verbose`` governs output."""
