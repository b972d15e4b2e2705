"""The ``skeeg`` command: demo, train, inspect, detect and evaluate.

::

    skeeg demo --out out
    skeeg train --data windows.npz --model sc --loss sasu --out model.skeeg --cv 5
    skeeg info model.skeeg
    skeeg predict model.skeeg windows.npz --out proba.tsv
    skeeg detect model.skeeg night.edf --out night_events.tsv --plot night.png
    skeeg evaluate model.skeeg --data night.edf --events night_reference.tsv
    skeeg stage stager.skeeg night.edf --out hypnogram.tsv --plot hypnogram.png

``skeeg train --model`` takes every classifier of :mod:`skeeg.registry`.

Every failure (a missing or unreadable file, a bad option, data of the wrong
shape, a recording of another rate or montage than the model's) ends with a
non-zero exit status and one line on stderr; ``--traceback`` shows the
Python traceback instead.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

import skeeg

#: The classical IED detector ``skeeg train --model`` builds besides the
#: registry's classifiers (:func:`skeeg.recipes.spike_feature_pipeline`).
FEATURES = "features"
# Training options (dest -> the classifier parameter it sets); a model whose
# signature lacks the parameter refuses the option instead of ignoring it.
_TRAINING_OPTIONS = {
    "loss": "loss",
    "epochs": "max_epochs",
    "width": "width",
    "batch_size": "batch_size",
    "lr": "lr",
    "optimizer": "optimizer",
    "device": "device",
}


def _classifiers():
    from skeeg import registry

    return registry.entries("classifier")


def _signature_defaults(parameter: str) -> str:
    """Each registry classifier's default of ``parameter``, for a help text:
    read from the signatures, never restated here."""
    import inspect

    shown = []
    for entry in _classifiers():
        default = inspect.signature(entry.cls).parameters.get(parameter)
        if default is not None:
            shown.append(f"{entry.name} {default.default}")
    return "; ".join(shown)


_NPZ_HELP = (
    "an .npz file (numpy.savez) with X: float array (n_windows, n_channels, "
    "n_times) of EEG windows in volts (as MNE reads EDF, so that a model "
    "applies to recordings), y: labels (n_windows,), sfreq: sampling rate in "
    "Hz; optionally groups: subject of each window (n_windows,) and ch_names: "
    "channel names (n_channels,)"
)


_RECORDING_HELP = "the recording: .edf, .bdf, .fif, .fif.gz or .vhdr"


class CLIError(Exception):
    """A user error the command reports in one line."""


class _Parser(argparse.ArgumentParser):
    """argparse, with usage errors on one line."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


# -- demo ------------------------------------------------------------------------------
def _demo(args: argparse.Namespace) -> int:
    from skeeg.demo import run_ied_demo

    run_ied_demo(
        args.out,
        prevalence=args.prevalence,
        epochs=args.epochs,
        seed=args.seed,
        n_jobs=args.n_jobs,
    )
    return 0


# -- train -----------------------------------------------------------------------------
def _load_npz(path: Path, required: tuple[str, ...] = ("y",)) -> dict:
    """The arrays of a windows .npz, checked for shape and content; ``y``
    (and ``groups``, ``sleep_stage``) None where absent and not required."""
    import numpy as np

    if not path.is_file():
        raise CLIError(f"data file not found: {str(path)!r}")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except ValueError as exc:
        raise CLIError(
            f"cannot read {str(path)!r} as an .npz of arrays: {exc}"
        ) from exc
    except OSError as exc:
        raise CLIError(f"cannot read {str(path)!r}: {exc}") from exc
    missing = [key for key in ("X", *required, "sfreq") if key not in arrays]
    if missing:
        raise CLIError(
            f"{str(path)!r} has no {', '.join(missing)} (it has "
            f"{', '.join(sorted(arrays)) or 'nothing'}); expected {_NPZ_HELP}"
        )
    X, y = arrays["X"], arrays.get("y")
    if X.ndim != 3 or X.dtype.kind not in "fiu":
        raise CLIError(
            f"X in {str(path)!r} must be a numeric array of shape (n_windows, "
            f"n_channels, n_times); got shape {X.shape}, dtype {X.dtype}"
        )
    for key in ("y", "groups", "sleep_stage"):
        value = arrays.get(key)
        if value is not None and (value.ndim != 1 or len(value) != len(X)):
            raise CLIError(
                f"{key} in {str(path)!r} must have shape ({len(X)},), one entry "
                f"per window of X; got shape {value.shape}"
            )
    sfreq = arrays["sfreq"]
    if sfreq.size != 1 or sfreq.dtype.kind not in "fiu" or not float(sfreq) > 0:
        raise CLIError(
            f"sfreq in {str(path)!r} must be one number > 0 (Hz); got {sfreq!r}"
        )
    ch_names = arrays.get("ch_names")
    if ch_names is not None:
        if ch_names.shape != (X.shape[1],) or ch_names.dtype.kind != "U":
            raise CLIError(
                f"ch_names in {str(path)!r} must be {X.shape[1]} strings, one per "
                f"channel of X; got shape {ch_names.shape}, dtype {ch_names.dtype}"
            )
        ch_names = ch_names.tolist()
    return {
        "X": X,
        "y": y,
        "groups": arrays.get("groups"),
        "sleep_stage": arrays.get("sleep_stage"),
        "sfreq": float(sfreq),
        "ch_names": ch_names,
    }


