"""Figures of skeeg's results (matplotlib, imported only when called)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from numbers import Real

import numpy as np


def plot_explanation(
    x,
    attribution,
    *,
    sfreq: float | None = None,
    ch_names=None,
    ax=None,
    cmap: str = "Reds",
):
    """Draw one EEG window over its attribution map.

    Each channel's trace sits on its own row, scaled to the row's height;
    behind it, the attribution (e.g. a row of
    :meth:`skeeg.XCMClassifier.explain`) as a heat map.

    Parameters
    ----------
    x : array-like of shape (n_channels, n_times) or (n_times,)
        The window.
    attribution : array-like of shape (n_channels, n_times) or (n_times,)
        Per channel and time sample, or per time sample (the same for every
        channel, e.g. ``explain(X, branch="1d")``).
    sfreq : float or None, default=None
        Sampling frequency in Hz; the time axis is in seconds, or in samples
        when None.
    ch_names : list of str or None, default=None
        Channel labels; None numbers the channels.
    ax : matplotlib.axes.Axes or None, default=None
        Where to draw; None makes a new figure.
    cmap : str, default="Reds"
        Colour map of the attribution.

    Returns
    -------
    ax : matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt

    x = np.atleast_2d(np.asarray(x, dtype=float))
    n_channels, n_times = x.shape
    attribution = np.asarray(attribution, dtype=float)
    if attribution.shape == (n_times,):
        attribution = np.broadcast_to(attribution, x.shape)
    if attribution.shape != x.shape:
        raise ValueError(
            f"attribution has shape {attribution.shape}, but x has shape "
            f"{x.shape}; pass one value per channel and time sample, or one "
            "per time sample."
        )
    if ch_names is None:
        ch_names = [str(i) for i in range(n_channels)]
    if len(ch_names) != n_channels:
        raise ValueError(
            f"ch_names has {len(ch_names)} names, but x has {n_channels} channels."
        )
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 1 + 0.8 * n_channels))
    scale = 1.0 if sfreq is None else 1.0 / sfreq
    times = np.arange(n_times) * scale
    image = ax.imshow(
        attribution,
        aspect="auto",
        cmap=cmap,
        origin="upper",
        extent=(-0.5 * scale, (n_times - 0.5) * scale, n_channels - 0.5, -0.5),
        interpolation="nearest",
    )
    # Each trace fills 80 % of its row around the row's centre.
    centred = x - x.mean(axis=1, keepdims=True)
    peak = np.abs(centred).max(axis=1, keepdims=True)
    traces = np.divide(centred, peak, out=np.zeros_like(centred), where=peak > 0)
    for i in range(n_channels):
        ax.plot(times, i - 0.4 * traces[i], color="black", linewidth=0.8)
    ax.set_yticks(range(n_channels), ch_names)
    ax.set_xlabel("Time (s)" if sfreq is not None else "Time (samples)")
    ax.figure.colorbar(image, ax=ax, label="Attribution")
    return ax


