"""The ``skeeg`` command: demo, train, inspect, detect and evaluate.

::

    skeeg demo --out out
    skeeg train --data windows.npz --model sc --loss sasu --out model.skeeg --cv 5
    skeeg info model.skeeg
    skeeg detect model.skeeg night.edf --out night_events.tsv --plot night.png
    skeeg evaluate model.skeeg --data night.edf --events night_reference.tsv

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

#: The models ``skeeg train --model`` builds.
MODELS = ("sc", "resnet1d", "inceptiontime", "features")
_DEEP = {
    "sc": "SCClassifier",
    "resnet1d": "ResNet1DClassifier",
    "inceptiontime": "InceptionTimeClassifier",
}
# Options that only the deep models take (dest -> flag), to refuse them for
# "features" instead of ignoring them.
_DEEP_OPTIONS = {
    "loss": "--loss",
    "epochs": "--epochs",
    "width": "--width",
    "batch_size": "--batch-size",
    "lr": "--lr",
    "optimizer": "--optimizer",
    "device": "--device",
}
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
        args.out, prevalence=args.prevalence, epochs=args.epochs, seed=args.seed
    )
    return 0


# -- train -----------------------------------------------------------------------------
def _load_npz(path: Path) -> dict:
    """The arrays of a training .npz, checked for shape and content."""
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
    missing = [key for key in ("X", "y", "sfreq") if key not in arrays]
    if missing:
        raise CLIError(
            f"{str(path)!r} has no {', '.join(missing)} (it has "
            f"{', '.join(sorted(arrays)) or 'nothing'}); expected {_NPZ_HELP}"
        )
    X, y = arrays["X"], arrays["y"]
    if X.ndim != 3 or X.dtype.kind not in "fiu":
        raise CLIError(
            f"X in {str(path)!r} must be a numeric array of shape (n_windows, "
            f"n_channels, n_times); got shape {X.shape}, dtype {X.dtype}"
        )
    for key in ("y", "groups"):
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
        "sfreq": float(sfreq),
        "ch_names": ch_names,
    }


def _build_model(args: argparse.Namespace, sfreq: float):
    """The Pipeline of ``--model``; the classifier is its step "clf"."""
    from sklearn.pipeline import Pipeline

    if args.model == "features":
        given = [flag for dest, flag in _DEEP_OPTIONS.items() if getattr(args, dest)]
        if given:
            raise CLIError(
                f"{', '.join(given)} apply to the deep models "
                f"({', '.join(_DEEP)}), not to --model features"
            )
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
    if not args.l_freq < args.h_freq < sfreq / 2:
        raise CLIError(
            f"the band-pass needs --l-freq < --h-freq < sfreq/2 = {sfreq / 2:g} Hz; "
            f"got --l-freq {args.l_freq:g}, --h-freq {args.h_freq:g}"
        )
    from skeeg.preprocessing import BandpassFilter, Scaler

    settings = {
        "loss": args.loss,
        "max_epochs": args.epochs,
        "width": args.width,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "optimizer": args.optimizer,
        "device": args.device,
    }
    clf = getattr(skeeg, _DEEP[args.model])(
        **{k: v for k, v in settings.items() if v is not None},
        random_state=args.seed,
        verbose=0 if args.quiet else 1,
    )
    return Pipeline(
        [
            ("bandpass", BandpassFilter(sfreq, args.l_freq, args.h_freq)),
            ("scale", Scaler()),
            ("clf", clf),
        ]
    )


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
    fit_params = (
        {"clf__groups": groups} if args.model in _DEEP and groups is not None else {}
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
def _progress(done: int, total: int) -> None:
    end = "\n" if done == total else ""
    print(f"\rscored {done}/{total} windows", end=end, file=sys.stderr, flush=True)


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
        progress=None if args.quiet else _progress,
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
        choices=MODELS,
        required=True,
        help="sc: SCClassifier (iEDeaL's network); resnet1d: 1-D ResNet-18; "
        "inceptiontime: InceptionTime; features: SpikeFeatures + logistic "
        "regression (the classical detector)",
    )
    train.add_argument(
        "--loss",
        choices=("bce", "bbce", "wbce", "ewbce", "focal", "sf", "sasu"),
        default=None,
        help="loss strategy of a deep model (default: the model's, sasu for sc, "
        "bce for the others); see docs/estimators.md",
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
    train.add_argument(
        "--epochs",
        type=_positive_int,
        default=None,
        help="training epochs (default: the model's, 30)",
    )
    train.add_argument(
        "--width",
        type=_positive_int,
        default=None,
        help="channels inside the network (default: the model's, 16 for sc, 64 "
        "for resnet1d, 32 for inceptiontime)",
    )
    train.add_argument(
        "--batch-size",
        type=_positive_int,
        default=None,
        help="windows per batch (default: the model's, 64)",
    )
    train.add_argument(
        "--lr",
        type=_positive_float,
        default=None,
        help="learning rate (default: the model's, 3e-3)",
    )
    train.add_argument(
        "--optimizer",
        choices=("sgd", "adam", "adamw"),
        default=None,
        help="optimizer (default: adam, the models' default; sgd adds momentum "
        "0.9 and weight decay 1e-4)",
    )
    train.add_argument(
        "--l-freq",
        type=_positive_float,
        default=1.0,
        metavar="HZ",
        help="band-pass low cut-off of the deep models in Hz (default: 1)",
    )
    train.add_argument(
        "--h-freq",
        type=_positive_float,
        default=50.0,
        metavar="HZ",
        help="band-pass high cut-off in Hz, below sfreq/2 (default: 50)",
    )
    train.add_argument(
        "--device", default=None, help="cpu, cuda, cuda:1 or auto (default: auto)"
    )
    train.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    train.add_argument(
        "--quiet", action="store_true", help="no per-epoch progress table"
    )
    train.set_defaults(run=_train)

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