def _build_model(args: argparse.Namespace, sfreq: float):
    """The Pipeline of ``--model``; the classifier is its step "clf"."""
    import inspect

    from skeeg import registry
    from skeeg.recipes import BANDS, spike_feature_pipeline, window_pipeline

    given = {
        parameter: getattr(args, dest)
        for dest, parameter in _TRAINING_OPTIONS.items()
        if getattr(args, dest) is not None
    }
    if args.model == FEATURES:
        flags = [
            f"--{dest.replace('_', '-')}"
            for dest in (*_TRAINING_OPTIONS, "l_freq", "h_freq")
            if getattr(args, dest) is not None
        ]
        if flags:
            raise CLIError(f"{', '.join(flags)} do not apply to --model features")
        return spike_feature_pipeline()
    entry = registry.get(args.model, "classifier")
    parameters = inspect.signature(entry.cls).parameters
    refused = [name for name in given if name not in parameters]
    if refused:
        raise CLIError(
            f"--model {args.model} ({entry.class_name}) has no parameter "
            f"{', '.join(refused)}"
        )
    settings = {**given, "random_state": args.seed}
    if "verbose" in parameters:
        settings["verbose"] = 0 if args.quiet else 1
    # The task band's high cut-off, kept below 0.9 x Nyquist at low rates
    # (a 50-Hz night keeps 22.5 Hz of its 0.3-35 Hz band).
    low, high = BANDS[entry.task]
    band = (args.l_freq or low, args.h_freq or min(high, 0.45 * sfreq))
    if not band[0] < band[1] < sfreq / 2:
        raise CLIError(
            f"the band-pass needs --l-freq < --h-freq < sfreq/2 = {sfreq / 2:g} Hz; "
            f"got {band[0]:g} and {band[1]:g} Hz"
        )
    return window_pipeline(entry.cls(**settings), sfreq, band=band)


def _cross_validate(args, pipe, data, fit_params: dict) -> dict:
    import numpy as np

    from skeeg.evaluation.metrics import scores_table, window_scores
    from skeeg.evaluation.out_of_fold import grouped_oof_predictions

    X, y, groups = data["X"], data["y"], data["groups"]
    if groups is None:
        raise CLIError(
            f"--cv needs a groups array in {str(args.data)!r} (the subject of "
            "each window), so that no subject is in a training and a test fold"
        )
    n_groups = len(np.unique(groups))
    if not 2 <= args.cv <= n_groups:
        raise CLIError(
            f"--cv must be between 2 and the {n_groups} groups; got {args.cv}"
        )
    classes = np.unique(y)
    if len(classes) != 2:
        raise CLIError(
            f"--cv reports binary window scores, but y has {len(classes)} classes"
        )
    print(f"cross-validating: GroupKFold({args.cv}) over {n_groups} groups")
    oof = grouped_oof_predictions(
        pipe,
        X,
        y,
        groups,
        n_splits=args.cv,
        fit_groups_param="clf__groups" if fit_params else None,
    )
    pos_label = classes[1]
    scores = window_scores(y, oof.proba, pos_label=pos_label)
    print(scores_table([{"model": args.model, **scores, "fit_s": oof.fit_seconds}]))
    return {"n_splits": args.cv, "splitter": "GroupKFold", **scores}