def plot_embedding(
    estimator,
    X,
    y,
    *,
    ax=None,
    perplexity: float = 30.0,
    random_state=None,
):
    """t-SNE map of a fitted estimator's embedding, one colour per class.

    The windows' embeddings (``estimator.transform(X)``, flattened per window)
    are mapped to 2-D with :class:`sklearn.manifold.TSNE` and drawn as a
    scatter plot, as the seed study's Fig. 6. Windows labelled ``-1`` are
    drawn in grey as "unlabelled".

    Parameters
    ----------
    estimator : fitted estimator with ``transform``
        E.g. a deep classifier (its embedding) or a feature pipeline.
    X : array-like of shape (n_windows, ...)
        Windows to embed.
    y : array-like of shape (n_windows,)
        Their labels, for the colours.
    ax : matplotlib.axes.Axes or None, default=None
        Where to draw; None makes a new figure.
    perplexity : float, default=30.0
        t-SNE perplexity, capped at ``(n_windows - 1) / 3`` so that small
        sets work (t-SNE needs ``3 * perplexity < n_windows``).
    random_state : int, RandomState or None, default=None
        Seeds t-SNE.

    Returns
    -------
    ax : matplotlib.axes.Axes
        One scatter collection per label (sorted, "unlabelled" last), each
        with the label as its legend entry.
    """
    import matplotlib.pyplot as plt
    from sklearn.manifold import TSNE
    from sklearn.utils.validation import check_is_fitted, column_or_1d

    from skeeg.estimators.eeg_classifier import is_unlabelled

    check_is_fitted(estimator)
    embedding = np.asarray(estimator.transform(X))
    embedding = embedding.reshape(len(embedding), -1)
    y = column_or_1d(y)
    if len(y) != len(embedding):
        raise ValueError(f"y has {len(y)} entries, but X has {len(embedding)} windows.")
    if len(y) < 4:
        raise ValueError(f"plot_embedding needs at least 4 windows, got {len(y)}.")
    tsne = TSNE(
        perplexity=min(perplexity, (len(y) - 1) / 3),
        init="pca",
        random_state=random_state,
    )
    points = tsne.fit_transform(embedding)
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 5))
    unlabelled = is_unlabelled(y)
    for label in np.unique(y[~unlabelled]):
        mask = ~unlabelled & (y == label)
        ax.scatter(*points[mask].T, s=8, label=str(label))
    if unlabelled.any():
        ax.scatter(*points[unlabelled].T, s=8, color="0.7", label="unlabelled")
    ax.set_xlabel("t-SNE 1")
    ax.set_ylabel("t-SNE 2")
    ax.legend(title="class", markerscale=2)
    return ax


def _new_axes(ax, figsize: tuple[float, float]):
    """``ax``, or the Axes of a new :class:`matplotlib.figure.Figure`.

    The Figure is made without pyplot, so drawing is headless and leaves the
    caller's backend and pyplot's open figures alone; ``ax.figure.savefig``
    writes PNG, SVG or PDF by the file's suffix.
    """
    if ax is not None:
        return ax
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, layout="constrained").subplots()


def _positive_scores(proba, n_samples: int, name: str) -> np.ndarray:
    """The positive-class column of ``predict_proba`` output, or 1-D scores."""
    proba = np.asarray(proba, dtype=float)
    if proba.ndim == 2 and proba.shape[1] == 2:
        proba = proba[:, 1]
    if proba.ndim != 1:
        raise ValueError(
            f"scores[{name!r}] has shape {proba.shape}; expected one score per "
            "sample, shape (n_samples,), or predict_proba output of shape "
            "(n_samples, 2)."
        )
    if len(proba) != n_samples:
        raise ValueError(
            f"scores[{name!r}] has {len(proba)} scores, but y_true has "
            f"{n_samples} samples."
        )
    return proba


def plot_curves(
    y_true,
    scores: Mapping[str, np.ndarray],
    *,
    kind: str = "roc",
    pos_label=None,
    chance_level: bool = True,
    ax=None,
):
    """ROC or precision-recall curves of several models on one Axes.

    One :class:`sklearn.metrics.RocCurveDisplay` or
    :class:`~sklearn.metrics.PrecisionRecallDisplay` per model, named in the
    legend with its AUC (ROC) or average precision (PR).

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True binary labels.
    scores : mapping of str to array-like
        Model name to its scores for the positive class, shape
        ``(n_samples,)``, or to its ``predict_proba`` output, shape
        ``(n_samples, 2)`` (the second column is used). Drawn in the
        mapping's order.
    kind : {"roc", "pr"}, default="roc"
        "roc": true positive rate against false positive rate; "pr":
        precision against recall.
    pos_label : int, str or None, default=None
        The positive class; None means 1 for labels in {0, 1} or {-1, 1}
        (scikit-learn's rule, which refuses other labels without it).
    chance_level : bool, default=True
        Also draw, once, what a random scorer reaches: the diagonal (ROC) or
        the prevalence of the positive class (PR).
    ax : matplotlib.axes.Axes or None, default=None
        Where to draw; None makes a new Figure (``ax.figure``).

    Returns
    -------
    ax : matplotlib.axes.Axes
        One line per model, in order, then the chance-level line.

    Raises
    ------
    ValueError
        If ``kind`` is unknown, ``scores`` is empty, or a model's scores do
        not hold one value per sample.
    """
    from sklearn.metrics import PrecisionRecallDisplay, RocCurveDisplay
    from sklearn.utils.validation import column_or_1d

    displays = {"roc": RocCurveDisplay, "pr": PrecisionRecallDisplay}
    if kind not in displays:
        raise ValueError(f"kind must be 'roc' or 'pr'; got {kind!r}.")
    if not isinstance(scores, Mapping) or not scores:
        raise ValueError(
            "scores must be a non-empty mapping of model name to scores; got "
            f"{type(scores).__name__} {scores!r:.60}."
        )
    y_true = column_or_1d(y_true)
    curves = {
        str(name): _positive_scores(proba, len(y_true), str(name))
        for name, proba in scores.items()
    }
    ax = _new_axes(ax, (5.0, 4.5))
    for i, (name, proba) in enumerate(curves.items()):
        displays[kind].from_predictions(
            y_true,
            proba,
            pos_label=pos_label,
            name=name,
            ax=ax,
            plot_chance_level=chance_level and i == len(curves) - 1,
        )
    return ax


