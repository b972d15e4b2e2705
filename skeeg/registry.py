"""The one list of what skeeg offers: every estimator, transformer and loss
strategy, and the outside classes a model file may hold.

Everything that needs to know which models exist reads it: the top-level
names of :mod:`skeeg`, the choices of ``skeeg train --model``, the classes a
model file (:mod:`skeeg.model_file`) writes and rebuilds, and the common test
suite. Adding a model means writing its module and one :class:`Entry` here.

Importing this module imports neither torch nor scikit-learn: classes are
named by path and imported when asked for (:attr:`Entry.cls`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import import_module
from typing import Literal

#: What an entry is. "classifier", "transformer", "loss" and "negatives" are
#: skeeg's own; "base" classes are exported but never built; "external" are
#: scikit-learn classes a model file may hold inside a skeeg pipeline.
Kind = Literal["classifier", "transformer", "loss", "negatives", "base", "external"]

#: How a model file keeps an instance's fitted state.
#: "params": built from its parameters, then its public fitted attributes
#: (names ending in ``_``) are set; an estimator that defines
#: ``__skeeg_state__``/``__skeeg_restore__`` writes and rebuilds itself.
#: "dict": an outside class built without ``__init__`` from its whole
#: ``__dict__`` through ``__setstate__`` (skops' default), for classes whose
#: fitted state lives in private attributes.
Rebuild = Literal["params", "dict"]


@dataclass(frozen=True)
class Entry:
    """One class skeeg knows.

    Attributes
    ----------
    name : str
        Short name: ``skeeg train --model NAME`` for a classifier.
    path : str
        ``module.ClassName`` of the class.
    kind : Kind
    rebuild : Rebuild
        How a model file restores an instance (see :data:`Rebuild`).
    task : str or None
        For classifiers, the inputs they are built for: "windows" (labelled
        EEG windows, the usual case), "sleep" (30-s epochs with stages) or
        "multitask" (windows with a per-window sleep stage).
    example_params : dict
        Parameters of a small instance that fits in seconds: the common test
        suite checks it next to the default instance (and alone where a
        parameter has no default).
    """

    name: str
    path: str
    kind: Kind
    rebuild: Rebuild = "params"
    task: str | None = None
    example_params: dict = field(default_factory=dict)

    @property
    def cls(self) -> type:
        """The class, imported on first use."""
        module, _, name = self.path.rpartition(".")
        return getattr(import_module(module), name)

    @property
    def class_name(self) -> str:
        return self.path.rpartition(".")[2]


#: Small, fast training settings of the deep classifiers' example instances.
_FAST = {
    "width": 8,
    "max_epochs": 12,
    "batch_size": 32,
    "lr": 0.01,
    "optimizer": "adam",
    "validation_fraction": None,
    "random_state": 0,
}
_E = "skeeg.estimators."

ENTRIES: tuple[Entry, ...] = (
    # -- classifiers ----------------------------------------------------------
    Entry(
        "sc",
        _E + "sc_classifier.SCClassifier",
        "classifier",
        task="windows",
        example_params={"n_blocks": 2, "loss": "bce", "norm": "layer", **_FAST},
    ),
    Entry(
        "resnet1d",
        _E + "resnet1d_classifier.ResNet1DClassifier",
        "classifier",
        task="windows",
        example_params={"n_blocks": 1, "norm": "layer", **_FAST},
    ),
    Entry(
        "inceptiontime",
        _E + "inception_time_classifier.InceptionTimeClassifier",
        "classifier",
        task="windows",
        example_params={"n_blocks": 3, "norm": "layer", **_FAST},
    ),
    Entry(
        "smate",
        _E + "smate_classifier.SMATEClassifier",
        "classifier",
        task="windows",
        example_params={
            "hidden_size": 8,
            "gru_layers": 1,
            "embedding_size": 8,
            **_FAST,
        },
    ),
    Entry(
        "tapnet",
        _E + "tapnet_classifier.TapNetClassifier",
        "classifier",
        task="windows",
        example_params=_FAST,
    ),
    # window=1.0: a 0.3 window of the checks' 2-sample windows is one sample.
    Entry(
        "xcm",
        _E + "xcm_classifier.XCMClassifier",
        "classifier",
        task="windows",
        example_params={"window": 1.0, **_FAST},
    ),
    Entry(
        "siamese-es",
        _E + "siamese_es_classifier.SiameseESClassifier",
        "classifier",
        task="multitask",
        example_params={"loss": "bce", **_FAST},
    ),
    Entry(
        "sleep-stager",
        _E + "sleep_stager.SleepStager",
        "classifier",
        task="sleep",
        example_params=_FAST,
    ),
    Entry("hmm", _E + "hmm_classifier.HMMClassifier", "classifier", task="windows"),
    # -- transformers -----------------------------------------------------------
    Entry(
        "bandpass",
        "skeeg.preprocessing.BandpassFilter",
        "transformer",
        example_params={"sfreq": 100.0, "l_freq": 5.0, "h_freq": 20.0, "order": 1},
    ),
    Entry(
        "notch",
        "skeeg.preprocessing.NotchFilter",
        "transformer",
        example_params={"sfreq": 100.0, "freq": 25.0},
    ),
    Entry(
        "resample",
        "skeeg.preprocessing.Resampler",
        "transformer",
        example_params={"sfreq": 100.0, "new_sfreq": 50.0},
    ),
    Entry(
        "bipolar",
        "skeeg.preprocessing.BipolarMontage",
        "transformer",
        example_params={"pairs": [(0, 1)]},
    ),
    Entry(
        "channels",
        "skeeg.preprocessing.ChannelSelector",
        "transformer",
        example_params={"channels": [0]},
    ),
    Entry(
        "window-standardizer", "skeeg.preprocessing.WindowStandardizer", "transformer"
    ),
    Entry("scaler", "skeeg.preprocessing.Scaler", "transformer"),
    Entry("spike-features", "skeeg.features.SpikeFeatures", "transformer"),
    Entry("frame-features", "skeeg.features.FrameFeatures", "transformer"),
    Entry(
        "band-powers",
        "skeeg.features.BandPowers",
        "transformer",
        example_params={"sfreq": 4.0, "bands": [(0.0, 2.0)]},
    ),
    Entry(
        "sigma-power",
        "skeeg.features.SigmaPower",
        "transformer",
        example_params={"sfreq": 4.0, "sigma": (1.0, 2.0), "broad": (0.0, 2.0)},
    ),
    # -- loss strategies and negative schedules (parameter objects) -------------
    Entry("bce", "skeeg.training.strategies.BCE", "loss"),
    Entry("wbce", "skeeg.training.strategies.WeightedBCE", "loss"),
    Entry("focal", "skeeg.training.strategies.Focal", "loss"),
    Entry("sasu", "skeeg.training.strategies.SaSu", "loss"),
    Entry("all", "skeeg.training.strategies.AllNegatives", "negatives"),
    Entry("balanced", "skeeg.training.strategies.BalancedNegatives", "negatives"),
    Entry("sufficient", "skeeg.training.strategies.SufficientNegatives", "negatives"),
    Entry("incneg", "skeeg.training.strategies.IncNeg", "negatives"),
    # -- the bases a new model subclasses ----------------------------------------
    Entry("deep-base", _E + "deep_classifier.DeepClassifierBase", "base"),
    Entry("eeg-base", _E + "eeg_classifier.EEGClassifierBase", "base"),
    # -- scikit-learn classes a model file may hold --------------------------------
    Entry("pipeline", "sklearn.pipeline.Pipeline", "external"),
    Entry("standard-scaler", "sklearn.preprocessing.StandardScaler", "external"),
    Entry("robust-scaler", "sklearn.preprocessing.RobustScaler", "external"),
    Entry("minmax-scaler", "sklearn.preprocessing.MinMaxScaler", "external"),
    Entry("pca", "sklearn.decomposition.PCA", "external"),
    Entry("logreg", "sklearn.linear_model.LogisticRegression", "external"),
    Entry(
        "lda", "sklearn.discriminant_analysis.LinearDiscriminantAnalysis", "external"
    ),
    # SMATE's calibrated linear SVM: libsvm keeps its model in private
    # attributes, so these are rebuilt from their whole __dict__.
    Entry("svc", "sklearn.svm.SVC", "external", rebuild="dict"),
    Entry(
        "calibrated",
        "sklearn.calibration.CalibratedClassifierCV",
        "external",
        rebuild="dict",
    ),
    Entry(
        "calibrated-member",
        "sklearn.calibration._CalibratedClassifier",
        "external",
        rebuild="dict",
    ),
    Entry(
        "sigmoid-calibration",
        "sklearn.calibration._SigmoidCalibration",
        "external",
        rebuild="dict",
    ),
    Entry("frozen", "sklearn.frozen.FrozenEstimator", "external", rebuild="dict"),
    # The calibrator keeps its cross-validation splitter as a parameter.
    Entry(
        "stratified-kfold",
        "sklearn.model_selection.StratifiedKFold",
        "external",
        rebuild="dict",
    ),
)


def entries(*kinds: Kind) -> tuple[Entry, ...]:
    """The entries of the given kinds, in registry order (all when none)."""
    return tuple(e for e in ENTRIES if not kinds or e.kind in kinds)


def get(name: str, kind: Kind | None = None) -> Entry:
    """The entry called ``name`` (of ``kind`` when given).

    Raises
    ------
    ValueError
        If there is none, listing the names there are.
    """
    candidates = entries(kind) if kind else ENTRIES
    for entry in candidates:
        if entry.name == name:
            return entry
    what = f"{kind} " if kind else ""
    raise ValueError(
        f"unknown {what}name {name!r}; expected one of "
        f"{', '.join(e.name for e in candidates)}."
    )


def by_path(path: str) -> Entry | None:
    """The entry of class path ``module.ClassName``, or None."""
    for entry in ENTRIES:
        if entry.path == path:
            return entry
    return None


#: The names ``from skeeg import ...`` gives: classifiers, loss strategies,
#: negative schedules and the two bases.
TOP_LEVEL: dict[str, str] = {
    e.class_name: e.path.rpartition(".")[0]
    for e in entries("classifier", "loss", "negatives", "base")
}