def _train(args: argparse.Namespace) -> int:
    import numpy as np

    from skeeg.model_file import save_model

    data = _load_npz(args.data)
    X, y, groups, sfreq = data["X"], data["y"], data["groups"], data["sfreq"]
    if args.out.suffix != ".skeeg":
        raise CLIError(f"--out must name a .skeeg file; got {str(args.out)!r}")
    if not args.out.parent.is_dir():
        raise CLIError(f"the folder of --out does not exist: {str(args.out.parent)!r}")
    pipe = _build_model(args, sfreq)
    fit_params = {}
    if args.model != FEATURES and groups is not None:
        fit_params["clf__groups"] = groups
    if data["sleep_stage"] is not None:
        if args.model != "siamese-es":
            raise CLIError(
                f"{str(args.data)!r} has sleep_stage, which only --model "
                "siamese-es learns from"
            )
        fit_params["clf__sleep_stage"] = data["sleep_stage"]
    elif args.model == "siamese-es":
        raise CLIError(
            f"--model siamese-es learns the sleep stage alongside: "
            f"{str(args.data)!r} needs a sleep_stage array (one per window)"
        )
    labels, counts = np.unique(y, return_counts=True)
    class_counts = {str(k): int(v) for k, v in zip(labels, counts, strict=True)}
    print(
        f"{len(X)} windows of {X.shape[1]} channels x {X.shape[2]} samples "
        f"({sfreq:g} Hz); windows per class: {class_counts}"
    )
    summary = {
        "data": Path(args.data).name,
        "n_windows": len(X),
        "n_channels": X.shape[1],
        "n_times": X.shape[2],
        "class_counts": class_counts,
        "n_groups": None if groups is None else len(np.unique(groups)),
        "command": "skeeg " + shlex.join(args.argv),
    }
    if args.cv:
        summary["cv"] = _cross_validate(args, pipe, data, fit_params)
    print(f"training {args.model} on all {len(X)} windows")
    pipe.fit(X, y, **fit_params)
    path = save_model(
        pipe,
        args.out,
        sfreq=sfreq,
        ch_names=data["ch_names"],
        window_s=X.shape[2] / sfreq,
        training_summary=summary,
    )
    print(f"wrote {path}")
    return 0


# -- info ------------------------------------------------------------------------------
def _info(args: argparse.Namespace) -> int:
    import json

    from skeeg.model_file import read_model_metadata

    meta = read_model_metadata(args.model)
    print(json.dumps(meta, indent=2))
    return 0


# -- detect / evaluate -----------------------------------------------------------------
class _ProgressBar:
    """A tqdm bar on stderr for a ``progress(done, total)`` callback (tqdm
    comes with skorch)."""

    def __init__(self, unit: str) -> None:
        self.unit, self.bar = unit, None

    def __call__(self, done: int, total: int) -> None:
        from tqdm.auto import tqdm

        if self.bar is None:
            self.bar = tqdm(total=total, unit=self.unit, file=sys.stderr)
        self.bar.update(done - self.bar.n)
        if done == total:
            self.bar.close()


def _detect_in(args: argparse.Namespace, recording: Path):
    """Load the model, open the recording, detect; returns (events, raw)."""
    from skeeg.datasets import read_raw
    from skeeg.detection import detect_events
    from skeeg.model_file import load_model, read_model_metadata

    meta = read_model_metadata(args.model)
    model = load_model(args.model, device=args.device or "cpu")
    try:
        raw = read_raw(recording, preload=False)
    except FileNotFoundError:
        raise
    except Exception as exc:  # MNE's readers raise many types on a bad file
        raise CLIError(f"cannot read the recording {str(recording)!r}: {exc}") from exc
    events = detect_events(
        model,
        raw,
        window_s=meta["window_s"],
        step_s=args.step,
        threshold=args.threshold,
        sfreq=meta["sfreq"],
        ch_names=meta["ch_names"],
        picks=args.picks,
        merge_gap_s=args.merge_gap,
        progress=None if args.quiet else _ProgressBar("window"),
    )
    return events, raw


