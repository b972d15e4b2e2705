"""Subject classification from EEG windows: the seed study's Table III protocol
on PhysioNet eegmat (issue #13).

The seed study (Alzheimer's patients vs controls from 10-s PSG windows) has no
public data; two real eegmat tasks stand in for it:

- ``rest_vs_task`` (the headline): rest vs mental arithmetic, a window-level
  state label, cross-validated with ``GroupKFold`` by subject; the
  labelled-fraction sweep masks the training labels by whole subject
  (:func:`skeeg.evaluation.mask_labels`).
- ``counters``: good (26) vs bad (10) counters, a true subject-level label,
  with rest/task as the per-condition axis in place of the sleep stage;
  ``StratifiedGroupKFold`` by subject (so that every test fold holds bad
  counters).

Models: SMATE, TapNet, XCM and the HMM classifier, supervised and (SMATE,
TapNet, HMM) semi-supervised on ``-1``; SMATE's spatial / temporal ablations;
SMATE fitted on the labelled windows alone (the comparison the seed's claim
rests on); log band powers + logistic regression on the same folds (at a
labelled fraction: on the labelled windows alone). At 0 % labels none of
SMATE, TapNet or the HMM can be fitted (each needs a labelled window per
class: SMATE's SVM, TapNet's prototypes, the HMM's state-to-class map), so
that point is reported as "not applicable".

Preprocessing, as the seed: Butterworth band-pass 0.3-35 Hz (order 4, zero
phase) on the 500-Hz windows, resampling (64 Hz in ``reduced``, the seed's
128 Hz in ``full``), z-score per subject and channel (over both recordings of
a subject, label-free, so the test subjects are standardised the same way),
10-s windows; the seed's 4 EEG channels are stood in for by F4, C4, O2, C3.

    nice python benchmarks/subject_classification.py --size reduced
    python benchmarks/subject_classification.py --size full --device cuda
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import logging
import os
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import ttest_rel
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold, StratifiedGroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.metaestimators import available_if

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402

from skeeg import (
    HMMClassifier,
    SMATEClassifier,
    TapNetClassifier,
    XCMClassifier,
)
from skeeg.datasets import load_eegmat
from skeeg.estimators.eeg_classifier import is_unlabelled
from skeeg.evaluation import mask_labels
from skeeg.evaluation.protocol import anova_summary, evaluate_per_condition
from skeeg.features import DEFAULT_BANDS, BandPowers
from skeeg.preprocessing import BandpassFilter, Resampler

#: The seed's 4 PSG EEG channels (F4, C4, O2 and C3 against the mastoids)
#: stood in for by the same 10-20 sites of eegmat's montage.
CHANNELS = ("EEG F4", "EEG C4", "EEG O2", "EEG C3")
WINDOW_S = 10.0
BANDPASS = (0.3, 35.0)
SOURCE_SFREQ = 500.0
SEMI_SUPERVISED = ("SMATE", "TapNet", "HMM")
SUPERVISED = ("band_power_lr", "HMM", "SMATE", "TapNet", "XCM")
#: SMATE with the head skeeg had before issue #24 (an unweighted SVM with
#: C=1), refitted on the network of the "SMATE" cell of the same windows and
#: seed (the head's parameters do not change the network's training).
OLD_HEAD = {"C": 1.0, "class_weight": None}
ABLATIONS = ("SMATE_no_spatial", "SMATE_no_temporal")
METRICS = ("window_accuracy", "window_roc_auc", "subject_accuracy", "subject_roc_auc")


@dataclass(frozen=True)
class Size:
    """Everything a run size fixes.

    Attributes
    ----------
    subjects : tuple of int or None
        eegmat subject numbers; None: all 36.
    sfreq : float
        Sampling rate after resampling, in Hz.
    n_splits : int
        Subject-wise folds.
    seeds : tuple of int
        Seeds (network weights, batches, label masks).
    fractions : tuple of float
        Labelled fractions of the semi-supervised sweep on rest_vs_task
        (1.0 is the supervised row).
    counters : bool
        Run the good-vs-bad counters table.
    width, hidden, max_epochs, batch_size, lr : recipe of the deep models
        Convolution width; GRU / LSTM / embedding size; epochs; mini-batch;
        Adam's learning rate.
    hmm_iter : int
        EM iterations of each HMM (5 states, diagonal covariances).
    budget_min : float or None
        No new cell starts after this many minutes; None: no limit.
    """

    subjects: tuple[int, ...] | None
    sfreq: float
    n_splits: int
    seeds: tuple[int, ...]
    fractions: tuple[float, ...]
    counters: bool
    width: int
    hidden: int
    max_epochs: int
    batch_size: int
    lr: float
    hmm_iter: int
    budget_min: float | None


SIZES = {
    # The test's size: 2 bad and 2 good counters, one epoch.
    "smoke": Size(
        subjects=(0, 1, 4, 5),
        sfreq=32.0,
        n_splits=2,
        seeds=(0,),
        fractions=(0.0, 0.5),
        counters=True,
        width=4,
        hidden=4,
        max_epochs=1,
        batch_size=32,
        lr=1e-3,
        hmm_iter=5,
        budget_min=None,
    ),
    # 2 shared CPU cores, < 45 min: 64 Hz, 1 seed, fractions 0/10/20 %,
    # tiny networks trained 5 epochs.
    "reduced": Size(
        subjects=None,
        sfreq=64.0,
        n_splits=5,
        seeds=(0,),
        fractions=(0.0, 0.1, 0.2),
        counters=True,
        width=8,
        hidden=16,
        max_epochs=5,
        batch_size=64,
        lr=1e-3,
        hmm_iter=50,
        budget_min=40.0,
    ),
    # The protocol on a GPU.
    "full": Size(
        subjects=None,
        sfreq=128.0,
        n_splits=5,
        seeds=(0, 1, 2),
        fractions=(0.0, 0.1, 0.2, 0.4, 0.6, 0.8),
        counters=True,
        width=32,
        hidden=64,
        max_epochs=50,
        batch_size=128,
        lr=1e-3,
        hmm_iter=200,
        budget_min=None,
    ),
}


class _Delegating(MetaEstimatorMixin, ClassifierMixin, BaseEstimator):
    """Predicts with ``estimator_``, the classifier its ``fit`` leaves."""

    def predict(self, X) -> np.ndarray:
        """The fitted estimator's labels, shape (n_windows,)."""
        return self.estimator_.predict(X)

    def predict_proba(self, X) -> np.ndarray:
        """The fitted estimator's probabilities, shape (n_windows, n_classes)."""
        return self.estimator_.predict_proba(X)


