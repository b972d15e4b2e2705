"""Gaussian hidden Markov models over frame features: the seed study's HMM
classifier (method spec §7), torch-free.

Each window is a sequence of frames (:class:`skeeg.features.FrameFeatures`);
supervised, one :class:`hmmlearn.hmm.GaussianHMM` per class learns that class's
sequences and a window goes to the class whose model explains it best;
unsupervised, one model learns every window and the labelled windows name its
states.
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import ClassVar

import numpy as np
from hmmlearn.hmm import GaussianHMM
from scipy.special import log_softmax
from sklearn.base import _fit_context
from sklearn.preprocessing import StandardScaler
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from skeeg._docs import fill_doc
from skeeg.estimators.eeg_classifier import EEGClassifierBase
from skeeg.features import FrameFeatures

#: Largest seed handed to each hmmlearn model.
_MAX_SEED = np.iinfo(np.int32).max

#: Dirichlet pseudo-count added to every transition count in EM (hmmlearn's
#: ``transmat_prior - 1``). Without it a state never left within a sequence,
#: e.g. in windows of a single frame, has an all-zero row and hmmlearn
#: refuses to score; against the hundreds of transitions of real data it is
#: negligible.
_TRANSITION_PSEUDOCOUNT = 1e-2
#: Frames' worth of prior on each state's mean (at 0) and covariance, so that
#: a state EM leaves empty keeps finite parameters (:meth:`_fit_hmm`).
_STATE_PSEUDOCOUNT = 1e-3


@fill_doc
class HMMClassifier(EEGClassifierBase):
    """Classify EEG windows with Gaussian HMMs over their frame features.

    Each window is cut into frames; the mean, standard deviation, kurtosis
    and Hjorth activity, mobility and complexity of every frame and channel
    (:class:`~skeeg.features.FrameFeatures`), standardised with statistics
    of the training frames, form the window's sequence of emissions.

    - **Supervised** (every window labelled, or ``mode="supervised"``): one
      :class:`~hmmlearn.hmm.GaussianHMM` per class, fitted on that class's
      sequences (unlabelled windows are left out). ``predict_proba`` is the
      posterior ``softmax_c(log p(window | HMM_c) + log prior_c)``, the
      priors being the class frequencies of the labelled training windows.
    - **Unsupervised** (some ``y == -1``, or ``mode="unsupervised"``): one
      HMM fitted on every window, labelled or not. A window is summarised by
      its state occupancy ``o(s)``, the mean posterior of state ``s`` over
      its frames; the labelled windows name the states by (soft) majority:
      ``p(c | s) = (n_c(s) + prior_c) / (n(s) + 1)``, with ``n_c(s)`` the
      occupancy of state ``s`` summed over the labelled windows of class
      ``c``: a state's class distribution among the labelled windows,
      shrunk towards the priors by one pseudo-window so that a state no
      labelled window visits says "prior" and no probability is exactly 0.
      ``predict_proba`` is ``sum_s o(s) p(c | s)``. This is the spec's
      "states mapped to classes by majority of labelled windows", with soft
      counts in place of hard votes; unlike a classifier fitted on the
      occupancies it has no parameter to fit, so it works with a single
      labelled window per class.

    Parameters
    ----------
    n_states : int, default=5
        Hidden states per HMM (the seed's 5). A class with fewer distinct
        frames than ``n_states`` gets as many states as it has distinct
        frames.
    covariance_type : {"diag", "spherical", "full", "tied"}, default="diag"
        Covariance of each state's Gaussian emission (hmmlearn's parameter).
    mode : {"auto", "supervised", "unsupervised"}, default="auto"
        "auto": unsupervised when some ``y == -1``, else supervised.
        "supervised" with unlabelled windows fits on the labelled ones only,
        exactly as if the others were not there (the labelled-only baseline
        of a semi-supervised comparison).
    frame_len : int or None, default=None
        Frame length in samples (see :class:`~skeeg.features.FrameFeatures`;
        None: ``frame_s * sfreq``, else 128; capped at the window length).
    frame_s : float or None, default=None
        Frame length in seconds (needs ``sfreq``).
    sfreq : float or None, default=None
        Sampling frequency in Hz, for ``frame_s``.
    overlap : float in [0, 1), default=0.0
        Fraction of a frame shared with the next.
    n_iter : int, default=1000
        Maximum EM iterations per HMM (the seed's 1000).
    tol : float, default=1e-3
        EM stops when the log-likelihood gains less than this (the seed's).
    random_state : int, RandomState or None, default=None
        Seeds the k-means initialisation of every HMM.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Labels seen in ``fit`` (``-1`` excluded: it marks an unlabelled
        window).
    %(eeg_fit_attributes)s
    mode_ : {"supervised", "unsupervised"}
        The mode used.
    features_ : FrameFeatures
        The fitted frame-feature transformer.
    scaler_ : StandardScaler
        Standardisation of the frame features, fitted on the frames of the
        training windows the HMMs see (unsupervised: all of them).
    class_prior_ : ndarray of shape (n_classes,)
        Class frequencies among the labelled training windows.
    hmms_ : list of GaussianHMM
        Supervised: one per class, in the order of ``classes_``;
        unsupervised: the single HMM of every window.
    state_class_proba_ : ndarray of shape (n_states, n_classes)
        Unsupervised only: ``p(c | s)`` above.
    threshold_ : float
        0.5: two classes, ``predict`` says ``classes_[1]`` where its
        probability is above it.

    Notes
    -----
    Log-likelihoods of long sequences differ by tens to hundreds of nats,
    so supervised probabilities are often exactly 0 or 1 in float64;
    ``decision_function`` gives the unsaturated log-odds (what
    scikit-learn's ROC AUC scorer uses).

    Examples
    --------
    >>> clf = HMMClassifier(frame_s=1.0, sfreq=128.0, random_state=0)
    >>> clf.fit(X, y).predict_proba(X)  # doctest: +SKIP
    """

    _accepts_unlabelled: ClassVar[bool] = True

    _parameter_constraints: dict = {
        "n_states": [Interval(Integral, 1, None, closed="left")],
        "covariance_type": [StrOptions({"diag", "spherical", "full", "tied"})],
        "mode": [StrOptions({"auto", "supervised", "unsupervised"})],
        "frame_len": [Interval(Integral, 1, None, closed="left"), None],
        "frame_s": [Interval(Real, 0, None, closed="neither"), None],
        "sfreq": [Interval(Real, 0, None, closed="neither"), None],
        "overlap": [Interval(Real, 0, 1, closed="left")],
        "n_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        *,
        n_states: int = 5,
        covariance_type: str = "diag",
        mode: str = "auto",
        frame_len: int | None = None,
        frame_s: float | None = None,
        sfreq: float | None = None,
        overlap: float = 0.0,
        n_iter: int = 1000,
        tol: float = 1e-3,
        random_state=None,
    ) -> None:
        self.n_states = n_states
        self.covariance_type = covariance_type
        self.mode = mode
        self.frame_len = frame_len
        self.frame_s = frame_s
        self.sfreq = sfreq
        self.overlap = overlap
        self.n_iter = n_iter
        self.tol = tol
        self.random_state = random_state

    # -- fit ----------------------------------------------------------------
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, groups=None) -> HMMClassifier:
        """Fit the HMM(s).

        Parameters
        ----------
        X : array-like of shape (n_windows, n_channels, n_times) or (n_windows, n_times)
            EEG windows; a 2-D array has one channel.
        y : array-like of shape (n_windows,)
            Labels; ``-1`` marks an unlabelled window. Every class needs at
            least one labelled window.
        groups : array-like of shape (n_windows,) or None, default=None
            Subject of each window; checked for length and otherwise unused
            (accepted so that ``fit`` takes the same arguments as skeeg's
            other classifiers in a grouped cross-validation).

        Returns
        -------
        self : HMMClassifier
        """
        self.features_ = FrameFeatures(
            frame_len=self.frame_len,
            frame_s=self.frame_s,
            sfreq=self.sfreq,
            overlap=self.overlap,
        )
        X, y_enc, _, _ = self._validate_fit_data(X, y, groups, min_times=2)
        labelled = y_enc != -1
        counts = np.bincount(y_enc[labelled], minlength=len(self.classes_))
        self.class_prior_ = counts / counts.sum()
        if self.mode == "auto":
            self.mode_ = "supervised" if labelled.all() else "unsupervised"
        else:
            self.mode_ = self.mode
        if self.mode_ == "supervised":
            X, y_enc = X[labelled], y_enc[labelled]
        self.features_.fit(X)
        frames = self.features_.transform(X)
        self.scaler_ = StandardScaler().fit(frames.reshape(-1, frames.shape[2]))
        frames = self._standardise(frames)

        rng = check_random_state(self.random_state)
        if self.mode_ == "supervised":
            self.hmms_ = [
                self._fit_hmm(frames[y_enc == c], rng)
                for c in range(len(self.classes_))
            ]
        else:
            self.hmms_ = [self._fit_hmm(frames, rng)]
            occupancy = self._occupancy(frames[labelled])
            one_hot = np.eye(len(self.classes_))[y_enc[labelled]]
            # n_c(s): occupancy summed per class; one prior pseudo-window.
            soft_counts = occupancy.T @ one_hot
            self.state_class_proba_ = (soft_counts + self.class_prior_) / (
                soft_counts.sum(axis=1, keepdims=True) + 1.0
            )
        self.threshold_ = 0.5
        return self

    # -- the model file ---------------------------------------------------------
    def __skeeg_state__(self) -> dict:
        """What a model file (:mod:`skeeg.model_file`) keeps: the public fitted
        attributes, each hmmlearn model as its arrays (``hmms_``).

        Returns
        -------
        state : dict
            The fitted attributes; ``hmms_`` is a list of dicts with the
            model's ``n_features``, ``startprob``, ``transmat``, ``means`` and
            ``covars`` in ``covariance_type``'s compact form.
        """
        from skeeg.model_file import fitted_state

        check_is_fitted(self)
        state = fitted_state(self)
        state["hmms_"] = [
            {
                "n_features": hmm.n_features,
                "startprob": hmm.startprob_,
                "transmat": hmm.transmat_,
                "means": hmm.means_,
                "covars": compact_covars(hmm.covars_, self.covariance_type),
            }
            for hmm in self.hmms_
        ]
        return state

    def __skeeg_restore__(self, state: dict, *, device: str = "cpu") -> None:
        """Rebuild the fitted classifier from :meth:`__skeeg_state__`'s ``state``;
        ``device`` is unused (no torch)."""
        from skeeg.model_file import restore_fitted_state

        state = dict(state)
        arrays = state.pop("hmms_")
        restore_fitted_state(self, state)
        self.hmms_ = []
        for model in arrays:
            hmm = GaussianHMM(
                n_components=len(model["startprob"]),
                covariance_type=self.covariance_type,
            )
            hmm.n_features = int(model["n_features"])
            hmm.startprob_ = model["startprob"]
            hmm.transmat_ = model["transmat"]
            hmm.means_ = model["means"]
            hmm.covars_ = model["covars"]
            self.hmms_.append(hmm)

    def _standardise(self, frames: np.ndarray) -> np.ndarray:
        n_windows, n_frames, n_features = frames.shape
        flat = self.scaler_.transform(frames.reshape(-1, n_features))
        return flat.reshape(n_windows, n_frames, n_features)

    def _fit_hmm(self, frames: np.ndarray, rng: np.random.RandomState) -> GaussianHMM:
        """One GaussianHMM on the sequences ``frames`` (n_windows, n_frames, d)."""
        flat = frames.reshape(-1, frames.shape[2])
        # hmmlearn initialises the means by k-means, which needs as many
        # distinct points as states: tiny classes get fewer states.
        n_distinct = len(np.unique(flat, axis=0))
        # A state that EM leaves without frames would get means 0 / 0 (and,
        # full or tied, covariances x / 0): NaN parameters and NaN scores.
        # A pseudo-frame at the standardised features' mean (0) keeps them
        # finite and moves no used state measurably.
        full = self.covariance_type in ("full", "tied")
        hmm = GaussianHMM(
            n_components=min(self.n_states, n_distinct),
            covariance_type=self.covariance_type,
            n_iter=self.n_iter,
            tol=self.tol,
            transmat_prior=1.0 + _TRANSITION_PSEUDOCOUNT,
            means_weight=_STATE_PSEUDOCOUNT,
            covars_weight=(flat.shape[1] if full else 1.0) + _STATE_PSEUDOCOUNT,
            random_state=rng.randint(_MAX_SEED),
        )
        return hmm.fit(flat, lengths=[frames.shape[1]] * len(frames))

    def _occupancy(self, frames: np.ndarray) -> np.ndarray:
        """Mean state posterior over each window's frames, (n_windows, n_states)."""
        n_windows, n_frames, _ = frames.shape
        posteriors = self.hmms_[0].predict_proba(
            frames.reshape(n_windows * n_frames, -1), lengths=[n_frames] * n_windows
        )
        return posteriors.reshape(n_windows, n_frames, -1).mean(axis=1)

    # -- predict ------------------------------------------------------------
    def _frames(self, X) -> np.ndarray:
        X = self._validate_predict_X(X)
        return self._standardise(self.features_.transform(X))

    def _log_proba(self, X) -> np.ndarray:
        frames = self._frames(X)
        if self.mode_ == "supervised":
            log_likelihood = np.array(
                [[hmm.score(window) for hmm in self.hmms_] for window in frames]
            )
            # Every class has a labelled window, so every prior is > 0.
            return log_softmax(log_likelihood + np.log(self.class_prior_), axis=1)
        return np.log(self._occupancy(frames) @ self.state_class_proba_)

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities of each window.

        Parameters
        ----------
        X : array-like of shape (n_windows, n_channels, n_times) or (n_windows, n_times)

        Returns
        -------
        proba : ndarray of shape (n_windows, n_classes)
            Columns in the order of ``classes_``; rows sum to 1.
        """
        return np.exp(self._log_proba(X))

    def predict_log_proba(self, X) -> np.ndarray:
        """Log of :meth:`predict_proba`, computed without saturating.

        Returns
        -------
        log_proba : ndarray of shape (n_windows, n_classes)
        """
        return self._log_proba(X)

    def decision_function(self, X) -> np.ndarray:
        """Log-odds of ``classes_[1]`` (two classes) or log-probabilities.

        Returns
        -------
        scores : ndarray of shape (n_windows,) or (n_windows, n_classes)
            Two classes: ``log p(classes_[1]) - log p(classes_[0])``,
            positive exactly where ``predict`` says ``classes_[1]``; more:
            :meth:`predict_log_proba`.
        """
        log_proba = self._log_proba(X)
        if log_proba.shape[1] == 2:
            return log_proba[:, 1] - log_proba[:, 0]
        return log_proba


def compact_covars(full: np.ndarray, covariance_type: str) -> np.ndarray:
    """hmmlearn's ``covars_`` (always full matrices, (n_states, d, d)) in the
    form its setter takes for ``covariance_type``."""
    if covariance_type == "full":
        return full
    if covariance_type == "tied":
        return full[0]
    diagonal = np.diagonal(full, axis1=1, axis2=2)
    return diagonal if covariance_type == "diag" else diagonal[:, 0]
