"""Semi-synthetic IED data: epileptiform discharges injected into real EEG.

No public EEG with spike-level IED annotations is available to the project, so
this generator puts physiologically shaped interictal epileptiform discharges
(IEDs) and IED-like artefacts into real background EEG, at a known time, place
and size, and cuts the result into labelled windows.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.signal import butter, sosfiltfilt
from scipy.stats import median_abs_deviation
from sklearn.utils import Bunch, check_random_state

from skeeg.datasets.sample import load_sample

# IFCN glossary: a spike lasts 20 to <70 ms, a sharp wave 70-200 ms.
_SPIKE_S = (0.020, 0.070)
_SHARP_S = (0.070, 0.200)
_SLOW_WAVE_S = (0.150, 0.350)
# Share of the sharp transient taken by its rising phase: < 1/2 makes the
# rise steeper than the fall (the IFCN asymmetry criterion).
_RISE_FRACTION = (0.25, 0.45)
# After-going slow wave peak as a share of the spike peak (lower amplitude).
_SLOW_WAVE_RATIO = (0.3, 0.7)
_MUSCLE_HZ = (20.0, 70.0)
_MUSCLE_S = (0.100, 0.500)
_POP_TAU_S = (0.050, 0.300)
_BLINK_S = (0.200, 0.400)
# Fall-off of the blink (corneo-retinal dipole) field with distance from the
# eyes, by 10-20 electrode row.
_BLINK_WEIGHT = {"fp": 1.0, "af": 0.5, "f": 0.2}
MIN_SFREQ = 150.0
_MIN_WINDOW_S = 0.75


def make_ied_dataset(
    background=None,
    *,
    sfreq: float | None = None,
    ch_names: Sequence[str] | None = None,
    subjects: Sequence | None = None,
    window_s: float = 1.5,
    stride_s: float | None = None,
    prevalence: float = 0.05,
    n_windows: int | None = None,
    bipolar: bool = True,
    spike_fraction: float = 0.6,
    slow_wave_probability: float = 0.6,
    amplitude_snr: tuple[float, float] = (2.5, 6.0),
    field_decay: float = 0.5,
    hard_negative_fraction: float = 0.1,
    lowpass_hz: float | None = 45.0,
    random_state=None,
    return_X_y: bool = False,
) -> Bunch | tuple[np.ndarray, np.ndarray]:
    """Window real EEG and inject interictal epileptiform discharges into some.

    Each subject's background is cut into non-overlapping windows. In
    ``round(prevalence * n_windows)`` of them (the positives, ``y = 1``) one
    IED is added near the window centre: a surface-negative spike or sharp
    wave, often with an after-going slow wave, with a spatial field around a
    focal electrode. In a share of the other windows an IED-like artefact is
    added instead (a "hard negative", ``y = 0``): a muscle burst, an electrode
    pop or an eye blink. Everything is added to the referential channels; the
    bipolar montage, if asked for, is built afterwards, so its phase reversals
    follow from the field as they do in a real recording.

    Parameters
    ----------
    background : None, ndarray, mne.io.BaseRaw or list of BaseRaw
        Real EEG to inject into, referential channels ordered as a chain of
        neighbouring electrodes (e.g. Fp1, F7, T3, T5, O1): the field decay and
        the bipolar montage treat consecutive channels as scalp neighbours.

        - None: the bundled sample (:func:`skeeg.datasets.load_sample`:
          10 subjects, Fp1-F7-T3-T5-O1-O2, 60 s at 500 Hz).
        - ndarray of shape (n_subjects, n_channels, n_times) or
          (n_channels, n_times) (one subject), in volts; needs ``sfreq``.
        - Raw or list of Raw (one per subject): the EEG channels, or those
          named in ``ch_names``, in that order; all must share ``sfreq`` and
          channel names.

        It is never modified.
    sfreq : float, optional
        Sampling frequency in Hz of an ndarray ``background``; must be at
        least 150 Hz so that 20-ms spikes span several samples and muscle
        bursts up to 70 Hz lie below the Nyquist frequency. Must be None with
        ``background=None``; taken from Raw input (a value given must agree).
    ch_names : sequence of str, optional
        Names of the referential channels. For an ndarray, one per channel
        (default ``"ch0"``, ``"ch1"``, ...); for Raw, the channels to use, in
        chain order. Eye blinks are drawn only when some name denotes a
        frontal electrode (``Fp*``, ``AF*``, ``F*``; an ``"EEG "`` prefix is
        allowed), since the blink field is confined to the front of the head.
    subjects : sequence, optional
        One id per subject, returned in ``groups`` so that cross-validation
        can split by subject. Default: the sample's ids (``"Subject00"``, ...)
        or ``0, 1, ...``.
    window_s : float, default=1.5
        Window length in seconds (1.5 s in the iEDeaL paper). At least 0.75 s,
        so that the longest complex (a 200-ms sharp wave and a 350-ms slow
        wave) fits with its peak in the central half of the window.
    stride_s : float, optional
        Step between window starts in seconds; default ``window_s``
        (non-overlapping windows, as the iEDeaL paper cuts its negatives). A
        shorter stride gives overlapping windows, each with its own
        independently drawn injection: more training windows from a short
        background, at the price of windows of one subject sharing background
        (split by subject, with ``groups``, so no test subject is seen).
    prevalence : float, default=0.05
        Fraction of windows holding an IED, in (0, 0.5]. Clinical recordings
        are highly imbalanced: about 1-5 % of 1.5-s windows contain an IED in
        the iEDeaL data sets.
    n_windows : int, optional
        Number of windows to return, drawn at random (without replacement,
        kept in recording order) from all non-overlapping windows. Default:
        all of them.
    bipolar : bool, default=True
        Return the longitudinal bipolar montage, channel ``i`` minus channel
        ``i + 1`` (``n_channels - 1`` derivations), as in the iEDeaL paper.
        A focal negative field then shows as a phase reversal: the two
        derivations sharing the focal electrode deflect in opposite
        directions, by ``(1 - field_decay)`` times the focal amplitude.
    spike_fraction : float, default=0.6
        Probability that an IED is a spike (20 to <70 ms, base to base) rather
        than a sharp wave (70-200 ms); the two differ only in duration.
    slow_wave_probability : float, default=0.6
        Probability that the spike or sharp wave is followed by an after-going
        slow wave: a smooth 150-350 ms deflection of the same (surface
        negative) polarity and 30-70 % of its peak amplitude, reflecting the
        hyperpolarisation that follows the paroxysmal depolarising shift.
    amplitude_snr : tuple of float (low, high), default=(2.5, 6.0)
        The IED peak on the focal electrode is ``snr`` times the robust
        standard deviation (1.4826 x median absolute deviation) of that
        referential channel in that window, ``snr ~ Uniform(low, high)``:
        IEDs stand out from the local background, which varies across
        subjects and states. Hard negatives use the same scale, so amplitude
        alone does not separate them from IEDs.
    field_decay : float, default=0.5
        Ratio of the IED amplitude on an electrode to that on its neighbour
        one step closer to the focus, in [0, 1): a cortical source is seen,
        attenuated by volume conduction, on the surrounding electrodes
        (the IFCN "physiological field" criterion). 0 gives a single-electrode
        transient.
    hard_negative_fraction : float, default=0.1
        Fraction of the negative windows, in [0, 1], that receive one
        IED-like artefact, equally likely among the kinds available:

        - ``"muscle"``: a 100-500 ms burst of 20-70 Hz band-limited noise on
          one or two neighbouring electrodes (temporalis/frontalis EMG);
        - ``"pop"``: an abrupt step decaying exponentially (time constant
          50-300 ms) on exactly one electrode, either polarity, no field
          (a transient change of electrode impedance);
        - ``"blink"``: a 200-400 ms positive half-sine on the frontal
          electrodes, largest at Fp (the cornea-positive eye dipole moving
          up); only if ``ch_names`` has frontal electrodes.
    random_state : int, RandomState instance or None, default=None
        Seed for every random choice; the same value gives identical output.
    return_X_y : bool, default=False
        Return ``(X, y)`` instead of the Bunch.

    Returns
    -------
    data : sklearn.utils.Bunch
        With the fields

        X : ndarray of shape (n_windows, n_channels_out, n_times_window)
            Windows in volts (float64); ``n_channels_out`` is
            ``n_channels - 1`` with ``bipolar`` and ``n_channels`` otherwise,
            ``n_times_window`` is ``round(window_s * sfreq)``.
        y : ndarray of int of shape (n_windows,)
            1 if the window holds an injected IED, else 0.
        groups : ndarray of shape (n_windows,)
            Subject id of each window.
        metadata : pandas.DataFrame
            One row per window: ``subject`` (= ``groups``), ``onset``
            (window start in seconds from the start of the subject's
            background), ``label`` (= ``y``) and ``kind`` (the injected
            waveform, as in ``events``, or ``"none"``).
        events : pandas.DataFrame
            One row per injected waveform, with columns ``window`` (row of
            ``X``), ``subject``, ``kind`` (``"spike"``, ``"sharp"``,
            ``"muscle"``, ``"pop"``, ``"blink"``), ``channel`` (the focal
            referential electrode), ``onset_s``, ``peak_s`` (within the
            window), ``recording_onset_s``, ``recording_peak_s`` (within the
            subject's background), ``duration_s`` (base to base of the spike
            or sharp wave; burst or blink length; five time constants for a
            pop), ``slow_wave_s`` (0 if none), ``amplitude`` (the recorded
            value, after ``lowpass_hz``, at ``peak_s`` on the focal referential
            electrode, V), ``snr`` (the drawn SNR: the drawn peak, before the
            low-pass, over the focal electrode's robust standard deviation)
            and ``label``.
        sfreq : float
            Sampling frequency in Hz.
        ch_names : list of str
            Names of the channels of ``X``: the referential names, or with
            ``bipolar`` the derivations ``"<ch i>-<ch i+1>"``.

    (X, y) : tuple of ndarray
        With ``return_X_y=True``: the two arrays above.

    Notes
    -----
    Injecting into the referential channels first and deriving the bipolar
    montage afterwards is what makes the montage physical: with field weights
    ``field_decay ** |k - focus|`` the derivation ending at the focal
    electrode sees ``+(1 - field_decay)`` times the (negative) discharge and
    the one starting there ``-(1 - field_decay)`` times it.

    Examples
    --------
    >>> from skeeg.datasets import make_ied_dataset
    >>> data = make_ied_dataset(random_state=0)
    >>> data.X.shape
    (400, 5, 750)
    >>> int(data.y.sum())
    20
    >>> data.ch_names[0]
    'EEG Fp1-EEG F7'
    >>> X, y = make_ied_dataset(random_state=0, return_X_y=True)
    """
    series, sfreq, names, subject_ids = _check_background(
        background, sfreq, ch_names, subjects
    )
    check_ied_parameters(
        window_s=window_s,
        prevalence=prevalence,
        spike_fraction=spike_fraction,
        slow_wave_probability=slow_wave_probability,
        amplitude_snr=amplitude_snr,
        field_decay=field_decay,
        hard_negative_fraction=hard_negative_fraction,
    )
    lowpass_sos = acquisition_lowpass(lowpass_hz, sfreq)
    if bipolar and len(names) < 2:
        raise ValueError(
            f"bipolar=True needs at least 2 channels, got {len(names)} channel."
        )
    rng = check_random_state(random_state)
    n_times = int(round(window_s * sfreq))
    if stride_s is None:
        step = n_times
    elif isinstance(stride_s, numbers.Real) and 0 < stride_s:
        step = max(1, int(round(stride_s * sfreq)))
    else:
        raise ValueError(f"stride_s must be None or a float > 0, got {stride_s!r}.")

    # (subject index, first sample) of every window.
    index = [
        (s, start)
        for s, x in enumerate(series)
        for start in range(0, x.shape[-1] - n_times + 1, step)
    ]
    if not index:
        raise ValueError(
            f"window_s={window_s} s is longer than every background recording."
        )
    if n_windows is not None:
        if not isinstance(n_windows, numbers.Integral) or not (
            1 <= n_windows <= len(index)
        ):
            raise ValueError(
                f"n_windows must be an integer in [1, {len(index)}] (the number "
                f"of {window_s}-s windows in the background), got {n_windows!r}."
            )
        keep = np.sort(rng.choice(len(index), size=n_windows, replace=False))
        index = [index[i] for i in keep]
    n = len(index)
    n_pos = int(round(prevalence * n))
    if n_pos == 0:
        raise ValueError(
            f"prevalence={prevalence} of {n} windows rounds to 0 positive "
            "windows; raise prevalence or use more windows."
        )

    # Copies: the caller's background stays untouched.
    X = np.stack([series[s][:, a : a + n_times] for s, a in index]).astype(
        np.float64, copy=True
    )
    groups = np.array([subject_ids[s] for s, _ in index])
    y = np.zeros(n, dtype=int)
    positives = rng.choice(n, size=n_pos, replace=False)
    y[positives] = 1
    negatives = np.flatnonzero(y == 0)
    n_hard = int(round(hard_negative_fraction * len(negatives)))
    hard = rng.choice(negatives, size=n_hard, replace=False)

    blink_weights = _blink_weights(names)
    artefacts = ["muscle", "pop"] + (["blink"] if blink_weights.any() else [])
    muscle_sos = butter(4, _MUSCLE_HZ, btype="bandpass", fs=sfreq, output="sos")
    rows = []
    for w in np.sort(np.concatenate([positives, hard])):
        # The robust std ignores the few large samples of the background's own
        # transients, so the SNR reflects the ongoing activity.
        scale = median_abs_deviation(X[w], axis=-1, scale="normal")
        snr = rng.uniform(*amplitude_snr)
        focus = int(rng.randint(len(names)))
        # The waveform is drawn on its own, then recorded: acquisition
        # low-pass, added to the background.
        added = np.zeros_like(X[w])
        if y[w]:
            kind = "spike" if rng.uniform() < spike_fraction else "sharp"
            event = _inject_ied(
                added,
                rng,
                sfreq,
                kind,
                focus,
                snr * scale[focus],
                field_decay,
                slow_wave_probability,
            )
        else:
            kind = str(rng.choice(artefacts))
            if kind == "muscle":
                event = _inject_muscle(added, rng, sfreq, focus, snr, scale, muscle_sos)
            elif kind == "pop":
                event = _inject_pop(added, rng, sfreq, focus, snr * scale[focus])
            else:
                focus = int(np.argmax(blink_weights))
                event = _inject_blink(
                    added, rng, sfreq, snr * scale[focus], blink_weights
                )
        if lowpass_sos is not None:
            added = sosfiltfilt(lowpass_sos, added, axis=-1)
            event["amplitude"] = added[focus, event["peak"]]
        X[w] += added
        s, start = index[w]
        rows.append(
            {
                "window": int(w),
                "subject": subject_ids[s],
                "kind": kind,
                "channel": names[focus],
                "onset_s": event["onset"] / sfreq,
                "peak_s": event["peak"] / sfreq,
                "recording_onset_s": (start + event["onset"]) / sfreq,
                "recording_peak_s": (start + event["peak"]) / sfreq,
                "duration_s": event["duration"] / sfreq,
                "slow_wave_s": event.get("slow_wave", 0) / sfreq,
                "amplitude": event["amplitude"],
                "snr": snr,
                "label": int(y[w]),
            }
        )
    if bipolar:
        X = X[:, :-1] - X[:, 1:]
        names = [f"{a}-{b}" for a, b in zip(names[:-1], names[1:], strict=True)]
    if return_X_y:
        return X, y
    events = pd.DataFrame(rows)
    kind = np.full(n, "none", dtype=object)
    kind[events["window"].to_numpy(dtype=int)] = events["kind"].to_numpy()
    metadata = pd.DataFrame(
        {
            "subject": groups,
            "onset": np.array([start for _, start in index]) / sfreq,
            "label": y,
            "kind": kind,
        }
    )
    return Bunch(
        X=X,
        y=y,
        groups=groups,
        metadata=metadata,
        events=events,
        sfreq=sfreq,
        ch_names=names,
    )


def _check_background(background, sfreq, ch_names, subjects):
    """Return (list of (n_channels, n_times) arrays, sfreq, names, subject ids)."""
    if background is None:
        if sfreq is not None or ch_names is not None:
            raise ValueError(
                "sfreq and ch_names must be None when background is None "
                "(the bundled sample brings its own)."
            )
        sample = load_sample()
        series = list(sample.X)
        sfreq, names = sample.sfreq, sample.ch_names
        default_ids = list(sample.groups)
    elif isinstance(background, np.ndarray):
        if background.ndim not in (2, 3):
            raise ValueError(
                "background must have shape (n_subjects, n_channels, n_times) or "
                f"(n_channels, n_times), got an array of shape {background.shape}."
            )
        if not np.issubdtype(background.dtype, np.number) or not np.all(
            np.isfinite(background)
        ):
            raise ValueError("background must hold finite numbers (volts).")
        if sfreq is None:
            raise ValueError("sfreq (Hz) is required when background is an array.")
        series = list(background[None] if background.ndim == 2 else background)
        n_channels = background.shape[-2]
        names = [f"ch{i}" for i in range(n_channels)] if ch_names is None else ch_names
        if len(names) != n_channels:
            raise ValueError(
                f"ch_names has {len(names)} names, but background has "
                f"{n_channels} channels."
            )
        default_ids = list(range(len(series)))
    else:
        import mne  # only needed for Raw input; slow to import

        raws = [background] if isinstance(background, mne.io.BaseRaw) else background
        if (
            not isinstance(raws, list | tuple)
            or not raws
            or not all(isinstance(r, mne.io.BaseRaw) for r in raws)
        ):
            raise TypeError(
                "background must be None, an ndarray, an mne.io.BaseRaw or a "
                f"non-empty list of BaseRaw, got {type(background).__name__}."
            )
        if ch_names is None:
            eeg = mne.pick_types(raws[0].info, eeg=True)
            names = [raws[0].ch_names[i] for i in eeg]
        else:
            names = list(ch_names)
        rates = {r.info["sfreq"] for r in raws}
        if len(rates) != 1 or (sfreq is not None and sfreq not in rates):
            raise ValueError(
                f"All Raw objects must share one sfreq (and match sfreq={sfreq}), "
                f"got {sorted(rates)} Hz."
            )
        series = []
        for raw in raws:
            missing = set(names) - set(raw.ch_names)
            if missing:
                raise ValueError(
                    f"ch_names {sorted(missing)} not found in background Raw "
                    f"with channels {raw.ch_names}."
                )
            series.append(raw.get_data(picks=names))
        sfreq = rates.pop()
        default_ids = list(range(len(series)))
    if not sfreq >= MIN_SFREQ:
        raise ValueError(
            f"sfreq must be at least {MIN_SFREQ:g} Hz (20-ms spikes and 20-70 Hz "
            f"muscle bursts), got {sfreq}."
        )
    ids = default_ids if subjects is None else list(subjects)
    if len(ids) != len(series):
        raise ValueError(
            f"subjects has {len(ids)} ids, but background has {len(series)} subjects."
        )
    return series, float(sfreq), list(names), ids


def check_ied_parameters(**params):
    """Raise ValueError naming the first parameter outside its range."""
    ranges = {
        "window_s": (_MIN_WINDOW_S, np.inf, "[0.75, inf)"),
        "spike_fraction": (0.0, 1.0, "[0, 1]"),
        "slow_wave_probability": (0.0, 1.0, "[0, 1]"),
        "hard_negative_fraction": (0.0, 1.0, "[0, 1]"),
    }
    for name, (low, high, text) in ranges.items():
        value = params[name]
        if not isinstance(value, numbers.Real) or not low <= value <= high:
            raise ValueError(f"{name} must be a number in {text}, got {value!r}.")
    prevalence = params["prevalence"]
    if not isinstance(prevalence, numbers.Real) or not 0 < prevalence <= 0.5:
        raise ValueError(f"prevalence must be in (0, 0.5], got {prevalence!r}.")
    decay = params["field_decay"]
    if not isinstance(decay, numbers.Real) or not 0 <= decay < 1:
        raise ValueError(f"field_decay must be in [0, 1), got {decay!r}.")
    snr = params["amplitude_snr"]
    if (
        np.ndim(snr) != 1
        or len(snr) != 2
        or not np.all(np.isfinite(snr))
        or not 0 < snr[0] <= snr[1]
    ):
        raise ValueError(
            f"amplitude_snr must be a pair (low, high) with 0 < low <= high, "
            f"got {snr!r}."
        )


def acquisition_lowpass(lowpass_hz, sfreq):
    """Second-order sections of the acquisition low-pass, or None."""
    if lowpass_hz is None:
        return None
    if not isinstance(lowpass_hz, numbers.Real) or not 0 < lowpass_hz < sfreq / 2:
        raise ValueError(
            f"lowpass_hz must be None or a frequency in (0, {sfreq / 2:g}) Hz "
            f"(below the Nyquist frequency of sfreq={sfreq:g}), got {lowpass_hz!r}."
        )
    return butter(4, lowpass_hz, btype="lowpass", fs=sfreq, output="sos")


def _blink_weights(names):
    """Blink field weight per channel from its 10-20 label (0 if not frontal)."""
    weights = np.zeros(len(names))
    for i, name in enumerate(names):
        label = name.split()[-1].lower()
        for prefix in ("fp", "af", "f"):
            # FC/FT electrodes sit behind the frontal row: no blink weight.
            if label.startswith(prefix) and not label.startswith(("fc", "ft")):
                weights[i] = _BLINK_WEIGHT[prefix]
                break
    return weights


def _apex_position(rng, n_times, before, after):
    """Sample index of the apex, in the central half, so the waveform fits."""
    low = max(n_times // 4, before)
    high = min(3 * n_times // 4, n_times - after)
    return int(rng.randint(low, high))


def _draw_samples(rng, sfreq, bounds):
    """A duration in whole samples, uniform over [low, high) seconds."""
    low = int(np.ceil(bounds[0] * sfreq))
    high = int(np.ceil(bounds[1] * sfreq))
    return int(rng.randint(low, high))


def _inject_ied(x, rng, sfreq, kind, focus, amplitude, decay, slow_probability):
    """Add a negative spike/sharp wave (+ slow wave) with a field to ``x``."""
    n_total = _draw_samples(rng, sfreq, _SPIKE_S if kind == "spike" else _SHARP_S)
    n_rise = max(1, int(round(rng.uniform(*_RISE_FRACTION) * n_total)))
    n_fall = n_total - n_rise
    # Rise 1 - cos, fall its mirror: zero slope at the base, a cusp at the apex
    # (the "pointed peak" of a spike) and exactly 1 at the apex sample.
    rise = 1 - np.cos(np.pi / 2 * np.arange(n_rise + 1) / n_rise)
    fall = 1 - np.sin(np.pi / 2 * np.arange(1, n_fall + 1) / n_fall)
    shape = np.concatenate([rise, fall])
    n_slow = 0
    if rng.uniform() < slow_probability:
        n_slow = _draw_samples(rng, sfreq, _SLOW_WAVE_S)
        ratio = rng.uniform(*_SLOW_WAVE_RATIO)
        slow = ratio * np.sin(np.pi * np.arange(1, n_slow + 1) / (n_slow + 1))
        shape = np.concatenate([shape, slow])
    apex = _apex_position(rng, x.shape[-1], n_rise, len(shape) - n_rise)
    onset = apex - n_rise
    weights = decay ** np.abs(np.arange(x.shape[0]) - focus)
    x[:, onset : onset + len(shape)] -= amplitude * weights[:, None] * shape
    return {
        "onset": onset,
        "peak": apex,
        "duration": n_total,
        "slow_wave": n_slow,
        "amplitude": -amplitude,
    }


def _inject_muscle(x, rng, sfreq, focus, snr, scale, sos):
    """Add a 20-70 Hz noise burst on the focal electrode and maybe a neighbour."""
    n_times = x.shape[-1]
    n_burst = _draw_samples(rng, sfreq, _MUSCLE_S)
    centre = _apex_position(rng, n_times, n_burst // 2, n_burst - n_burst // 2)
    onset = centre - n_burst // 2
    neighbours = [c for c in (focus - 1, focus + 1) if 0 <= c < x.shape[0]]
    channels = [focus]
    if neighbours and rng.uniform() < 0.5:
        channels.append(int(rng.choice(neighbours)))
    envelope = np.hanning(n_burst)
    bursts = []
    for c in channels:
        # Filter a full window of noise so the burst has no filter edge effects.
        noise = sosfiltfilt(sos, rng.standard_normal(n_times))[onset : onset + n_burst]
        burst = noise * envelope
        burst *= snr * scale[c] / np.abs(burst).max()
        x[c, onset : onset + n_burst] += burst
        bursts.append(burst)
    peak = int(np.argmax(np.abs(bursts[0])))
    return {
        "onset": onset,
        "peak": onset + peak,
        "duration": n_burst,
        "amplitude": bursts[0][peak],
    }


def _inject_pop(x, rng, sfreq, channel, amplitude):
    """Add a step with exponential decay to one electrode only."""
    n_times = x.shape[-1]
    tau = rng.uniform(*_POP_TAU_S) * sfreq
    onset = _apex_position(rng, n_times, 0, 1)
    sign = rng.choice([-1.0, 1.0])
    x[channel, onset:] += sign * amplitude * np.exp(-np.arange(n_times - onset) / tau)
    return {
        "onset": onset,
        "peak": onset,
        "duration": min(5 * tau, n_times - onset),
        "amplitude": sign * amplitude,
    }


def _inject_blink(x, rng, sfreq, amplitude, weights):
    """Add a positive half-sine on the frontal electrodes."""
    n_blink = _draw_samples(rng, sfreq, _BLINK_S) | 1
    half = n_blink // 2
    apex = _apex_position(rng, x.shape[-1], half, n_blink - half)
    onset = apex - half
    # An odd length puts the half-sine's maximum, 1, on the middle sample.
    shape = np.sin(np.pi * np.arange(1, n_blink + 1) / (n_blink + 1))
    gain = weights / weights.max()
    x[:, onset : onset + n_blink] += amplitude * gain[:, None] * shape
    return {"onset": onset, "peak": apex, "duration": n_blink, "amplitude": amplitude}