#: Rows of the hypnogram strip of :func:`plot_recording`, top to bottom.
HYPNOGRAM_ORDER = ("W", "REM", "N1", "N2", "N3")
# Stages read_hypnogram may return that are not sleep stages: drawn as gaps.
_NOT_STAGES = ("artifact", "unknown")


def _recording_span(recording, sfreq, ch_names, start_s, duration_s):
    """The span's samples (volts), its rate, channel names and first sample.

    Only the span is read from a Raw (``get_data(start=, stop=)``), so a
    night opened with ``preload=False`` is never loaded whole.
    """
    import mne
    from sklearn.utils import check_scalar

    from skeeg.detection.streaming import pick_names

    check_scalar(start_s, "start_s", Real, min_val=0)
    check_scalar(
        duration_s, "duration_s", Real, min_val=0, include_boundaries="neither"
    )
    if isinstance(recording, mne.io.BaseRaw):
        raw_sfreq = float(recording.info["sfreq"])
        if sfreq is not None and not np.isclose(float(sfreq), raw_sfreq):
            raise ValueError(
                f"sfreq={sfreq} Hz, but the Raw is sampled at {raw_sfreq:g} Hz; "
                "pass sfreq with an array only."
            )
        names = pick_names(recording, "data" if ch_names is None else list(ch_names))
        sfreq, n_samples = raw_sfreq, recording.n_times
    else:
        data = np.asarray(recording, dtype=float)
        if data.ndim == 1:
            data = data[np.newaxis]
        if data.ndim != 2:
            raise ValueError(
                "recording must be an mne Raw or an array of shape (n_channels, "
                f"n_times); got an array of shape {data.shape}."
            )
        if sfreq is None:
            raise ValueError("sfreq (Hz) is required when recording is an array.")
        check_scalar(sfreq, "sfreq", Real, min_val=0, include_boundaries="neither")
        names = [str(i) for i in range(len(data))] if ch_names is None else ch_names
        names = [str(name) for name in names]
        if len(names) != len(data):
            raise ValueError(
                f"ch_names has {len(names)} names, but the array has {len(data)} "
                "channels."
            )
        sfreq, n_samples = float(sfreq), data.shape[1]
    start = int(round(start_s * sfreq))
    if start >= n_samples:
        raise ValueError(
            f"start_s={start_s} s is at or after the end of the recording "
            f"({n_samples / sfreq:g} s)."
        )
    stop = min(n_samples, start + max(1, int(round(duration_s * sfreq))))
    if isinstance(recording, mne.io.BaseRaw):
        data = recording.get_data(picks=names, start=start, stop=stop)
    else:
        data = data[:, start:stop]
    return data, sfreq, names, start