class LabelledOnly(_Delegating):
    """Fit ``estimator`` on the labelled windows alone (``y != -1``).

    The semi-supervised models' control: the same model and labels, without
    the unlabelled windows; also lets a supervised baseline run at a
    labelled fraction.

    Parameters
    ----------
    estimator : classifier
        Cloned and fitted on the labelled windows.
    """

    def __init__(self, estimator):
        self.estimator = estimator

    def fit(self, X, y, groups=None) -> LabelledOnly:
        """Fit a clone of ``estimator`` on the windows with ``y != -1``
        (``groups``, when given, reach its ``fit`` for those windows)."""
        y = np.asarray(y)
        keep = ~is_unlabelled(y)
        params = {} if groups is None else {"groups": np.asarray(groups)[keep]}
        self.estimator_ = clone(self.estimator).fit(
            np.asarray(X)[keep], y[keep], **params
        )
        self.classes_ = self.estimator_.classes_
        return self

    @available_if(lambda self: hasattr(self.estimator, "decision_function"))
    def decision_function(self, X) -> np.ndarray:
        """The fitted estimator's decision function (present only if it has one)."""
        return self.estimator_.decision_function(X)


class CachedNetworkHead(_Delegating):
    """A SMATE whose SVM head is refitted with ``head_params`` on the network
    ``estimator`` trained on the same windows, labels and seed (cached by
    :data:`_FITTED_SMATE` when the "SMATE" cell ran first; else trained).

    Parameters
    ----------
    estimator : SMATEClassifier
    head_params : dict
        Parameters of the head only (``C``, ``class_weight``).
    """

    def __init__(self, estimator, head_params):
        self.estimator = estimator
        self.head_params = head_params

    def fit(self, X, y, groups=None) -> CachedNetworkHead:
        """Refit the head on the cached (or a new) network of ``X, y``."""
        key = _fit_key(self.estimator, X, y)
        fitted = _FITTED_SMATE.get(key)
        if fitted is None:
            fitted = clone(self.estimator).fit(X, y, groups=groups)
        self.estimator_ = copy.copy(fitted).set_params(**self.head_params)
        self.estimator_._fit_head(X, y, groups)
        self.classes_ = self.estimator_.classes_
        return self


