"""IEDs injected into real sleep EEG, at stage-dependent rates, with the
experts' sleep spindles as hard negatives.

The background is the DREAMS sleep-spindle database (eight 30-min excerpts,
one central channel, expert R&K hypnograms and spindle scorings; CC BY-NC-ND,
read from the caller's copy and never bundled). Every window carries the
expert stage at its centre, so a multi-task model (an IED head and a
sleep-stage head) can be trained and its false alarms counted per stage.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd
from sklearn.utils import Bunch, check_random_state

from .loaders import DREAMS_DESCRIPTION, DREAMS_EPOCH_S, DREAMS_SFREQ, load_dreams
from .synthetic import (
    MIN_SFREQ,
    acquisition_lowpass,
    check_ied_parameters,
    make_ied_dataset,
)
from .windowing import make_event_windows, make_fixed_windows

#: The stages that carry an IED rate, in hypnogram order (AASM, spelled as
#: skeeg.datasets.AASM_STAGES spells them).
SLEEP_STAGES = ("W", "N1", "N2", "N3", "REM")
#: Stage label of windows whose centre is scored as movement time or unscored.
UNKNOWN_STAGE = "?"

# Illustrative, not fitted to a cohort: NREM sleep activates interictal
# discharges, more so the deeper it is, and REM sleep suppresses them below
# the waking rate (Sammaritano et al. 1991; Malow et al. 1998; Ng & Pavlova
# 2013).
DEFAULT_IED_RATE = {"W": 0.03, "N1": 0.04, "N2": 0.06, "N3": 0.08, "REM": 0.02}

# load_dreams's AASM labels to the labels a sleep head is trained on.
_STAGE_LABEL = {"W": "W", "N1": "N1", "N2": "N2", "N3": "N3", "REM": "REM"}

# An excerpt recorded below ``sfreq`` holds nothing above its native Nyquist
# frequency after resample_poly's anti-aliasing filter; the measured spectra
# of excerpts 1 (100 Hz) and 3 (50 Hz) fall off from about 0.45 times the
# native rate, so injected waveforms are low-passed there too.
_NATIVE_BAND = 0.45

_SLEEP_DESCRIPTION = """\
Semi-synthetic: interictal epileptiform discharges injected, at stage-dependent
rates, into windows of the DREAMS excerpts; some negatives centred on expert-
scored sleep spindles. Background, hypnograms and spindle scorings:

"""


def make_sleep_ied_dataset(
    path: str | os.PathLike,
    *,
    excerpts: Iterable[int] | None = None,
    sfreq: float = 200.0,
    window_s: float = 1.5,
    stride_s: float | None = None,
    ied_rate: Mapping[str, float] | None = None,
    spindle_fraction: float = 0.05,
    spike_fraction: float = 0.6,
    slow_wave_probability: float = 0.6,
    amplitude_snr: tuple[float, float] = (2.5, 6.0),
    lowpass_hz: float | None = 45.0,
    random_state=None,
    return_X_y: bool = False,
) -> Bunch | tuple[np.ndarray, np.ndarray]:
    """Inject IEDs into DREAMS sleep EEG at stage-dependent rates.

    The sibling of :func:`~skeeg.datasets.make_ied_dataset` for sleep. Each
    DREAMS excerpt (:func:`~skeeg.datasets.load_dreams`) is cut into regular
    windows, each labelled with the expert sleep stage at its centre. Among
    the regular windows of each excerpt and stage, ``round(rate * n)`` get one
    injected IED (``y = 1``), ``rate`` being that stage's ``ied_rate``; the
    waveforms are those of :func:`~skeeg.datasets.make_ied_dataset` (spikes
    and sharp waves, often with an after-going slow wave, peak ``snr`` times
    the window's robust standard deviation, through the acquisition
    low-pass). Then extra negative windows (``y = 0``), centred on expert-
    scored sleep spindles, make up ``spindle_fraction`` of the negatives:
    real sleep transients, the confounders a sleep-aware IED detector must
    learn to ignore.

    Parameters
    ----------
    path : str or path-like
        The DREAMS folder (``dreams_spindles_CC-BY-NC-ND``), as for
        :func:`~skeeg.datasets.load_dreams`. The data are CC BY-NC-ND: read
        them from your copy; do not redistribute what this function returns.
    excerpts : iterable of int or None, default=None
        Excerpt numbers 1-8 (each a different subject); None uses all eight.
    sfreq : float, default=200.0
        Common sampling rate in Hz, the native rate of six of the eight
        excerpts; the others (excerpt 1 at 100 Hz, excerpt 3 at 50 Hz) are
        resampled to it. At least 150 Hz, so that 20-ms spikes span several
        samples, and a whole number of samples per 5-s hypnogram epoch
        (``5 * sfreq`` an integer).
    window_s : float, default=1.5
        Window length in seconds (1.5 s as in the iEDeaL paper); at least
        0.75 s, so that the longest discharge fits in the central half.
    stride_s : float or None, default=None
        Step between the regular windows' starts in seconds; None means
        ``window_s`` (non-overlapping windows). A shorter stride gives more
        windows, each with its own independently drawn injection.
    ied_rate : mapping of str to float or None, default=None
        Fraction of the regular windows of each stage that hold an IED, each
        in [0, 0.5], with one entry for each of ``"W"``, ``"N1"``, ``"N2"``,
        ``"N3"`` and ``"REM"``. None means ``DEFAULT_IED_RATE``:
        ``{"W": 0.03, "N1": 0.04, "N2": 0.06, "N3": 0.08, "REM": 0.02}``.
        Clinically, NREM sleep activates interictal discharges, increasingly
        with its depth, and REM sleep suppresses them, below the waking rate
        (Sammaritano et al. 1991; Malow et al. 1998; Ng & Pavlova 2013); the
        defaults follow that order and are illustrative, not fitted to a
        cohort. Windows whose centre is scored as movement time or not
        scored (stage ``"?"``) never get one.
    spindle_fraction : float, default=0.05
        Share of all negative windows, in [0, 1), that are centred on an
        expert-scored sleep spindle (the midpoint of a spindle scored by
        either expert, overlapping scorings of the two experts merged into
        one). Each scored spindle gives at most one window, so the fraction
        is bounded by the number of spindles (about 600 in the eight
        excerpts); asking for more raises a ValueError that gives the bound.
        The database scores no K-complexes or vertex waves, so those are not
        centred on.
    spike_fraction : float, default=0.6
        Probability that an IED is a spike (20 to <70 ms) rather than a sharp
        wave (70-200 ms); see :func:`~skeeg.datasets.make_ied_dataset`.
    slow_wave_probability : float, default=0.6
        Probability of an after-going slow wave; see
        :func:`~skeeg.datasets.make_ied_dataset`.
    amplitude_snr : tuple of float (low, high), default=(2.5, 6.0)
        The IED peak is ``snr ~ Uniform(low, high)`` times the robust standard
        deviation of the window it is injected into; see
        :func:`~skeeg.datasets.make_ied_dataset`. The background's amplitude
        differs between stages (large delta waves in N3), and so does the
        discharges'.
    lowpass_hz : float or None, default=45.0
        Acquisition low-pass (Hz) the injected waveforms pass through, as in
        :func:`~skeeg.datasets.make_ied_dataset`; the spectra of the 200-Hz
        DREAMS excerpts fall off above about 45 Hz. For an excerpt recorded
        below ``sfreq`` (resampled up) the cut-off is further capped at 0.45
        times its native rate (22.5 Hz for excerpt 3), so that injected
        waveforms hold no frequencies its background cannot hold. None
        applies only that cap.
    random_state : int, RandomState instance or None, default=None
        Seed for every random choice; the same value gives identical output.
    return_X_y : bool, default=False
        Return ``(X, y)`` instead of the Bunch.

    Returns
    -------
    data : sklearn.utils.Bunch
        With the fields

        X : ndarray of shape (n_windows, 1, n_times_window)
            Windows in volts (float64), ``n_times_window = round(window_s *
            sfreq)``, in recording order within each excerpt (spindle-centred
            windows among the regular ones by onset).
        y : ndarray of int of shape (n_windows,)
            1 if the window holds an injected IED, else 0.
        groups : ndarray of str of shape (n_windows,)
            Excerpt id (``"excerpt1"``, ...): one subject per excerpt.
        sleep_stage : ndarray of str of shape (n_windows,)
            Expert stage at the window's centre: ``"W"``, ``"N1"``, ``"N2"``,
            ``"N3"`` (R&K S3 and S4), ``"REM"`` or ``"?"`` (movement time
            or unscored).
        metadata : pandas.DataFrame
            One row per window: ``subject`` (= ``groups``), ``onset`` (window
            start in seconds from the start of the excerpt), ``label``
            (= ``y``), ``kind`` (``"spike"`` or ``"sharp"`` for an injected
            IED, ``"spindle"`` for a spindle-centred negative, ``"none"``
            otherwise), ``sleep_stage``, ``spindle`` (1 when the midpoint of
            an expert spindle lies in the window's central half) and
            ``channel`` (``"C3-A1"`` or ``"CZ-A1"``).
        events : pandas.DataFrame
            One row per injected IED, with the columns of
            :func:`~skeeg.datasets.make_ied_dataset`'s ``events`` (``window``,
            ``subject``, ``kind``, ``channel``, ``onset_s``, ``peak_s``,
            ``recording_onset_s``, ``recording_peak_s`` (from the start of
            the excerpt), ``duration_s``, ``slow_wave_s``, ``amplitude``,
            ``snr``, ``label``) and ``sleep_stage``.
        sfreq : float
            Sampling frequency in Hz.
        ch_names : list of str
            The channel, ``["C3-A1/CZ-A1"]`` when the excerpts mix both
            (see ``metadata["channel"]``).
        description : str
            What was injected, and the DREAMS content, citation and licence.

    (X, y) : tuple of ndarray
        With ``return_X_y=True``: the two arrays above.

    Raises
    ------
    FileNotFoundError
        If ``path`` or an excerpt's file is missing.
    ValueError
        On a parameter outside its range (the message names it), or a
        ``spindle_fraction`` asking for more windows than there are spindles.

    Notes
    -----
    DREAMS has one referential channel per excerpt, so there is no montage to
    build: the data have ``make_ied_dataset(..., bipolar=False)`` semantics,
    with the discharge at full amplitude on the one channel (no field, no
    phase reversal). The regular windows of each excerpt and stage are
    passed to :func:`~skeeg.datasets.make_ied_dataset` as one-window
    backgrounds, so the waveforms, their amplitude rule and the low-pass are
    exactly that generator's.

    References
    ----------
    M. Sammaritano, G. L. Gigli, J. Gotman, "Interictal spiking during
    wakefulness and sleep and the localization of foci in temporal lobe
    epilepsy", Neurology 41(2):290-297 (1991).

    B. A. Malow, X. Lin, R. Kushwaha, M. S. Aldrich, "Interictal spiking
    increases with sleep depth in temporal lobe epilepsy", Epilepsia
    39(12):1309-1316 (1998).

    M. Ng, M. Pavlova, "Why are seizures rare in rapid eye movement sleep?
    Review of the frequency of seizures in different sleep stages", Epilepsy
    Research and Treatment 2013:932790 (2013).

    Examples
    --------
    >>> from skeeg.datasets import make_sleep_ied_dataset
    >>> data = make_sleep_ied_dataset(
    ...     "../shared/data/dreams_spindles_CC-BY-NC-ND", random_state=0
    ... )  # doctest: +SKIP
    >>> data.X.shape, data.sleep_stage[:3]  # doctest: +SKIP
    ((10076, 1, 300), array(['W', 'W', 'W'], dtype=object))
    """
    rates = _check_ied_rate(ied_rate)
    _check_sfreq(sfreq)
    # make_ied_dataset's checks of the parameters passed on to it; the
    # prevalence stands for the per-stage rates (checked above), and the
    # field and hard-negative values are the fixed ones passed below.
    check_ied_parameters(
        window_s=window_s,
        prevalence=0.5,
        spike_fraction=spike_fraction,
        slow_wave_probability=slow_wave_probability,
        amplitude_snr=amplitude_snr,
        field_decay=0.0,
        hard_negative_fraction=0.0,
    )
    if stride_s is not None and not (
        isinstance(stride_s, numbers.Real) and stride_s * sfreq >= 1
    ):
        raise ValueError(
            f"stride_s must be None or at least one sample ({1 / sfreq:g} s at "
            f"sfreq={sfreq:g} Hz), got {stride_s!r}."
        )
    if not isinstance(spindle_fraction, numbers.Real) or not (
        0 <= spindle_fraction < 1
    ):
        raise ValueError(
            f"spindle_fraction must be a number in [0, 1), got {spindle_fraction!r}."
        )
    acquisition_lowpass(lowpass_hz, sfreq)
    rng = check_random_state(random_state)

    # 5-s windows tile the scored part of each excerpt exactly, so joining
    # them back gives the continuous recording the hypnogram scores.
    dreams = load_dreams(path, excerpts=excerpts, window_s=DREAMS_EPOCH_S, sfreq=sfreq)
    excerpt_parts = []
    for name in pd.unique(dreams.groups):
        rows = dreams.groups == name
        number = int(name.removeprefix("excerpt"))
        part = _Excerpt(
            name=name,
            signal=dreams.X[rows, 0].reshape(1, -1),
            channel=dreams.metadata.loc[rows, "channel"].iloc[0],
            hypnogram=dreams.hypnogram[dreams.hypnogram["excerpt"] == number],
            spindles=_merged_spindles(
                dreams.events[dreams.events["excerpt"] == number]
            ),
            sfreq=sfreq,
            window_s=window_s,
        )
        part.inject(
            rng,
            stride_s=stride_s,
            rates=rates,
            lowpass_hz=_excerpt_lowpass(lowpass_hz, DREAMS_SFREQ[number], sfreq),
            spike_fraction=spike_fraction,
            slow_wave_probability=slow_wave_probability,
            amplitude_snr=amplitude_snr,
        )
        excerpt_parts.append(part)
    n_windows = sum(len(p.metadata) for p in excerpt_parts)
    n_positive = sum(int(p.metadata["label"].sum()) for p in excerpt_parts)
    if n_positive == 0:
        raise ValueError(
            f"ied_rate={rates} gives no positive window: every stage's rate "
            "times its number of windows rounds to 0; raise the rates."
        )

    # The spindle-centred negatives, drawn from all excerpts' spindles at once.
    pool = [(p, t) for p in excerpt_parts for t in p.fitting_spindles()]
    n_negative = n_windows - n_positive
    n_spindle = int(round(spindle_fraction * n_negative / (1 - spindle_fraction)))
    if n_spindle > len(pool):
        # Rounded down, so that the fraction printed is one that works.
        bound = np.floor(1e4 * len(pool) / (len(pool) + n_negative)) / 1e4
        raise ValueError(
            f"spindle_fraction={spindle_fraction} asks for {n_spindle} spindle-"
            f"centred windows, but the excerpts have {len(pool)} scored spindles "
            f"whose window fits; use spindle_fraction <= {bound:.4f} (or fewer "
            "regular windows: a larger stride_s)."
        )
    chosen = [pool[j] for j in rng.choice(len(pool), size=n_spindle, replace=False)]
    offset = 0
    for part in excerpt_parts:
        part.add_spindle_windows(np.sort([t for p, t in chosen if p is part]))
        if part.events is not None:
            part.events["window"] += offset
        offset += len(part.metadata)

    X = np.concatenate([p.X for p in excerpt_parts])
    metadata = pd.concat([p.metadata for p in excerpt_parts], ignore_index=True)
    y = metadata["label"].to_numpy(dtype=int)
    if return_X_y:
        return X, y
    return Bunch(
        X=X,
        y=y,
        groups=metadata["subject"].to_numpy(dtype=str),
        sleep_stage=metadata["sleep_stage"].to_numpy(dtype=object),
        metadata=metadata,
        events=pd.concat([p.events for p in excerpt_parts], ignore_index=True),
        sfreq=float(sfreq),
        ch_names=list(dreams.ch_names),
        description=_SLEEP_DESCRIPTION + DREAMS_DESCRIPTION,
    )


class _Excerpt:
    """One excerpt's windows, injected IEDs and spindle-centred negatives."""

    def __init__(self, *, name, signal, channel, hypnogram, spindles, sfreq, window_s):
        self.name = name
        self.signal = signal
        self.channel = channel
        self.hypnogram = hypnogram
        self.spindles = spindles
        self.sfreq = sfreq
        self.window_s = window_s

    def inject(self, rng, *, stride_s, rates, lowpass_hz, **waveform):
        """Cut the regular windows and inject IEDs at each stage's rate."""
        windows = make_fixed_windows(
            self.signal,
            self.sfreq,
            window_s=self.window_s,
            stride_s=stride_s,
            events=self.spindles,
            subject=self.name,
            hypnogram=self.hypnogram,
        )
        self.X = windows.X
        stage = _stage_labels(windows.metadata["sleep_stage"])
        self.metadata = pd.DataFrame(
            {
                "subject": self.name,
                "onset": windows.metadata["onset"],
                "label": 0,
                "kind": "none",
                "sleep_stage": stage,
                "spindle": windows.y,
                "channel": self.channel,
            }
        )
        tables = []
        for s in SLEEP_STAGES:
            cell = np.flatnonzero(stage == s)
            # make_ied_dataset refuses a prevalence that rounds to no window.
            if int(round(rates[s] * len(cell))) == 0:
                continue
            # Each window is a one-window background, so the waveforms, their
            # amplitude and the low-pass are exactly make_ied_dataset's.
            injected = make_ied_dataset(
                self.X[cell],
                sfreq=self.sfreq,
                ch_names=[self.channel],
                window_s=self.window_s,
                prevalence=rates[s],
                bipolar=False,
                field_decay=0.0,
                hard_negative_fraction=0.0,
                lowpass_hz=lowpass_hz,
                random_state=rng,
                **waveform,
            )
            self.X[cell] = injected.X
            self.metadata.loc[cell, "label"] = injected.y
            self.metadata.loc[cell, "kind"] = injected.metadata["kind"].to_numpy()
            table = injected.events
            table["window"] = cell[table["window"].to_numpy()]
            tables.append(table)
        self.events = None  # no stage of this excerpt rounds to a positive
        if tables:
            events = pd.concat(tables, ignore_index=True)
            rows = events["window"].to_numpy(dtype=int)
            onset = self.metadata["onset"].to_numpy()[rows]
            events["subject"] = self.name
            events["recording_onset_s"] = onset + events["onset_s"]
            events["recording_peak_s"] = onset + events["peak_s"]
            events["sleep_stage"] = stage[rows]
            self.events = events.sort_values("window", ignore_index=True)

    def fitting_spindles(self) -> np.ndarray:
        """Midpoints of the spindles whose centred window fits in the excerpt."""
        n_times = self.X.shape[-1]
        starts = np.round(self.spindles * self.sfreq).astype(int) - n_times // 2
        fits = (starts >= 0) & (starts + n_times <= self.signal.shape[-1])
        return self.spindles[fits]

    def add_spindle_windows(self, midpoints: np.ndarray) -> None:
        """Add negatives centred on ``midpoints``; keep windows in onset order."""
        if len(midpoints):
            extra = make_event_windows(
                self.signal,
                self.sfreq,
                window_s=self.window_s,
                events=midpoints,
                hypnogram=self.hypnogram,
            )
            added = pd.DataFrame(
                {
                    "subject": self.name,
                    "onset": extra.metadata["onset"],
                    "label": 0,
                    "kind": "spindle",
                    "sleep_stage": _stage_labels(extra.metadata["sleep_stage"]),
                    "spindle": 1,
                    "channel": self.channel,
                }
            )
            self.X = np.concatenate([self.X, extra.X])
            self.metadata = pd.concat([self.metadata, added], ignore_index=True)
        # The stable sort keeps a regular window first at an equal onset.
        order = np.argsort(self.metadata["onset"].to_numpy(), kind="stable")
        self.X = self.X[order]
        self.metadata = self.metadata.iloc[order].reset_index(drop=True)
        if self.events is not None:
            rows = self.events["window"].to_numpy(dtype=int)
            self.events["window"] = np.argsort(order)[rows]