def _hypnogram_steps(hypnogram) -> tuple[list[float], list[float]]:
    """Stage levels (rows of :data:`HYPNOGRAM_ORDER`, NaN where unscored)
    and their edges in seconds, for :meth:`matplotlib.axes.Axes.stairs`."""
    import pandas as pd

    columns = {"onset", "duration", "stage"}
    if not isinstance(hypnogram, pd.DataFrame) or not columns <= set(hypnogram):
        raise ValueError(
            "hypnogram must be a DataFrame with onset, duration (seconds) and "
            "stage columns, as skeeg.datasets.read_hypnogram returns."
        )
    if hypnogram.empty:
        raise ValueError("hypnogram has no rows.")
    stages = hypnogram["stage"].astype(str).to_numpy()
    unknown = sorted(set(stages) - set(HYPNOGRAM_ORDER) - set(_NOT_STAGES))
    if unknown:
        raise ValueError(
            f"hypnogram stages {unknown} are not AASM stages; expected "
            f"{', '.join(HYPNOGRAM_ORDER + _NOT_STAGES)} (see "
            "skeeg.datasets.rk_to_aasm)."
        )
    level = {stage: i for i, stage in enumerate(HYPNOGRAM_ORDER)}
    order = np.argsort(hypnogram["onset"].to_numpy(dtype=float), kind="stable")
    onset = hypnogram["onset"].to_numpy(dtype=float)[order]
    end = onset + hypnogram["duration"].to_numpy(dtype=float)[order]
    values = [level.get(stage, np.nan) for stage in stages[order]]
    # A gap between two scored epochs becomes an unscored (NaN) step.
    edges, steps = [onset[0]], []
    for start, stop, value in zip(onset, end, values, strict=True):
        if start > edges[-1]:
            steps.append(np.nan)
            edges.append(start)
        steps.append(value)
        edges.append(max(stop, edges[-1]))
    return steps, edges


def _draw_hypnogram(ax, steps, edges, span: tuple[float, float]) -> None:
    """The hypnogram on ``ax`` in hours, with ``span`` (seconds) shaded."""
    ax.set_label("hypnogram")
    ax.stairs(steps, np.divide(edges, 3600.0), baseline=None, linewidth=1.0)
    ax.axvspan(span[0] / 3600.0, span[1] / 3600.0, color="tab:orange", alpha=0.5)
    ax.set_yticks(range(len(HYPNOGRAM_ORDER)), HYPNOGRAM_ORDER, fontsize="small")
    ax.set_ylim(len(HYPNOGRAM_ORDER) - 0.5, -0.5)
    ax.xaxis.tick_top()
    ax.xaxis.set_label_position("top")
    ax.set_xlabel("Time (h); the span drawn below in orange")


def plot_hypnogram(hypnogram, *, ax=None):
    """Draw a hypnogram: the stage of each epoch over the night.

    Parameters
    ----------
    hypnogram : pandas.DataFrame
        ``onset`` and ``duration`` in seconds and ``stage`` (AASM labels), as
        :func:`skeeg.datasets.read_hypnogram` returns and ``skeeg stage``
        writes (its ``trial_type`` column is the stage).
    ax : matplotlib.axes.Axes or None, default=None
        Where to draw; None makes a new figure.

    Returns
    -------
    ax : matplotlib.axes.Axes
        Time in hours; stages top to bottom as :data:`HYPNOGRAM_ORDER`;
        unscored spans are gaps.
    """
    steps, edges = _hypnogram_steps(hypnogram)
    ax = _new_axes(ax, (10.0, 3.0))
    ax.stairs(steps, np.divide(edges, 3600.0), baseline=None, linewidth=1.0)
    ax.set_yticks(range(len(HYPNOGRAM_ORDER)), HYPNOGRAM_ORDER)
    ax.set_ylim(len(HYPNOGRAM_ORDER) - 0.5, -0.5)
    ax.set_xlabel("Time (h)")
    ax.set_ylabel("Stage")
    return ax