class CachingSMATE(SMATEClassifier):
    """SMATEClassifier that leaves each fitted model in :data:`_FITTED_SMATE`."""

    def fit(self, X, y=None, groups=None) -> CachingSMATE:
        super().fit(X, y, groups=groups)
        _FITTED_SMATE[_fit_key(self, X, y)] = self
        return self


#: Fitted "SMATE" models by (parameters, windows, labels) digest.
_FITTED_SMATE: dict = {}


def _fit_key(estimator, X, y) -> str:
    """Digest of the training parameters but the head's, the windows and labels."""
    params = {k: v for k, v in estimator.get_params().items() if k not in OLD_HEAD}
    digest = hashlib.blake2b(repr(sorted(params.items())).encode())
    digest.update(np.ascontiguousarray(X).tobytes())
    digest.update(np.asarray(y).astype(str).tobytes())
    return digest.hexdigest()


def load_data(data: Path, size: Size) -> dict:
    """Windows of every subject, preprocessed, with both tasks' labels.

    Returns
    -------
    dict with X (n_windows, 4, n_times) float32, ``state`` (0 rest, 1 task),
    ``counter`` (1 good, 0 bad counter), ``condition`` ("rest"/"task") and
    ``groups`` (subject id), one entry per window.
    """
    subjects = range(36) if size.subjects is None else size.subjects
    bandpass = BandpassFilter(SOURCE_SFREQ, *BANDPASS)
    resample = Resampler(SOURCE_SFREQ, size.sfreq)
    parts = []
    for subject in subjects:
        bunch = load_eegmat(
            data / "eegmat", subjects=[subject], window_s=WINDOW_S, channels=CHANNELS
        )
        X = resample.fit_transform(bandpass.fit_transform(bunch.X))
        X = (X - X.mean(axis=(0, 2), keepdims=True)) / X.std(axis=(0, 2), keepdims=True)
        meta = bunch.metadata
        parts.append(
            (
                X.astype(np.float32),
                bunch.y,
                meta["count_quality"].to_numpy(),
                meta["condition"].to_numpy(),
                bunch.groups,
            )
        )
    X, state, counter, condition, groups = (
        np.concatenate(p) for p in zip(*parts, strict=True)
    )
    return {
        "X": X,
        "state": state,
        "counter": counter,
        "condition": condition,
        "groups": groups,
    }