def _check_output(path: Path, flag: str, suffixes: tuple[str, ...], overwrite: bool):
    """Refuse an output path before the long detection step, not after."""
    if path.suffix.lower() not in suffixes:
        raise CLIError(
            f"{flag} must end in {', '.join(suffixes[:-1])} or {suffixes[-1]}; "
            f"got {str(path)!r}"
        )
    if not path.parent.is_dir():
        raise CLIError(f"the folder of {flag} does not exist: {str(path.parent)!r}")
    if path.exists() and not overwrite:
        raise CLIError(f"{str(path)!r} exists; pass --overwrite to replace it")


def _plot_detections(args: argparse.Namespace, events, raw) -> None:
    """Events per hour over the recording, above the page of traces around
    the highest-scoring detection (the first page when there is none)."""
    import math

    from matplotlib.figure import Figure

    from skeeg.model_file import read_model_metadata
    from skeeg.plotting import plot_events_per_hour, plot_recording

    duration_s = raw.n_times / raw.info["sfreq"]
    page_s = min(args.plot_page, duration_s)
    # Hourly bins over a night; about 12 bins of whole minutes when shorter.
    bin_s = 3600.0 if duration_s >= 6 * 3600 else 60.0 * math.ceil(duration_s / 720)
    channels = args.picks or read_model_metadata(args.model)["ch_names"]
    n_channels = len(raw.ch_names) if channels is None else len(channels)
    figure = Figure(
        figsize=(10.0, 3.5 + 0.5 * min(n_channels, 20)), layout="constrained"
    )
    rate_ax, trace_ax = figure.subplots(2, 1, height_ratios=(1.0, 2.0))
    plot_events_per_hour(events, duration_s, bin_s=bin_s, ax=rate_ax)
    rate_ax.set_title(f"{len(events)} events in {duration_s / 3600:.2f} h")
    if len(events):
        best = events.loc[events["score"].idxmax()]
        start_s = min(max(0.0, best["peak"] - page_s / 2), duration_s - page_s)
        title = (
            f"Highest-scoring event: score {best['score']:.3f} at {best['peak']:.1f} s"
        )
    else:
        start_s, title = 0.0, "No events: the first page"
    plot_recording(
        raw, events, ch_names=channels, start_s=start_s, duration_s=page_s, ax=trace_ax
    )
    trace_ax.set_title(title)
    figure.savefig(args.plot)