def plot_recording(
    recording,
    events=None,
    *,
    sfreq: float | None = None,
    ch_names: Sequence[str] | None = None,
    start_s: float = 0.0,
    duration_s: float = 30.0,
    hypnogram=None,
    spacing_uv: float | None = None,
    ax=None,
):
    """EEG traces of a stretch of a recording, with events shaded over them.

    Parameters
    ----------
    recording : mne.io.BaseRaw or array-like of shape (n_channels, n_times)
        The recording, in volts (as MNE reads EEG); drawn in µV. Only the
        drawn span is read from a Raw, which may be opened with
        ``preload=False``.
    events : event table, mne.Annotations, array-like or None, default=None
        Anything :func:`skeeg.detection.as_events` takes, in seconds from the
        recording's first sample (as :func:`skeeg.detection.detect_events`
        returns them). Each event overlapping the span is shaded (a point
        event, of duration 0, is a vertical line at its peak).
    sfreq : float or None, default=None
        Sampling rate in Hz of an array (required then); a Raw's own rate is
        used.
    ch_names : list of str or None, default=None
        With a Raw, the channels to draw (default: its data channels); with an
        array, the names of its rows (default: 0, 1, ...).
    start_s, duration_s : float, default=0.0 and 30.0
        The span drawn, in seconds from the first sample; it ends at the end
        of the recording at the latest.
    hypnogram : pandas.DataFrame or None, default=None
        Sleep stages with ``onset``, ``duration`` (seconds) and ``stage``
        (AASM: W, N1, N2, N3, REM; "artifact" and "unknown" leave gaps), as
        :func:`skeeg.datasets.read_hypnogram` returns. The whole night is
        drawn on an Axes labelled "hypnogram" above the traces (time in
        hours), the span of the traces marked on it: the Figure's first Axes
        when ``ax`` is None, else an inset of ``ax`` (``ax.child_axes``).
    spacing_uv : float or None, default=None
        Vertical distance between channels in µV, the same for all; None
        takes the largest 1st-99th percentile range of the channels.
    ax : matplotlib.axes.Axes or None, default=None
        Where to draw; None makes a new Figure (``ax.figure``).

    Returns
    -------
    ax : matplotlib.axes.Axes
        The traces, one line per channel (first channel on top, time in
        seconds), and one patch per shaded event.

    Raises
    ------
    ValueError
        If the span starts after the recording ends, an array comes without
        ``sfreq``, the channel names do not fit, or the hypnogram is
        malformed.
    """
    from sklearn.utils import check_scalar

    from skeeg.detection.events import as_events

    data, sfreq, names, first = _recording_span(
        recording, sfreq, ch_names, start_s, duration_s
    )
    if hypnogram is not None:
        steps, edges = _hypnogram_steps(hypnogram)
    data = (data - data.mean(axis=1, keepdims=True)) * 1e6  # V -> µV
    if spacing_uv is None:
        low, high = np.percentile(data, [1, 99], axis=1)
        spacing_uv = float(np.max(high - low)) or 1.0
    check_scalar(
        spacing_uv, "spacing_uv", Real, min_val=0, include_boundaries="neither"
    )
    times = (first + np.arange(data.shape[1])) / sfreq
    t_start, t_stop = times[0], (first + data.shape[1]) / sfreq
    strip = None
    if hypnogram is not None and ax is None:
        from matplotlib.figure import Figure

        figure = Figure(figsize=(10.0, 2.6 + 0.6 * len(names)), layout="constrained")
        strip, ax = figure.subplots(2, 1, height_ratios=(1.2, 0.6 * len(names)))
    ax = _new_axes(ax, (10.0, 1.0 + 0.6 * len(names)))
    offsets = -spacing_uv * np.arange(len(names))
    for trace, offset in zip(data, offsets, strict=True):
        ax.plot(times, trace + offset, color="black", linewidth=0.6)
    if events is not None:
        table = as_events(events)
        onset = table["onset"].to_numpy()
        end = onset + table["duration"].to_numpy()
        shown = (end >= t_start) & (onset <= t_stop)
        for start, stop, peak in zip(
            onset[shown], end[shown], table["peak"].to_numpy()[shown], strict=True
        ):
            if stop > start:
                ax.axvspan(
                    max(start, t_start), min(stop, t_stop), color="tab:red", alpha=0.25
                )
            else:
                ax.axvline(peak, color="tab:red", alpha=0.6)
    ax.set_xlim(t_start, t_stop)
    ax.set_yticks(offsets, names)
    ax.set_ylim(offsets[-1] - spacing_uv, spacing_uv)
    ax.set_xlabel("Time (s)")
    ax.set_ylabel(f"{spacing_uv:.3g} µV between channels")
    if hypnogram is not None:
        if strip is None:
            # About an inch high over traces of 0.6 inch per channel; its
            # tick labels are on top, so a small gap clears the traces.
            height = float(np.clip(1.6 / len(names), 0.15, 0.6))
            strip = ax.inset_axes((0.0, 1.0 + height / 8, 1.0, height))
        _draw_hypnogram(strip, steps, edges, (t_start, t_stop))
    return ax