def make_model(name: str, size: Size, device: str, seed: int):
    """The estimator of one model name (see :data:`SUPERVISED`,
    :data:`ABLATIONS`; ``*_labelled_only``: :class:`LabelledOnly`)."""
    if name.endswith("_labelled_only"):
        return LabelledOnly(
            make_model(name.removesuffix("_labelled_only"), size, device, seed)
        )
    if name == "SMATE_old_head":
        return CachedNetworkHead(make_model("SMATE", size, device, seed), OLD_HEAD)
    deep = {
        "max_epochs": size.max_epochs,
        "batch_size": size.batch_size,
        "lr": size.lr,
        "optimizer": "adam",
        "validation_fraction": None,
        "random_state": seed,
        "device": device,
    }
    if name.startswith("SMATE"):
        return CachingSMATE(
            width=size.width,
            hidden_size=size.hidden,
            embedding_size=size.hidden,
            gru_layers=1,
            pool_size=round(size.sfreq),
            use_spatial=name != "SMATE_no_spatial",
            use_temporal=name != "SMATE_no_temporal",
            **deep,
        )
    if name == "TapNet":
        return TapNetClassifier(
            width=size.width,
            lstm_hidden=size.hidden,
            mapping_dims=(4 * size.hidden, size.hidden),
            attention_dim=size.hidden,
            **deep,
        )
    if name == "XCM":
        return XCMClassifier(width=size.width, **deep)
    if name == "HMM":
        return HMMClassifier(
            n_states=5,
            frame_s=1.0,
            sfreq=size.sfreq,
            n_iter=size.hmm_iter,
            random_state=seed,
        )
    if name == "band_power_lr":
        top = min(BANDPASS[1], size.sfreq / 2)
        bands = [(lo, min(hi, top)) for lo, hi in DEFAULT_BANDS if lo < top]
        return make_pipeline(
            BandPowers(sfreq=size.sfreq, bands=bands),
            StandardScaler(),
            LogisticRegression(max_iter=1000),
        )
    raise ValueError(f"Unknown model {name!r}.")


def cells(size: Size) -> list[tuple[str, str, float]]:
    """``(table, model, fraction)`` in the order they run: the headline first,
    so a run cut by its budget has it."""
    fractions = [f for f in size.fractions if f > 0]
    out = [("rest_vs_task", model, 1.0) for model in SUPERVISED]
    out.insert(
        out.index(("rest_vs_task", "SMATE", 1.0)) + 1,
        ("rest_vs_task", "SMATE_old_head", 1.0),
    )
    for fraction in fractions:
        out += [("rest_vs_task", m, fraction) for m in SEMI_SUPERVISED]
        out += [("rest_vs_task", "SMATE_old_head", fraction)]
        out += [
            ("rest_vs_task", f"{m}_labelled_only", fraction)
            for m in ("SMATE", "band_power_lr")
        ]
    out += [("rest_vs_task", model, 1.0) for model in ABLATIONS]
    if size.counters:
        out += [("counters", model, 1.0) for model in SUPERVISED]
    return out


def run_cell(data: dict, table: str, model: str, fraction: float, size, device, seed):
    """Fold rows of one model at one labelled fraction and seed."""
    estimator = make_model(model, size, device, seed)
    if table == "rest_vs_task":
        y, conditions = data["state"], None
        cv = GroupKFold(size.n_splits)
    else:
        y, conditions = data["counter"], data["condition"]
        cv = StratifiedGroupKFold(size.n_splits, shuffle=True, random_state=0)
    frame = evaluate_per_condition(
        estimator,
        data["X"],
        y,
        data["groups"],
        conditions,
        cv=cv,
        label_fraction=None if fraction == 1.0 else fraction,
        # The baseline's Pipeline.fit takes no groups.
        fit_groups_param=None if model.startswith("band_power_lr") else "groups",
        random_state=seed,
    )
    frame.insert(0, "seed", seed)
    frame.insert(0, "model", model)
    frame.insert(0, "table", table)
    return frame.to_dict("records")


