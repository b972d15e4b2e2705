"""iEDeaL loss ablation (paper Table 3) on real background EEG and on Bonn.

Seven loss strategies on the SC network, and SC+SaSu against ResNet-1D and
InceptionTime trained with BCE, at decreasing prevalences of the positive
class, cross-validated by subject (Bonn: by segment) over several seeds.

Data
----
- ``eegmat``: IEDs injected by :func:`skeeg.datasets.make_ied_dataset` into
  the real resting/arithmetic EEG of PhysioNet eegmat (500 Hz, chain
  Fp1-F7-T3-T5-O1-O2, 5 bipolar derivations, 1.5-s windows). Each subject is
  generated on its own with the same prevalence, so every subject (hence every
  fold) holds positives even at 0.5 %.
- ``bonn``: the real Bonn sets, two tasks: ictal S vs all others, and
  interictal N+F vs healthy Z+O; windows of 1.5 s, the positive windows
  subsampled to the prevalence, groups = segment.

Every strategy and model gets the same data, preprocessing and training recipe
(:data:`SIZES`); only ``loss`` and the network differ.

    python benchmarks/iedeal_ablation.py --size reduced
    python benchmarks/iedeal_ablation.py --size full --device cuda
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402

from skeeg.evaluation.metrics import scores_table

#: The seven loss strategies of the paper's Table 3, in its order.
LOSSES = ("bce", "bbce", "wbce", "ewbce", "focal", "sf", "sasu")
#: Prevalences in the order they run: the sanity gate's 10 % first, then the
#: strong imbalance the expectation is about, so a run cut short has those.
PREVALENCES = (0.10, 0.05, 0.02, 0.01, 0.005, 0.25)
#: The eegmat subjects of the published reduced run (the folder then held only
#: these ten; it now holds all 36, so runs name their subjects).
FIRST_TEN_SUBJECTS = (0, 1, 2, 3, 4, 5, 6, 7, 9, 10)
#: Referential chain whose 5 bipolar derivations stand in for the paper's 5.
CHAIN = ("EEG Fp1", "EEG F7", "EEG T3", "EEG T5", "EEG O1", "EEG O2")
#: Bonn tasks: name -> (positive sets, negative sets).
BONN_TASKS = {
    "S_vs_rest": (("S",), ("Z", "O", "N", "F")),
    "NF_vs_ZO": (("N", "F"), ("Z", "O")),
}
METRICS = ("f1", "f2", "precision", "recall", "auprc", "auroc")


@dataclass(frozen=True)
class Size:
    """Everything a run size fixes; identical for every strategy and model.

    Attributes
    ----------
    prevalences, bonn_prevalences : tuple of float
        Prevalences of the eegmat and Bonn experiments.
    losses : tuple of str
        SC loss strategies.
    baselines : tuple of str
        Networks trained with BCE against SC+SaSu ("ResNet1D",
        "InceptionTime"), and "features": the classical detector
        (SpikeFeatures + balanced logistic regression on the raw windows).
    windows_per_subject : int or None
        eegmat windows drawn per subject (None: all, stride ``stride_s``).
    bonn_windows : int
        Windows per Bonn task and prevalence (positives + negatives), fewer
        when a task has too few negative windows.
    n_splits : int
        GroupKFold folds.
    n_seeds : int
        Default number of seeds.
    sfreq : float
        eegmat windows are resampled to this rate inside the pipeline.
    width, max_epochs, batch_size, lr : recipe
        Network width (all three models), epochs, mini-batch, Adam's rate.
    validation_fraction : float or None
        The estimators' internal validation split; None keeps the last epoch.
    threshold : float or "auto"
        The estimators' ``threshold``; "auto" tunes it on the validation
        split (``--threshold auto`` sets it with ``validation_fraction=0.2``).
    norm : str
        Normalisation of every network (the published run used "instance",
        then every network's default).
    stride_s, amplitude_snr, hard_negative_fraction : eegmat generator
        See :func:`skeeg.datasets.make_ied_dataset`.
    eegmat_subjects : tuple of int
        eegmat subject numbers used as background.
    """

    prevalences: tuple[float, ...]
    bonn_prevalences: tuple[float, ...]
    losses: tuple[str, ...] = LOSSES
    baselines: tuple[str, ...] = ("ResNet1D", "features")
    windows_per_subject: int | None = 200
    bonn_windows: int = 1000
    n_splits: int = 3
    n_seeds: int = 3
    sfreq: float = 250.0
    width: int = 8
    max_epochs: int = 10
    batch_size: int = 64
    lr: float = 3e-3
    validation_fraction: float | None = None
    threshold: float | str = 0.5
    norm: str = "instance"
    stride_s: float = 0.25
    amplitude_snr: tuple[float, float] = (10.0, 15.0)
    hard_negative_fraction: float = 0.0
    eegmat_subjects: tuple[int, ...] = FIRST_TEN_SUBJECTS


SIZES = {
    "smoke": Size(
        prevalences=(0.25, 0.10),
        bonn_prevalences=(0.10,),
        losses=("bce", "sasu"),
        baselines=("features",),
        windows_per_subject=40,
        bonn_windows=200,
        n_splits=2,
        n_seeds=1,
        width=4,
        max_epochs=2,
        eegmat_subjects=(0, 1, 2, 3),
    ),
    "reduced": Size(prevalences=PREVALENCES, bonn_prevalences=(0.05, 0.01)),
    # The eegmat rows of "reduced" alone, for the main losses and the simple
    # detector: re-measures them after a change to the generator.
    "eegmat": Size(
        prevalences=PREVALENCES,
        bonn_prevalences=(),
        losses=("bce", "wbce", "sasu"),
        baselines=("features",),
    ),
    # The same with SCClassifier's training defaults (width 16, 30 epochs,
    # layer norm, Adam 3e-3 decayed to 1e-5): what a user who changes nothing
    # gets, against the simple detector.
    "eegmat_sc_defaults": Size(
        prevalences=(0.10, 0.05, 0.02, 0.01),
        bonn_prevalences=(),
        losses=("bce", "sasu"),
        baselines=("features",),
        n_seeds=2,
        width=16,
        max_epochs=30,
        norm="layer",
    ),
    "full": Size(
        prevalences=PREVALENCES,
        eegmat_subjects=tuple(range(36)),
        bonn_prevalences=PREVALENCES,
        windows_per_subject=None,
        baselines=("ResNet1D", "InceptionTime", "features"),
        bonn_windows=6000,
        n_splits=5,
        n_seeds=5,
        sfreq=500.0,
        width=32,
        max_epochs=50,
        batch_size=256,
    ),
}


def load_eegmat_raws(
    data: Path, subject_ids: tuple[int, ...]
) -> tuple[list, list[str]]:
    """Rest and task recordings of the given eegmat subjects, concatenated."""
    import mne

    from skeeg.datasets import read_raw

    files = [str(data / "eegmat" / f"Subject{k:02d}_1.edf") for k in subject_ids]
    raws, subjects = [], []
    for rest in files:
        parts = [read_raw(rest), read_raw(rest.replace("_1.edf", "_2.edf"))]
        raws.append(mne.concatenate_raws(parts, verbose=False))
        subjects.append(Path(rest).name.split("_")[0])
    return raws, subjects


def eegmat_dataset(raws, subjects, size: Size, prevalence: float, seed: int):
    """Injected-IED windows, generated subject by subject at one prevalence."""
    from skeeg.datasets import make_ied_dataset

    parts = [
        make_ied_dataset(
            [raw],
            ch_names=list(CHAIN),
            subjects=[subject],
            stride_s=size.stride_s,
            n_windows=size.windows_per_subject,
            prevalence=prevalence,
            amplitude_snr=size.amplitude_snr,
            hard_negative_fraction=size.hard_negative_fraction,
            random_state=1000 * seed + k,
        )
        for k, (raw, subject) in enumerate(zip(raws, subjects, strict=True))
    ]
    X, y, groups = (
        np.concatenate([getattr(p, field) for p in parts])
        for field in ("X", "y", "groups")
    )
    return X, y, groups, parts[0].sfreq


def bonn_dataset(bonn, task: str, size: Size, prevalence: float, seed: int):
    """Bonn windows of one task: positives subsampled to ``prevalence``."""
    positive_sets, negative_sets = BONN_TASKS[task]
    rng = np.random.default_rng(seed)
    pos = np.flatnonzero(np.isin(bonn.y, positive_sets))
    neg = np.flatnonzero(np.isin(bonn.y, negative_sets))
    n_neg = min(len(neg), round((1 - prevalence) * size.bonn_windows))
    n_pos = round(n_neg * prevalence / (1 - prevalence))
    keep = np.sort(
        np.concatenate(
            [
                rng.choice(pos, n_pos, replace=False),
                rng.choice(neg, n_neg, replace=False),
            ]
        )
    )
    y = np.isin(bonn.y[keep], positive_sets).astype(int)
    return bonn.X[keep], y, bonn.groups[keep], bonn.sfreq


def make_pipeline(
    model: str,
    loss: str,
    sfreq: float,
    size: Size,
    seed: int,
    device: str,
):
    """Band-pass 1-50 Hz, resample (eegmat), scale, then the network; or, for
    ``model="features"``, the classical detector on the raw windows
    (:class:`skeeg.features.SpikeFeatures` + balanced logistic regression)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from skeeg import InceptionTimeClassifier, ResNet1DClassifier, SCClassifier
    from skeeg.features import SpikeFeatures
    from skeeg.preprocessing import BandpassFilter, Resampler, Scaler

    if model == "features":
        return Pipeline(
            [
                ("features", SpikeFeatures()),
                ("scale", StandardScaler()),
                (
                    "clf",
                    LogisticRegression(class_weight="balanced", max_iter=1000),
                ),
            ]
        )

    classes = {
        "SC": SCClassifier,
        "ResNet1D": ResNet1DClassifier,
        "InceptionTime": InceptionTimeClassifier,
    }
    clf = classes[model](
        loss=loss,
        norm=size.norm,
        width=size.width,
        max_epochs=size.max_epochs,
        batch_size=size.batch_size,
        lr=size.lr,
        optimizer="adam",
        validation_fraction=size.validation_fraction,
        threshold=size.threshold,
        random_state=seed,
        device=device,
    )
    steps = [("bandpass", BandpassFilter(sfreq, 1.0, 50.0))]
    if sfreq > size.sfreq:
        steps.append(("resample", Resampler(sfreq, size.sfreq)))
    steps += [("scale", Scaler()), ("clf", clf)]
    return Pipeline(steps)


def runs(size: Size) -> list[tuple[str, str]]:
    """(model, loss) pairs: the SC loss ablation, then the baselines."""
    return [("SC", loss) for loss in size.losses] + [
        (model, "logreg" if model == "features" else "bce") for model in size.baselines
    ]


def experiments(size: Size, data: Path):
    """Yield (dataset, task, prevalence, loader) for every data setting."""
    from skeeg.datasets import load_bonn

    raws, subjects = load_eegmat_raws(data, size.eegmat_subjects)
    for prevalence in size.prevalences:
        yield (
            "eegmat",
            "injected_IED",
            prevalence,
            lambda seed, p=prevalence: eegmat_dataset(raws, subjects, size, p, seed),
        )
    bonn = load_bonn(data / "bonn_epilepsy", window_s=1.5)
    for task in BONN_TASKS:
        for prevalence in size.bonn_prevalences:
            yield (
                "bonn",
                task,
                prevalence,
                lambda seed, t=task, p=prevalence: bonn_dataset(bonn, t, size, p, seed),
            )


def aggregate(rows: list[dict]) -> list[dict]:
    """Mean and sd over seeds per (dataset, task, prevalence, model, loss)."""
    keys = ("dataset", "task", "prevalence", "model", "loss")
    cells: dict[tuple, list[dict]] = {}
    for row in rows:
        cells.setdefault(tuple(row[k] for k in keys), []).append(row)
    out = []
    for key, group in cells.items():
        agg = dict(zip(keys, key, strict=True))
        extra = ("f1_auto",) if "f1_auto" in group[0] else ()
        for metric in (*METRICS, *extra, "fit_s"):
            values = np.array([r[metric] for r in group], dtype=float)
            agg[metric] = float(np.nanmean(values))
            agg[f"{metric}_sd"] = float(np.nanstd(values))
        agg["n_seeds"] = len(group)
        out.append(agg)
    return out


def label(model: str, loss: str) -> str:
    return loss if model == "SC" else f"{model}+{loss}"


def table3(agg: list[dict], metric: str = "f1") -> str:
    """Paper-Table-3-like text: a row per data setting, a column per run,
    ``mean±sd`` over seeds, then the average rank of each column (1 = best;
    ranked among the SC losses and, separately, among SC+SaSu and the
    baselines)."""
    from scipy.stats import rankdata

    panels = list(dict.fromkeys((a["dataset"], a["task"]) for a in agg))
    settings = sorted(
        {(a["dataset"], a["task"], a["prevalence"]) for a in agg},
        key=lambda s: (panels.index(s[:2]), -s[2]),
    )
    columns = list(dict.fromkeys((a["model"], a["loss"]) for a in agg))
    lookup = {
        (a["dataset"], a["task"], a["prevalence"], a["model"], a["loss"]): a
        for a in agg
    }
    sc = [c for c in columns if c[0] == "SC"]
    versus = [c for c in columns if c[0] != "SC"]
    if versus and ("SC", "sasu") in columns:
        versus = [("SC", "sasu"), *versus]
    header = ["setting", *(label(*c) for c in columns)]
    lines, ranks_sc, ranks_vs = [], [], []
    for setting in settings:
        cells = [lookup.get((*setting, *c)) for c in columns]
        lines.append(
            [f"{setting[0]}/{setting[1]} {100 * setting[2]:g}%"]
            + [
                "" if c is None else f"{c[metric]:.3f}±{c[f'{metric}_sd']:.3f}"
                for c in cells
            ]
        )
        for group, store in ((sc, ranks_sc), (versus, ranks_vs)):
            values = [lookup.get((*setting, *c)) for c in group]
            if len(group) > 1 and all(v is not None for v in values):
                ranked = rankdata([-v[metric] for v in values])
                store.append(dict(zip(group, ranked, strict=True)))
    rank_row = ["avg rank (SC losses)"]
    vs_row = ["avg rank (SaSu vs baselines)"]
    for c in columns:
        rank_row.append(
            f"{np.mean([r[c] for r in ranks_sc]):.2f}" if c in sc and ranks_sc else ""
        )
        vs_row.append(
            f"{np.mean([r[c] for r in ranks_vs]):.2f}"
            if c in versus and ranks_vs
            else ""
        )
    lines.append(rank_row)
    if ranks_vs:
        lines.append(vs_row)
    return scores_table([dict(zip(header, r, strict=True)) for r in lines], header)


def summary_table(agg: list[dict]) -> str:
    """Every metric and the fit time per data set and run, averaged over the
    prevalences (each prevalence first averaged over seeds)."""
    cells: dict[tuple, list[dict]] = {}
    for a in agg:
        key = (f"{a['dataset']}/{a['task']}", label(a["model"], a["loss"]))
        cells.setdefault(key, []).append(a)
    rows = [
        {
            "data": data,
            "run": run,
            **{
                m: float(np.nanmean([a[m] for a in group])) for m in (*METRICS, "fit_s")
            },
        }
        for (data, run), group in cells.items()
    ]
    return scores_table(rows, ["data", "run", *METRICS, "fit_s"])


def sanity_gate(agg: list[dict], threshold: float = 0.6) -> str:
    """Whether plain SC+BCE learns at 10 % prevalence on eegmat (AUROC).

    The data and recipe were fixed so that this holds before any other loss
    was run; a comparison of losses on a model that learns nothing is noise.
    """
    for a in agg:
        if (a["dataset"], a["model"], a["loss"], a["prevalence"]) == (
            "eegmat",
            "SC",
            "bce",
            0.10,
        ):
            verdict = "passed" if a["auroc"] >= threshold else "FAILED"
            return (
                f"Sanity gate {verdict}: SC+BCE at 10 % prevalence on eegmat has "
                f"AUROC {a['auroc']:.3f}±{a['auroc_sd']:.3f} (needs >= {threshold})."
            )
    return "Sanity gate not evaluated (no SC+BCE run at 10 % on eegmat)."


def plot(agg: list[dict], path: Path) -> None:
    """F1 (mean ± sd over seeds) against prevalence, a panel per data set."""
    plt = harness.pyplot()

    panels = list(dict.fromkeys((a["dataset"], a["task"]) for a in agg))
    fig, axes = plt.subplots(
        1, len(panels), figsize=(4.5 * len(panels), 4), squeeze=False, sharey=True
    )
    for ax, panel in zip(axes[0], panels, strict=True):
        for model, loss in dict.fromkeys((a["model"], a["loss"]) for a in agg):
            points = sorted(
                (a["prevalence"], a["f1"], a["f1_sd"])
                for a in agg
                if (a["dataset"], a["task"], a["model"], a["loss"])
                == (*panel, model, loss)
            )
            if not points:
                continue
            p, m, s = np.array(points).T
            ax.errorbar(
                100 * p,
                m,
                yerr=s,
                marker="o",
                capsize=2,
                label=label(model, loss),
                lw=2.5 if loss == "sasu" and model == "SC" else 1.2,
                ls="-" if model == "SC" else "--",
            )
        ax.set_xscale("log")
        ticks = sorted({100 * a["prevalence"] for a in agg if a["dataset"] == panel[0]})
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax.minorticks_off()
        ax.set_xlabel("prevalence of positive windows (%)")
        ax.set_title(f"{panel[0]} / {panel[1]}")
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("F1 (threshold 0.5), mean ± sd over seeds")
    axes[0, -1].legend(fontsize=7, loc="upper left")
    harness.save_figure(fig, path)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = harness.argument_parser(
        __doc__,
        SIZES,
        threads={"help": "torch CPU threads per worker (default: torch's)"},
    )
    parser.add_argument(
        "--jobs", type=int, default=1, help="runs trained in parallel (joblib)"
    )
    parser.add_argument(
        "--threshold",
        choices=["0.5", "auto"],
        default="0.5",
        help="estimator threshold; 'auto' also sets validation_fraction=0.2 and "
        "reports F1 at 0.5 and at the tuned threshold of the same models",
    )
    parser.add_argument(
        "--report",
        type=Path,
        default=None,
        help="print and rewrite the tables and plot of this results JSON; no training",
    )
    return parser.parse_args(argv)


def write_outputs(
    stem: Path, meta: dict, rows: list[dict], rewrite: bool = False
) -> tuple[dict, str]:
    """Write ``<stem>.json``, ``<stem>.txt`` (the tables) and ``<stem>_f1.png``.

    Called after every data setting, so a run stopped early leaves its
    finished settings on disk; ``rewrite``: the tables of saved results.
    """
    agg = aggregate(rows)
    text = "\n\n".join(
        [
            sanity_gate(agg),
            f"F1 at threshold 0.5, mean±sd over {len(meta['seeds'])} seed(s):",
            table3(agg, "f1"),
            *(
                [
                    "F1 at threshold='auto' (same models), mean±sd:",
                    table3(agg, "f1_auto"),
                ]
                if agg and "f1_auto" in agg[0]
                else []
            ),
            "AUPRC, mean±sd:",
            table3(agg, "auprc"),
            "Precision at threshold 0.5, mean±sd:",
            table3(agg, "precision"),
            "Recall at threshold 0.5, mean±sd:",
            table3(agg, "recall"),
            "Mean over prevalences (fit_s: total fit seconds of the CV folds):",
            summary_table(agg),
        ]
    )
    result = harness.write_results(
        stem, meta, rows, text, rewrite=rewrite, aggregated=agg
    )
    plot(agg, stem.parent / f"{stem.name}_f1.png")
    return result, text


def evaluate(
    model: str,
    loss: str,
    X: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    sfreq: float,
    size: Size,
    seed: int,
    device: str,
    threads: int | None,
) -> dict:
    """Out-of-fold scores of one model and loss on one data set (a worker)."""
    import torch
    from sklearn.metrics import f1_score

    from skeeg.evaluation.metrics import window_scores
    from skeeg.evaluation.out_of_fold import grouped_oof_predictions

    if threads:
        torch.set_num_threads(threads)
    pipe = make_pipeline(model, loss, sfreq, size, seed, device)
    oof = grouped_oof_predictions(
        pipe,
        X,
        y,
        groups,
        n_splits=size.n_splits,
        fit_groups_param=None if model == "features" else "clf__groups",
    )
    scores = window_scores(y, oof.proba)
    row = {
        "model": model,
        "loss": loss,
        "seed": seed,
        "n_windows": int(len(y)),
        "n_pos": int(y.sum()),
        **{m: float(scores[m]) for m in METRICS},
        "fit_s": oof.fit_seconds,
    }
    if size.threshold == "auto":
        # Same fitted models: F1 at each fold's tuned threshold (the
        # classical detector has none).
        tuned = model != "features"
        row["f1_auto"] = (
            float(f1_score(y, oof.pred, zero_division=0)) if tuned else float("nan")
        )
    return row


def main(argv: list[str] | None = None) -> dict:
    """Run the ablation; print the tables, write JSON and the F1 plot.

    ``argv``: the command line (default ``sys.argv[1:]``). Returns ``{"metadata":
    ..., "rows": [...], "aggregated": [...]}``, as written to
    ``<out>/iedeal_ablation_<size>.json``.
    """
    import torch
    from joblib import Parallel, delayed

    args = parse_args(argv)
    if args.report is not None:
        saved = json.loads(args.report.read_text())
        result, text = write_outputs(
            args.report.with_suffix(""), saved["metadata"], saved["rows"], True
        )
        print(text)
        return result
    size, seeds = harness.start_study(args, SIZES, "eegmat", "bonn_epilepsy")
    stem = f"iedeal_ablation_{args.size}"
    if args.threshold == "auto":
        size = replace(size, threshold="auto", validation_fraction=0.2)
        stem += "_auto"
    meta = harness.provenance(
        __file__,
        argv,
        args,
        recipe=asdict(size),
        seeds=seeds,
        torch_threads_per_worker=args.threads or torch.get_num_threads(),
        jobs=args.jobs,
    )
    rows = []
    start = time.perf_counter()
    parallel = Parallel(n_jobs=args.jobs, return_as="generator")
    for dataset, task, prevalence, load in experiments(size, args.data):
        jobs = []
        for seed in seeds:
            X, y, groups, sfreq = load(seed)
            jobs += [
                delayed(evaluate)(
                    model,
                    loss,
                    X,
                    y,
                    groups,
                    sfreq,
                    size,
                    seed,
                    args.device,
                    args.threads,
                )
                for model, loss in runs(size)
            ]
        for row in parallel(jobs):
            rows.append(
                {"dataset": dataset, "task": task, "prevalence": prevalence, **row}
            )
            print(
                f"[{time.perf_counter() - start:6.0f}s] {dataset}/{task} "
                f"p={prevalence:g} seed={row['seed']} "
                f"{label(row['model'], row['loss']):>18}: F1={row['f1']:.3f} "
                f"AUROC={row['auroc']:.3f} fit={row['fit_s']:.1f}s",
                flush=True,
            )
        result, text = write_outputs(args.out / stem, meta, rows)
    print(text)
    print(f"wrote {args.out}/{stem}.* in {meta['wall_s']:.0f} s")
    return result


if __name__ == "__main__":
    main()