def plot_events_per_hour(
    events,
    recording_duration_s: float,
    *,
    bin_s: float = 3600.0,
    ax=None,
):
    """Rate of events over a recording, as bars of events per hour.

    Parameters
    ----------
    events : event table, mne.Annotations or array-like
        Anything :func:`skeeg.detection.as_events` takes; each event counts
        in the bin of its peak.
    recording_duration_s : float
        Length of the recording in seconds; the bins cover ``[0, duration]``.
    bin_s : float, default=3600.0
        Bin width in seconds; the last bin may be shorter, and its rate is
        its count over its own length.
    ax : matplotlib.axes.Axes or None, default=None
        Where to draw; None makes a new Figure (``ax.figure``).

    Returns
    -------
    ax : matplotlib.axes.Axes
        One bar per bin (``ax.patches``), its height the bin's events per
        hour; the x axis in hours from the recording's start.

    Raises
    ------
    ValueError
        If a duration is not positive or a peak lies outside the recording.
    """
    from sklearn.utils import check_scalar

    from skeeg.detection.events import TIME_SLACK_S, as_events

    check_scalar(
        recording_duration_s,
        "recording_duration_s",
        Real,
        min_val=0,
        include_boundaries="neither",
    )
    check_scalar(bin_s, "bin_s", Real, min_val=0, include_boundaries="neither")
    peaks = as_events(events)["peak"].to_numpy()
    outside = (peaks < -TIME_SLACK_S) | (peaks > recording_duration_s + TIME_SLACK_S)
    if outside.any():
        raise ValueError(
            f"{outside.sum()} events peak outside the recording "
            f"(0 to {recording_duration_s:g} s), e.g. at {peaks[outside][0]:g} s."
        )
    edges = np.append(np.arange(0.0, recording_duration_s, bin_s), recording_duration_s)
    counts, _ = np.histogram(np.clip(peaks, 0.0, recording_duration_s), edges)
    widths_h = np.diff(edges) / 3600.0
    ax = _new_axes(ax, (8.0, 3.0))
    ax.bar(edges[:-1] / 3600.0, counts / widths_h, width=widths_h, align="edge")
    ax.set_xlim(0.0, recording_duration_s / 3600.0)
    ax.set_xlabel("Time from the start of the recording (h)")
    ax.set_ylabel("Events per hour")
    return ax


def plot_confusion(
    y_true,
    y_pred,
    *,
    labels=None,
    normalize: str | None = None,
    ax=None,
):
    """Confusion matrix of predicted against true labels.

    :meth:`sklearn.metrics.ConfusionMatrixDisplay.from_predictions` on a
    headless Figure.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
        True and predicted labels.
    labels : array-like of shape (n_classes,) or None, default=None
        The labels and their order on both axes; None: every label in either,
        sorted.
    normalize : {"true", "pred", "all"} or None, default=None
        Show fractions over the true labels (rows), the predicted labels
        (columns) or all samples instead of counts.
    ax : matplotlib.axes.Axes or None, default=None
        Where to draw; None makes a new Figure (``ax.figure``).

    Returns
    -------
    ax : matplotlib.axes.Axes
        Rows are true labels, columns predicted labels; each cell's value is
        written in it.
    """
    from sklearn.metrics import ConfusionMatrixDisplay

    ax = _new_axes(ax, (4.5, 4.0))
    ConfusionMatrixDisplay.from_predictions(
        y_true, y_pred, labels=labels, normalize=normalize, ax=ax, colorbar=False
    )
    return ax