def summarise(rows: list[dict]) -> pd.DataFrame:
    """Mean and sd over folds x seeds per table, condition, model and fraction."""
    frame = pd.DataFrame(rows)
    keys = ["table", "condition", "label_fraction", "model"]
    stats = frame.groupby(keys, sort=False)[[*METRICS, "fit_seconds"]].agg(
        ["mean", "std"]
    )
    out = pd.DataFrame(index=stats.index)
    for metric in METRICS:
        out[metric] = [
            f"{m:.3f} ± {s:.3f}"
            for m, s in zip(stats[metric]["mean"], stats[metric]["std"], strict=True)
        ]
    out["fit_s"] = stats["fit_seconds"]["mean"].round(1)
    out["n"] = frame.groupby(keys, sort=False).size()
    return out.reset_index()


def anova(rows: list[dict]) -> dict:
    """ANOVA + Tukey across the supervised models on rest_vs_task, per metric."""
    frame = pd.DataFrame(rows)
    frame = frame[(frame.table == "rest_vs_task") & (frame.label_fraction == 1.0)]
    frame = frame[frame.model.isin(SUPERVISED)]
    out = {}
    for metric in ("window_roc_auc", "subject_roc_auc"):
        scores = {
            m: g[metric].to_numpy() for m, g in frame.groupby("model", sort=False)
        }
        if len(scores) < 2 or min(len(s) for s in scores.values()) < 2:
            continue
        summary = anova_summary(scores)
        out[metric] = {
            "f_statistic": float(summary.f_statistic),
            "p_value": float(summary.p_value),
            "models": summary.models.to_dict("records"),
            "tukey": summary.tukey.to_dict("records"),
        }
    return out


def paired_comparisons(rows: list[dict]) -> list[dict]:
    """Each model against its reference on the same folds, seeds and label
    masks (rest_vs_task): the semi-supervised models against the same model
    on the labelled windows alone and against the baseline at that fraction;
    the supervised deep models and the HMM against the baseline.

    Returns one dict per (fraction, model, reference, metric): the mean of
    the paired differences (model - reference), how many of the ``n`` fold
    scores are higher, and the paired t-test's p-value
    (:func:`scipy.stats.ttest_rel`; NaN with fewer than 2 pairs).
    """
    frame = pd.DataFrame(rows)
    frame = (
        frame[frame.table == "rest_vs_task"]
        .set_index(["label_fraction", "model", "seed", "fold"])
        .sort_index()
    )
    pairs = [
        (1.0, model, "band_power_lr")
        for model in SUPERVISED
        if model != "band_power_lr"
    ]
    pairs += [
        (fraction, "SMATE", "SMATE_old_head")
        for fraction in sorted(set(frame.index.get_level_values(0)))
    ]
    for fraction in sorted(set(frame.index.get_level_values(0)) - {1.0}):
        pairs += [(fraction, "SMATE", "SMATE_labelled_only")]
        pairs += [
            (fraction, model, "band_power_lr_labelled_only")
            for model in SEMI_SUPERVISED
        ]
    out = []
    for fraction, model, reference in pairs:
        try:
            a, b = frame.loc[(fraction, model)], frame.loc[(fraction, reference)]
        except KeyError:
            continue
        for metric in ("window_roc_auc", "subject_roc_auc"):
            diff = (a[metric] - b[metric]).dropna()
            out.append(
                {
                    "label_fraction": fraction,
                    "model": model,
                    "reference": reference,
                    "metric": metric,
                    "mean_diff": float(diff.mean()),
                    "n_better": int((diff > 0).sum()),
                    "n": len(diff),
                    "p_value": (
                        float(
                            ttest_rel(
                                a[metric][diff.index], b[metric][diff.index]
                            ).pvalue
                        )
                        if len(diff) > 1
                        else float("nan")
                    ),
                }
            )
    return out