def _check_ied_rate(ied_rate) -> dict[str, float]:
    """The per-stage rates as a dict over SLEEP_STAGES, or a ValueError."""
    if ied_rate is None:
        return dict(DEFAULT_IED_RATE)
    if not isinstance(ied_rate, Mapping):
        raise ValueError(
            "ied_rate must be None or a mapping from stage to rate, got "
            f"{type(ied_rate).__name__}."
        )
    keys = set(ied_rate)
    if keys != set(SLEEP_STAGES):
        raise ValueError(
            f"ied_rate must give one rate for each stage {list(SLEEP_STAGES)}; "
            f"missing {sorted(set(SLEEP_STAGES) - keys)}, unknown "
            f"{sorted(map(str, keys - set(SLEEP_STAGES)))}."
        )
    for stage, rate in ied_rate.items():
        if not isinstance(rate, numbers.Real) or not 0 <= rate <= 0.5:
            raise ValueError(
                f"ied_rate[{stage!r}] must be a number in [0, 0.5], got {rate!r}."
            )
    return {s: float(ied_rate[s]) for s in SLEEP_STAGES}


def _check_sfreq(sfreq) -> None:
    if not isinstance(sfreq, numbers.Real) or not sfreq >= MIN_SFREQ:
        raise ValueError(
            f"sfreq must be at least {MIN_SFREQ:g} Hz (20-ms spikes), got {sfreq!r}."
        )
    if not float(sfreq * DREAMS_EPOCH_S).is_integer():
        raise ValueError(
            f"sfreq must give a whole number of samples per {DREAMS_EPOCH_S:g}-s "
            f"hypnogram epoch (e.g. 200, 250 or 256 Hz), got {sfreq!r}."
        )


def _excerpt_lowpass(lowpass_hz, native, sfreq) -> float | None:
    """The injection low-pass of an excerpt recorded at ``native`` Hz."""
    if native >= sfreq:
        return lowpass_hz
    band = _NATIVE_BAND * native
    return band if lowpass_hz is None else min(lowpass_hz, band)


def _merged_spindles(scorings: pd.DataFrame) -> np.ndarray:
    """Midpoints (s) of the expert spindles, overlapping scorings merged.

    Two experts scoring one spindle would otherwise give two near-identical
    windows; pandas and numpy have no interval union, hence the loop.
    """
    start = scorings["onset"].to_numpy(dtype=float)
    end = start + scorings["duration"].to_numpy(dtype=float)
    order = np.argsort(start, kind="stable")
    merged: list[list[float]] = []
    for a, b in zip(start[order].tolist(), end[order].tolist(), strict=True):
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return np.array([(a + b) / 2 for a, b in merged], dtype=float)


def _stage_labels(stages: pd.Series) -> np.ndarray:
    """load_dreams's AASM labels as W/N1/N2/N3/REM, anything else ``"?"``."""
    return stages.map(_STAGE_LABEL).fillna(UNKNOWN_STAGE).to_numpy(dtype=object)
