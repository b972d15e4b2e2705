"""Ready pipelines: the preprocessing each classifier of the registry is
trained behind, in one place for the README demo and ``skeeg train``.

A window classifier sees band-passed, per-channel scaled windows
(:func:`window_pipeline`); the classical IED detector is four spike features
per channel with a balanced logistic regression (:func:`spike_feature_pipeline`).
The classifier is always the step named ``"clf"``, so fit parameters route as
``clf__groups``.
"""

from __future__ import annotations

from sklearn.pipeline import Pipeline

#: Band-pass (low, high) in Hz for each registry task (``Entry.task``):
#: 0.3-35 Hz is the AASM band of sleep EEG; IED and subject windows keep
#: 1-50 Hz (spikes' energy lies below 50 Hz).
BANDS: dict[str, tuple[float, float]] = {
    "windows": (1.0, 50.0),
    "multitask": (1.0, 50.0),
    "sleep": (0.3, 35.0),
}


def window_pipeline(
    classifier,
    sfreq: float,
    *,
    band: tuple[float, float] = BANDS["windows"],
    new_sfreq: float | None = None,
) -> Pipeline:
    """Band-pass, optional resampling, per-channel scaling, then ``classifier``.

    Parameters
    ----------
    classifier : estimator
        The last step, named ``"clf"``.
    sfreq : float
        Sampling rate of the windows in Hz.
    band : (float, float), default=(1.0, 50.0)
        Band-pass cut-offs in Hz (:class:`~skeeg.preprocessing.BandpassFilter`).
    new_sfreq : float or None, default=None
        Resample to this rate (Hz) after the band-pass; None keeps ``sfreq``.

    Returns
    -------
    pipeline : sklearn.pipeline.Pipeline
        Steps ``bandpass``, [``resample``,] ``scale``, ``clf``.
    """
    from skeeg.preprocessing import BandpassFilter, Resampler, Scaler

    l_freq, h_freq = band
    steps = [("bandpass", BandpassFilter(sfreq, l_freq, h_freq))]
    if new_sfreq is not None:
        steps.append(("resample", Resampler(sfreq, new_sfreq)))
    return Pipeline([*steps, ("scale", Scaler()), ("clf", classifier)])


def spike_feature_pipeline() -> Pipeline:
    """The classical IED detector: :class:`~skeeg.features.SpikeFeatures` of
    the raw windows, standardised, and a class-balanced logistic regression.

    Returns
    -------
    pipeline : sklearn.pipeline.Pipeline
        Steps ``features``, ``scale``, ``clf``.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from skeeg.features import SpikeFeatures

    return Pipeline(
        [
            ("features", SpikeFeatures()),
            ("scale", StandardScaler()),
            ("clf", LogisticRegression(class_weight="balanced", max_iter=1000)),
        ]
    )