def _detect(args: argparse.Namespace) -> int:
    from skeeg.detection import write_events

    _check_output(args.out, "--out", (".tsv", ".csv", ".edf"), args.overwrite)
    if args.plot is not None:
        _check_output(args.plot, "--plot", (".png", ".svg", ".pdf"), args.overwrite)
    events, raw = _detect_in(args, args.recording)
    edf = args.out.suffix.lower() == ".edf"
    write_events(events, args.out, raw=raw if edf else None, overwrite=args.overwrite)
    print(f"{len(events)} events; wrote {args.out}")
    if args.plot is not None:
        _plot_detections(args, events, raw)
        print(f"wrote {args.plot}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from skeeg.detection import read_events
    from skeeg.evaluation.event_metrics import event_scores
    from skeeg.evaluation.metrics import scores_table

    reference = read_events(args.events)
    events, raw = _detect_in(args, args.data)
    scores = event_scores(
        events,
        reference,
        recording_duration_s=raw.n_times / raw.info["sfreq"],
        method=args.method,
        tolerance_s=args.tolerance,
        iou_threshold=args.iou,
    )
    print(scores_table([scores]))
    return 0


# -- predict -------------------------------------------------------------------------
def _check_recording_metadata(meta: dict, sfreq: float, ch_names, what: str) -> None:
    import numpy as np

    if meta["sfreq"] is not None and not np.isclose(sfreq, meta["sfreq"]):
        raise CLIError(
            f"{what} is sampled at {sfreq:g} Hz, but the model expects "
            f"{meta['sfreq']:g} Hz"
        )
    if meta["ch_names"] is not None and ch_names is not None:
        if list(ch_names) != list(meta["ch_names"]):
            raise CLIError(
                f"{what} has the channels {list(ch_names)}, but the model expects "
                f"{meta['ch_names']}"
            )


def _predict(args: argparse.Namespace) -> int:
    import pandas as pd

    from skeeg.model_file import load_model, read_model_metadata

    _check_output(args.out, "--out", (".tsv", ".csv"), args.overwrite)
    meta = read_model_metadata(args.model)
    data = _load_npz(args.data, required=())
    _check_recording_metadata(meta, data["sfreq"], data["ch_names"], str(args.data))
    model = load_model(args.model, device=args.device or "cpu")
    X = data["X"]
    proba = model.predict_proba(X)
    table = pd.DataFrame({"window": range(len(X))})
    if data["y"] is not None:
        table["label"] = data["y"]
    for column, label in enumerate(model.classes_):
        table[f"proba_{label}"] = proba[:, column]
    table["predicted"] = model.predict(X)
    sep = "\t" if args.out.suffix.lower() == ".tsv" else ","
    table.to_csv(args.out, sep=sep, index=False, na_rep="n/a")
    print(f"{len(X)} windows; wrote {args.out}")
    return 0


# -- stage ---------------------------------------------------------------------------
def _stage(args: argparse.Namespace) -> int:
    from fractions import Fraction

    import numpy as np
    import pandas as pd
    from scipy.signal import resample_poly

    from skeeg import SleepStager
    from skeeg.datasets import read_raw
    from skeeg.model_file import load_model, read_model_metadata
    from skeeg.preprocessing import derivation_matrix

    _check_output(args.out, "--out", (".tsv", ".csv"), args.overwrite)
    if args.plot is not None:
        _check_output(args.plot, "--plot", (".png", ".svg", ".pdf"), args.overwrite)
    meta = read_model_metadata(args.model)
    model = load_model(args.model, device=args.device or "cpu")
    stager = model.steps[-1][1] if hasattr(model, "steps") else model
    if not isinstance(stager, SleepStager):
        raise CLIError(
            f"{str(args.model)!r} holds a {type(stager).__name__}; skeeg stage "
            "needs a SleepStager (skeeg train --model sleep-stager)"
        )
    if meta["sfreq"] is None or meta["ch_names"] is None:
        raise CLIError(
            f"{str(args.model)!r} does not record its sampling rate and channels "
            "(save_model(..., sfreq=, ch_names=)); skeeg stage needs both"
        )
    try:
        raw = read_raw(args.recording, preload=False)
    except FileNotFoundError:
        raise
    except Exception as exc:  # MNE's readers raise many types on a bad file
        raise CLIError(f"cannot read {str(args.recording)!r}: {exc}") from exc
    sources, matrix = derivation_matrix(meta["ch_names"], raw.ch_names)
    data = matrix @ raw.get_data(picks=sources)
    ratio = Fraction(meta["sfreq"] / raw.info["sfreq"]).limit_denominator(1000)
    if ratio != 1:
        data = resample_poly(data, ratio.numerator, ratio.denominator, axis=1)
    n_times = int(meta["n_times"])
    n_epochs = data.shape[1] // n_times
    if n_epochs < 1:
        raise CLIError(
            f"{str(args.recording)!r} is shorter than one {n_times / meta['sfreq']:g}"
            "-s epoch"
        )
    X = data[:, : n_epochs * n_times].reshape(len(data), n_epochs, n_times)
    X = X.transpose(1, 0, 2)
    # Epoch by epoch the stager scores in batches (a bar that moves); its
    # smoothing ("hmm", "viterbi") and its context (neighbouring epochs) need
    # the whole night in one call.
    whole_night = stager.smoothing is not None or stager.context
    batch = n_epochs if whole_night else 512
    progress = None if args.quiet else _ProgressBar("epoch")
    stages = []
    for start in range(0, n_epochs, batch):
        stages.append(model.predict(X[start : start + batch]))
        if progress is not None:
            progress(min(start + batch, n_epochs), n_epochs)
    stages = np.concatenate(stages)
    epoch_s = n_times / meta["sfreq"]
    hypnogram = pd.DataFrame(
        {
            "onset": np.arange(n_epochs) * epoch_s,
            "duration": epoch_s,
            "trial_type": stages,
        }
    )
    sep = "\t" if args.out.suffix.lower() == ".tsv" else ","
    hypnogram.to_csv(args.out, sep=sep, index=False)
    counts = hypnogram["trial_type"].value_counts().to_dict()
    print(f"{n_epochs} epochs of {epoch_s:g} s: {counts}; wrote {args.out}")
    if args.plot is not None:
        from matplotlib.figure import Figure

        from skeeg.plotting import plot_hypnogram

        figure = Figure(figsize=(10.0, 3.0), layout="constrained")
        staged = hypnogram.rename(columns={"trial_type": "stage"})
        plot_hypnogram(staged, ax=figure.subplots())
        figure.savefig(args.plot)
        print(f"wrote {args.plot}")
    return 0


# -- the parser ------------------------------------------------------------------------
def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


def _jobs(text: str) -> int | str:
    """``--n-jobs``: "auto" or a joblib count (an integer, not 0)."""
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected 'auto' or an integer, got {text!r}"
        ) from None
    if value == 0:
        raise argparse.ArgumentTypeError("expected 'auto' or a non-zero integer, got 0")
    return value


