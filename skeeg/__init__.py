"""skeeg: scikit-learn-compatible deep and classical models for clinical EEG.

The estimators and the loss strategies are importable from the top level;
everything else lives in its submodule (``skeeg.preprocessing``,
``skeeg.sampling``, ``skeeg.curriculum``, ``skeeg.losses``, ``skeeg.datasets``,
``skeeg.metrics``).
Heavy modules (torch) load lazily.
"""

from importlib import import_module

__version__ = "0.1.0"

_LAZY = {
    "SCClassifier": "skeeg.classifiers",
    "ResNet1DClassifier": "skeeg.classifiers",
    "InceptionTimeClassifier": "skeeg.classifiers",
    "SMATEClassifier": "skeeg.smate",
    "TapNetClassifier": "skeeg.tapnet",
    "XCMClassifier": "skeeg.xcm",
    "SiameseESClassifier": "skeeg.siamese_es",
    "SleepStager": "skeeg.sleep_staging",
    "DeepClassifierBase": "skeeg.base",
    "EEGClassifierBase": "skeeg.eeg_base",
    "BCE": "skeeg.strategies",
    "WeightedBCE": "skeeg.strategies",
    "Focal": "skeeg.strategies",
    "SaSu": "skeeg.strategies",
    "AllNegatives": "skeeg.strategies",
    "BalancedNegatives": "skeeg.strategies",
    "SufficientNegatives": "skeeg.strategies",
    "IncNeg": "skeeg.strategies",
    "HMMClassifier": "skeeg.hmm",
    "mask_labels": "skeeg.protocol",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'skeeg' has no attribute {name!r}")
