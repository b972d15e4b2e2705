"""The skeeg estimators, one module each, and their two bases.

:mod:`skeeg.estimators.eeg_classifier` is the torch-free base (input checks,
labels and the ``-1`` policy, the threshold); :mod:`~skeeg.estimators.deep_classifier`
adds the torch and skorch machinery. Every estimator is listed in
:mod:`skeeg.registry` and importable from :mod:`skeeg`.
"""