def plot_fractions(rows: list[dict], path: Path) -> None:
    """Window and subject ROC AUC against the labelled fraction (rest_vs_task)."""
    plt = harness.pyplot()

    frame = pd.DataFrame(rows)
    frame = frame[frame.table == "rest_vs_task"]
    curves = [*SEMI_SUPERVISED, "SMATE_labelled_only", "band_power_lr_labelled_only"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, metric in zip(axes, ("window_roc_auc", "subject_roc_auc"), strict=True):
        for model in curves:
            full = "band_power_lr" if model.startswith("band_power") else model
            points = frame[
                (frame.model == model)
                | (
                    (frame.model == full.removesuffix("_labelled_only"))
                    & (frame.label_fraction == 1.0)
                )
            ]
            if points.empty:
                continue
            stats = points.groupby("label_fraction")[metric].agg(["mean", "std"])
            ax.errorbar(
                100 * stats.index,
                stats["mean"],
                yerr=stats["std"],
                marker="o",
                capsize=3,
                label=model,
            )
        ax.axhline(0.5, color="0.6", lw=0.8, ls=":")
        ax.set_xlabel("Labelled training subjects (%)")
        ax.set_title(metric.replace("_", " "))
    axes[0].set_ylabel("ROC AUC (mean ± sd over folds)")
    axes[1].legend(fontsize=8)
    harness.save_figure(fig, path)


def plot_tsne(data: dict, size: Size, device: str, path: Path, fraction: float) -> dict:
    """t-SNE of SMATE's embedding (semi-supervised at ``fraction``), fitted on
    the training subjects of the first rest_vs_task fold; left: training
    windows (unlabelled in grey), right: the test subjects' windows."""
    plt = harness.pyplot()

    from skeeg.plotting import plot_embedding

    X, y, groups = data["X"], data["state"], data["groups"]
    train, test = next(GroupKFold(size.n_splits).split(X, y, groups))
    seed = size.seeds[0]
    y_train = mask_labels(y[train], fraction, groups=groups[train], random_state=seed)
    model = make_model("SMATE", size, device, seed)
    model.fit(X[train], y_train, groups=groups[train])
    names = np.array(["rest", "task"])
    shown = np.where(is_unlabelled(y_train), "-1", names[np.maximum(y_train, 0)])
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.8))
    plot_embedding(model, X[train], shown, ax=axes[0], random_state=seed)
    axes[0].set_title(f"SMATE, {fraction:.0%} labelled: training subjects")
    plot_embedding(model, X[test], names[y[test]], ax=axes[1], random_state=seed)
    axes[1].set_title("held-out subjects (fold 0)")
    harness.save_figure(fig, path)
    return {"fraction": fraction, "n_train": len(train), "n_test": len(test)}


def not_applicable(size: Size) -> list[dict]:
    """The 0 % rows: which models cannot run there, and why."""
    why = {
        "SMATE": "its linear SVM needs a labelled window of every class",
        "TapNet": "its class prototypes need a labelled window of every class",
        "HMM": "its state-to-class map needs a labelled window of every class",
    }
    if 0.0 not in size.fractions:
        return []
    return [
        {"table": "rest_vs_task", "model": m, "label_fraction": 0.0, "reason": r}
        for m, r in why.items()
    ]