def _add_model_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "model", type=Path, metavar="MODEL.skeeg", help="a model file (skeeg train)"
    )


def _add_detection_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--step",
        type=_positive_float,
        default=None,
        metavar="S",
        help="step between window starts in seconds (default: the window length, "
        "windows side by side)",
    )
    parser.add_argument(
        "--threshold",
        type=float,
        default=None,
        metavar="P",
        help="a window is positive when its probability is above P, in [0, 1] "
        "(default: the model's threshold_)",
    )
    parser.add_argument(
        "--merge-gap",
        type=float,
        default=0.0,
        metavar="S",
        help="positive windows at most S seconds apart join one event (default: 0, "
        "overlapping or touching windows only)",
    )
    parser.add_argument(
        "--picks",
        nargs="+",
        default=None,
        metavar="CH",
        help="channels to read, in the model's order (default: the model's "
        "channel names when it has them, else the recording's data channels)",
    )
    parser.add_argument(
        "--device",
        default=None,
        help="where the network runs: cpu (default), cuda, cuda:1 or auto",
    )
    parser.add_argument(
        "--quiet", action="store_true", help="no progress counter on stderr"
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``skeeg`` argument parser (one subcommand per task)."""
    from skeeg.recipes import BANDS

    parser = _Parser(
        prog="skeeg",
        description="Deep and classical models for clinical EEG: train a window "
        "classifier, save it as one safe model file, detect events in recordings.",
    )
    parser.add_argument("--version", action="version", version=skeeg.__version__)
    parser.add_argument(
        "--traceback",
        action="store_true",
        help="on an error, show the Python traceback instead of one line",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    demo = commands.add_parser(
        "demo",
        help="cross-validated IED detection on the bundled sample (the README run)",
        description="SC+SaSu (iEDeaL) vs SC+BCE vs a classical detector, 5-fold "
        "GroupKFold by subject, on real EEG with injected discharges; prints a "
        "metrics table and writes OUT/pr_curve.png (a few minutes on a CPU).",
    )
    demo.add_argument(
        "--out", type=Path, default=Path("out"), help="output folder (default: out)"
    )
    demo.add_argument(
        "--prevalence",
        type=_positive_float,
        default=0.05,
        help="fraction of windows with a discharge (default: 0.05)",
    )
    demo.add_argument(
        "--epochs",
        type=_positive_int,
        default=30,
        help="training epochs of each SC model (default: 30, SC's default)",
    )
    demo.add_argument(
        "--seed", type=int, default=0, help="seed of data and networks (default: 0)"
    )
    demo.add_argument(
        "--n-jobs",
        type=_jobs,
        default="auto",
        metavar="N",
        help="folds trained at once, one per worker process; -1: one per CPU, "
        "1: one after the other, auto: one per core no other process keeps "
        "busy (default: %(default)s); the results do not depend on it",
    )
    demo.set_defaults(run=_demo)

    train = commands.add_parser(
        "train",
        help="train a window classifier and save it as a model file",
        description="Train a model on labelled EEG windows and save the fitted "
        "pipeline (band-pass, per-channel scaling, classifier; or SpikeFeatures, "
        "scaling, logistic regression) with its sampling rate, channel names, "
        "window length and a training summary as one .skeeg file.",
    )
    train.add_argument(
        "--data", type=Path, required=True, metavar="DATA.npz", help=_NPZ_HELP
    )
    train.add_argument(
        "--model",
        choices=[*(e.name for e in _classifiers()), FEATURES],
        required=True,
        help="; ".join(f"{e.name}: {e.class_name}" for e in _classifiers())
        + "; features: SpikeFeatures + logistic regression (the classical "
        "detector). Every model but features is trained behind a band-pass and "
        "per-channel scaling (skeeg.recipes.window_pipeline)",
    )
    train.add_argument(
        "--loss",
        choices=("bce", "bbce", "wbce", "ewbce", "focal", "sf", "sasu"),
        default=None,
        help="loss strategy of a deep model (default: the model's: "
        f"{_signature_defaults('loss')}); see docs/estimators.md",
    )
    train.add_argument(
        "--out", type=Path, required=True, metavar="MODEL.skeeg", help="model file"
    )
    train.add_argument(
        "--cv",
        type=_positive_int,
        default=None,
        metavar="N",
        help="first report out-of-fold window scores of an N-fold GroupKFold by "
        "the data's groups (needs groups in DATA.npz); the model saved is then "
        "trained on all windows",
    )
    for flag, parameter, kind, text in (
        ("--epochs", "max_epochs", _positive_int, "training epochs"),
        ("--width", "width", _positive_int, "channels inside the network"),
        ("--batch-size", "batch_size", _positive_int, "windows per batch"),
        ("--lr", "lr", _positive_float, "learning rate"),
    ):
        train.add_argument(
            flag,
            type=kind,
            default=None,
            help=f"{text} (default: the model's: {_signature_defaults(parameter)})",
        )
    train.add_argument(
        "--optimizer",
        choices=("sgd", "adam", "adamw"),
        default=None,
        help="optimizer; sgd adds momentum 0.9 and weight decay 1e-4 (default: "
        f"the model's: {_signature_defaults('optimizer')})",
    )
    train.add_argument(
        "--l-freq",
        type=_positive_float,
        default=None,
        metavar="HZ",
        help="band-pass low cut-off in Hz (default: the model's task band, "
        "skeeg.recipes.BANDS: "
        + "; ".join(f"{t} {lo:g}" for t, (lo, _) in BANDS.items())
        + ")",
    )
    train.add_argument(
        "--h-freq",
        type=_positive_float,
        default=None,
        metavar="HZ",
        help="band-pass high cut-off in Hz, below sfreq/2 (default: the task "
        "band's: "
        + "; ".join(f"{t} {hi:g}" for t, (_, hi) in BANDS.items())
        + ", or 0.45 x sfreq when lower)",
    )
    train.add_argument(
        "--device",
        default=None,
        help="cpu, cuda, cuda:1 or auto (default: the model's: "
        f"{_signature_defaults('device')})",
    )
    train.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    train.add_argument(
        "--quiet", action="store_true", help="no per-epoch progress table"
    )
    train.set_defaults(run=_train)

    predict = commands.add_parser(
        "predict",
        help="per-window class probabilities of a model on windows",
        description="Score the windows of an .npz with a model file: one row per "
        "window with its probability of each class and the predicted class "
        "(and its label when the .npz has y).",
    )
    _add_model_argument(predict)
    predict.add_argument(
        "data", type=Path, metavar="WINDOWS.npz", help=_NPZ_HELP + " (y optional)"
    )
    predict.add_argument(
        "--out", type=Path, required=True, metavar="PROBA.tsv", help=".tsv or .csv"
    )
    predict.add_argument(
        "--device", default=None, help="cpu (default), cuda, cuda:1 or auto"
    )
    predict.add_argument(
        "--overwrite", action="store_true", help="replace --out if it exists"
    )
    predict.set_defaults(run=_predict)

    stage = commands.add_parser(
        "stage",
        help="score the sleep stage of each epoch of a night with a SleepStager",
        description="Cut a night (EDF, BDF, FIF or BrainVision) into the model's "
        "epochs (30 s for a stager trained on 30-s epochs), at the model's rate "
        "(resampled when the recording's differs), on the model's channels "
        "(bipolar names 'A-B' derived from a referential recording), stage them "
        "and write a BIDS-style events file (onset, duration, trial_type); "
        "optionally draw the hypnogram.",
    )
    _add_model_argument(stage)
    stage.add_argument("recording", type=Path, metavar="NIGHT", help=_RECORDING_HELP)
    stage.add_argument(
        "--out",
        type=Path,
        required=True,
        metavar="HYPNOGRAM.tsv",
        help="the hypnogram: .tsv (BIDS events) or .csv",
    )
    stage.add_argument(
        "--plot",
        type=Path,
        default=None,
        metavar="FIGURE.png",
        help="also draw the hypnogram: .png, .svg or .pdf",
    )
    stage.add_argument(
        "--device", default=None, help="cpu (default), cuda, cuda:1 or auto"
    )
    stage.add_argument(
        "--overwrite", action="store_true", help="replace --out and --plot"
    )
    stage.add_argument("--quiet", action="store_true", help="no progress bar")
    stage.set_defaults(run=_stage)

    info = commands.add_parser(
        "info",
        help="print a model file's metadata as JSON",
        description="Print the versions, sampling rate, channels, window length, "
        "classes, pipeline steps and training summary of a model file.",
    )
    _add_model_argument(info)
    info.set_defaults(run=_info)

    detect = commands.add_parser(
        "detect",
        help="detect events in a recording with a model file",
        description="Slide the model's windows over a recording (EDF, BDF, FIF "
        "or BrainVision, read in chunks), merge positive windows into events "
        "and write them as a BIDS events.tsv, a CSV or EDF+ annotations; "
        "optionally plot them. The recording must have the model's sampling "
        "rate and channels.",
    )
    _add_model_argument(detect)
    detect.add_argument(
        "recording",
        type=Path,
        metavar="RECORDING",
        help=_RECORDING_HELP,
    )
    detect.add_argument(
        "--out",
        type=Path,
        required=True,
        metavar="EVENTS.tsv",
        help="events file: .tsv (BIDS events: onset, duration, peak, score, "
        "channels) or .csv; or .edf: the recording as EDF+ with the events as "
        "annotations, for an EEG viewer (loads the whole recording; peaks and "
        "scores are not kept)",
    )
    detect.add_argument(
        "--plot",
        type=Path,
        default=None,
        metavar="FIGURE.png",
        help="also draw events per hour over the recording and the page of "
        "traces around the highest-scoring event: .png, .svg or .pdf",
    )
    detect.add_argument(
        "--plot-page",
        type=_positive_float,
        default=30.0,
        metavar="S",
        help="seconds of traces in the --plot figure (default: 30)",
    )
    detect.add_argument(
        "--overwrite",
        action="store_true",
        help="replace --out and --plot if they exist",
    )
    _add_detection_options(detect)
    detect.set_defaults(run=_detect)

    evaluate = commands.add_parser(
        "evaluate",
        help="detect events in a recording and score them against reference events",
        description="Detect as 'skeeg detect' does, match the detections one to "
        "one to reference events, and print event precision, recall, F1 and "
        "false detections per hour.",
    )
    _add_model_argument(evaluate)
    evaluate.add_argument(
        "--data",
        type=Path,
        required=True,
        metavar="RECORDING",
        help=_RECORDING_HELP,
    )
    evaluate.add_argument(
        "--events",
        type=Path,
        required=True,
        metavar="REF.tsv",
        help="reference events (.tsv or .csv with an onset column, seconds)",
    )
    evaluate.add_argument(
        "--method",
        choices=("peak", "iou"),
        default="peak",
        help="peak: pair events whose peaks are within --tolerance; iou: pair "
        "events whose intervals overlap by at least --iou (default: peak)",
    )
    evaluate.add_argument(
        "--tolerance",
        type=float,
        default=0.5,
        metavar="S",
        help="peak tolerance in seconds (default: 0.5)",
    )
    evaluate.add_argument(
        "--iou",
        type=float,
        default=0.2,
        metavar="R",
        help="smallest intersection over union of a pair (default: 0.2)",
    )
    _add_detection_options(evaluate)
    evaluate.set_defaults(run=_evaluate)
    return parser


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    if isinstance(exc, CLIError | ValueError | FileNotFoundError | FileExistsError):
        return text
    return f"{type(exc).__name__}: {text}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``skeeg`` command.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments after ``skeeg``; default ``sys.argv[1:]``.

    Returns
    -------
    status : int
        0 on success; 2 for a usage error; 1 for any other error, reported as
        one line on stderr (``--traceback`` re-raises it instead).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        return int(exc.code or 0)
    args.argv = argv
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print(f"skeeg {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.traceback:
            raise
        print(f"skeeg {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
