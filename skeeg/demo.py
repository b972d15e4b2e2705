"""The README's first run: cross-validated IED detection on the bundled sample.

:func:`run_ied_demo` is what ``skeeg demo`` and ``examples/ied_demo.py`` run.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

#: Intra-op threads of each SC fit: one, so that the results do not depend on
#: ``n_jobs`` or on the machine's load (docs/performance.md).
SC_THREADS = 1


def run_ied_demo(
    out: str | os.PathLike = "out",
    *,
    prevalence: float = 0.05,
    epochs: int = 30,
    seed: int = 0,
    n_jobs: int | str | None = "auto",
) -> list[dict]:
    """iEDeaL vs BCE vs a simple detector, 5-fold GroupKFold by subject.

    Real resting EEG (10 subjects of PhysioNet eegmat, bundled with skeeg)
    gets realistic interictal discharges injected at ``prevalence`` (1.5-s
    windows every 0.5 s, discharges 10-15 times the background's robust std
    on the focal electrode, plus IED-like artefacts in 10 % of the other
    windows); the SC network is trained with SaSu + PreBCE + IncNeg (iEDeaL)
    and with plain BCE, each in a 5-fold GroupKFold by subject, next to a
    classical detector on the same folds (four amplitude and sharpness
    features per channel of the raw windows,
    :class:`skeeg.features.SpikeFeatures`, and a balanced logistic
    regression). Prints a metrics table and writes ``out/pr_curve.png`` and
    ``out/results.json`` (the table, the run's settings and wall time, the
    machine, its load and the versions: :mod:`skeeg.provenance`).

    The SC models use :class:`~skeeg.SCClassifier`'s defaults (width 16,
    Adam at 3e-3 decayed linearly, batch 64, no validation split) but one
    thread each, sized for a CPU and a few minutes, after a 1-50 Hz
    band-pass and a resampling to 250 Hz; the paper's SGD recipe over 100
    epochs is benchmarked in docs/iedeal_ablation.md.

    Parameters
    ----------
    out : str or path-like, default="out"
        Folder for ``pr_curve.png`` and ``results.json`` (created if missing).
    prevalence : float, default=0.05
        Fraction of windows with an injected discharge.
    epochs : int, default=30
        Training epochs of each SC model (after SaSu's warm-up); SC's
        default.
    seed : int, default=0
        Seed of the data and of the networks.
    n_jobs : int, "auto" or None, default="auto"
        Fits at once (a model on a fold each), each in a joblib worker
        process; -1: as many as there are CPUs; 1 or None: one after the
        other, in this process; "auto": as many as the cores no other
        process keeps busy (:func:`demo_jobs`). Every SC model trains on one
        thread (``n_threads=1``), so the results are bit-identical whatever
        ``n_jobs`` and whatever else runs on the machine
        (docs/performance.md, "Sharing the machine"): on an idle 2-core
        machine 2 jobs were 1.61x as fast as 1, beside busy processes not
        faster.

    Returns
    -------
    rows : list of dict
        One per model: ``"model"``, the out-of-fold
        :func:`skeeg.evaluation.metrics.window_scores` and ``"fit_s"`` (seconds of fit
        summed over the folds, also when they run at once).
    """
    # A Figure without pyplot: headless, and the caller's backend is left alone.
    from matplotlib.figure import Figure
    from sklearn.metrics import PrecisionRecallDisplay

    from skeeg.datasets import make_ied_dataset
    from skeeg.estimators.sc_classifier import SCClassifier
    from skeeg.evaluation.metrics import scores_table, window_scores
    from skeeg.provenance import machine, versions
    from skeeg.recipes import spike_feature_pipeline, window_pipeline

    started, at_start = time.perf_counter(), machine()
    n_jobs_asked, n_jobs = n_jobs, demo_jobs(n_jobs)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    data = make_ied_dataset(
        stride_s=0.5,
        prevalence=prevalence,
        amplitude_snr=(10.0, 15.0),
        random_state=seed,
    )
    X, y, groups, sfreq = data.X, data.y, data.groups, data.sfreq
    print(
        f"{len(X)} windows of {X.shape[1]} bipolar channels x {X.shape[2]} samples "
        f"({sfreq:g} Hz), {y.sum()} with an IED, {len(set(groups))} subjects"
    )
    models = {
        name: (
            window_pipeline(
                SCClassifier(
                    loss=loss,
                    max_epochs=epochs,
                    random_state=seed,
                    n_threads=SC_THREADS,
                ),
                sfreq,
                new_sfreq=250.0,
            ),
            "clf__groups",
        )
        for name, loss in [("SC+SaSu (iEDeaL)", "sasu"), ("SC+BCE", "bce")]
    }
    models["features+logreg"] = (spike_feature_pipeline(), None)
    print(f"  training {len(models)} models on 5 folds (n_jobs={n_jobs}) ...")
    rows, curves = [], {}
    for name, (proba, seconds) in _out_of_fold(models, X, y, groups, n_jobs=n_jobs):
        rows.append({"model": name, **window_scores(y, proba), "fit_s": seconds})
        print(f"  {name}: AUPRC {rows[-1]['auprc']:.3f} ({seconds:.0f} s)", flush=True)
        curves[name] = proba

    print(
        scores_table(
            rows,
            ["model", "f1", "f2", "precision", "recall", "auprc", "auroc", "fit_s"],
        )
    )
    fig = Figure(figsize=(5, 4))
    ax = fig.subplots()
    for name, proba in curves.items():
        PrecisionRecallDisplay.from_predictions(y, proba, name=name, ax=ax)
    ax.axhline(y.mean(), ls=":", c="gray", label="prevalence")
    ax.set_title("Out-of-fold IED detection, GroupKFold by subject")
    ax.legend(loc="upper right")
    fig.tight_layout()
    path = out / "pr_curve.png"
    fig.savefig(path, dpi=120)
    results = {
        "settings": {
            "prevalence": prevalence,
            "epochs": epochs,
            "seed": seed,
            "n_jobs": n_jobs,
            "n_jobs_asked": n_jobs_asked,
            "sc_threads": SC_THREADS,
        },
        "data": {
            "n_windows": len(X),
            "n_channels": X.shape[1],
            "n_times": X.shape[2],
            "sfreq": sfreq,
            "n_positive": int(y.sum()),
            "n_subjects": len(set(groups)),
        },
        "rows": rows,
        "wall_s": time.perf_counter() - started,
        "machine_at_start": at_start,
        "load_average_at_end": machine()["load_average"],
        "versions": versions(),
    }
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {path} and {out / 'results.json'}")
    return rows


def demo_jobs(n_jobs: int | str | None) -> int | None:
    """The number of fits :func:`run_ied_demo` runs at once.

    Parameters
    ----------
    n_jobs : int, "auto" or None
        "auto": the cores no other process keeps busy, at least 1 and at most
        the CPUs this process may use
        (:func:`skeeg.training.threads.resolve_threads`); anything else is
        returned as given (joblib's convention).

    Returns
    -------
    n_jobs : int or None
    """
    from skeeg.training.threads import resolve_threads

    return resolve_threads("auto") if n_jobs == "auto" else n_jobs


def _out_of_fold(
    models: dict, X, y, groups, *, n_jobs: int | None, n_splits: int = 5
) -> Iterator[tuple[str, tuple[np.ndarray, float]]]:
    """Out-of-fold positive-class probabilities of each model under
    ``GroupKFold``, every (model, fold) fit one joblib task.

    One pool for all the fits keeps both workers busy to the end (two
    models of five folds on two workers: five rounds, not six).

    ``models`` maps a name to a classifier and the name under which its
    ``fit`` takes the training windows' ``groups`` (or None). Yields, model
    by model as its folds finish, the name, the probabilities (each window
    scored by the model that did not see its subject) and the fit seconds
    summed over the folds.
    """
    from joblib import Parallel, delayed
    from sklearn.model_selection import GroupKFold

    folds = list(GroupKFold(n_splits).split(X, y, groups))
    done = Parallel(n_jobs=n_jobs, return_as="generator")(
        delayed(_fit_fold)(model, groups_param, X, y, groups, train, test)
        for model, groups_param in models.values()
        for train, test in folds
    )
    for name in models:
        proba, seconds = np.full(len(y), np.nan), 0.0
        for _, test in folds:
            fold_proba, fold_seconds = next(done)
            proba[test] = fold_proba
            seconds += fold_seconds
        yield name, (proba, seconds)


def _fit_fold(
    model, groups_param, X, y, groups, train, test
) -> tuple[np.ndarray, float]:
    """A clone of ``model`` fitted on ``train``: its probabilities of the
    positive class on ``test``, and its fit seconds."""
    from sklearn.base import clone

    model = clone(model)
    params = {groups_param: groups[train]} if groups_param else {}
    start = time.perf_counter()
    model.fit(X[train], y[train], **params)
    seconds = time.perf_counter() - start
    return model.predict_proba(X[test])[:, 1], seconds