def write(stem: Path, result: dict, rewrite: bool = False) -> str:
    """Save the JSON and the text tables; return the text. ``rewrite``: the
    tables of saved results."""
    lines = [f"# {result['metadata']['command']}", ""]
    if result["rows"]:
        table = summarise(result["rows"])
        for name, part in table.groupby("table", sort=False):
            lines += [
                f"## {name}",
                part.drop(columns="table").to_string(index=False),
                "",
            ]
    for row in result["not_applicable"]:
        lines.append(
            f"not applicable: {row['model']} at {row['label_fraction']:.0%} labels "
            f"({row['reason']})"
        )
    for metric, res in result.get("anova", {}).items():
        lines += [
            "",
            f"## ANOVA on {metric} (rest_vs_task, supervised): "
            f"F = {res['f_statistic']:.2f}, p = {res['p_value']:.3g}",
            pd.DataFrame(res["tukey"]).to_string(index=False, float_format="%.3f"),
        ]
    if result.get("paired"):
        lines += [
            "",
            "## Paired differences, rest_vs_task (model - reference, same folds)",
            pd.DataFrame(result["paired"]).to_string(index=False, float_format="%.3f"),
        ]
    if result["skipped"]:
        lines += ["", f"skipped (budget): {result['skipped']}"]
    text = "\n".join(lines)
    extra = {k: v for k, v in result.items() if k not in ("metadata", "rows")}
    harness.write_results(
        stem, result["metadata"], result["rows"], text, rewrite=rewrite, **extra
    )
    return text


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = harness.argument_parser(__doc__, SIZES, ("device", "seeds", "data", "out"))
    parser.add_argument(
        "--models",
        help="comma-separated models: run only their cells (default: every cell)",
    )
    parser.add_argument(
        "--report",
        type=Path,
        help="re-print the tables, statistics and plot of a saved JSON, no training",
    )
    return parser.parse_args(argv)


def finish(stem: Path, result: dict, rewrite: bool = False) -> str:
    """Statistics and the fraction plot of a run's rows; write and return the
    text."""
    result["anova"] = anova(result["rows"])
    result["paired"] = paired_comparisons(result["rows"])
    plot_fractions(result["rows"], stem.with_name(stem.name + "_fractions.png"))
    return write(stem, result, rewrite)


def main(argv: list[str] | None = None) -> dict:
    """Run every cell of a size; return the result written to JSON."""
    args = parse_args(argv)
    if args.report is not None:
        result = json.loads(args.report.read_text())
        print(finish(args.report.with_suffix(""), result, rewrite=True))
        return result
    size = SIZES[args.size]
    if args.seeds is not None:
        size = replace(size, seeds=tuple(range(args.seeds)))
    # hmmlearn logs every EM run that stops before converging; the budgeted
    # n_iter makes that routine here.
    logging.getLogger("hmmlearn").setLevel(logging.ERROR)
    stem = args.out / f"subject_classification_{args.size}"
    meta = harness.provenance(
        __file__,
        argv,
        args,
        packages=("hmmlearn",),
        recipe=asdict(size),
        channels=list(CHANNELS),
        window_s=WINDOW_S,
        bandpass_hz=list(BANDPASS),
        OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS"),
    )
    start = time.perf_counter()
    data = load_data(args.data, size)
    result = {
        "metadata": {
            **meta,
            "n_windows": len(data["X"]),
            "n_subjects": len(np.unique(data["groups"])),
            "window_shape": list(data["X"].shape[1:]),
        },
        "rows": [],
        "not_applicable": not_applicable(size),
        "skipped": [],
    }
    figure_fraction = min((f for f in size.fractions if f > 0), default=1.0)
    todo = cells(size)
    if args.models:
        keep = set(args.models.split(","))
        todo = [cell for cell in todo if cell[1] in keep]
    # The t-SNE figure comes after the labelled-fraction cells.
    figure_at = next(
        (i for i, cell in enumerate(todo) if cell[1] in ABLATIONS), len(todo)
    )
    for index, (table, model, fraction) in enumerate(todo):
        if index == figure_at:
            result["tsne"] = plot_tsne(
                data,
                size,
                args.device,
                stem.with_name(stem.name + "_tsne.png"),
                figure_fraction,
            )
        minutes = (time.perf_counter() - start) / 60
        if size.budget_min is not None and minutes > size.budget_min:
            result["skipped"].append([table, model, fraction])
            continue
        for seed in size.seeds:
            result["rows"] += run_cell(
                data, table, model, fraction, size, args.device, seed
            )
        write(stem, result)
        print(f"[{minutes:5.1f} min] {table} {model} {fraction:.0%} done", flush=True)
    print(finish(stem, result))
    return result


if __name__ == "__main__":
    main()
