"""Sleep staging on the DREAMS excerpts, leave one subject out: SleepStager
(with and without HMM smoothing) against YASA's pre-trained stager (issue #14).

The eight DREAMS spindle excerpts (Devuyst et al. 2011; CC BY-NC-ND, read only
from the shared data folder; only aggregate numbers are written) are 30 min of
one central channel each, from eight subjects, with an expert R&K hypnogram
in 5-s epochs (mapped to AASM by :func:`skeeg.datasets.load_dreams`). Each
excerpt is held out in turn; :class:`skeeg.SleepStager` is trained on the
other seven and stages the held-out one:

- ``SleepStager``: each epoch on its own;
- ``SleepStager+HMM``: forward-backward posteriors of the stage HMM;
- ``SleepStager+Viterbi``: the most probable stage sequence.
- ``Stager-c2-bal`` (and its ``+HMM``, ``+Viterbi``): the same recipe with
  ``context=2`` (each epoch staged from the five centred on it) and
  ``class_weight="balanced"`` (issue #24), on the 30-s epochs only. Both
  values were fixed before any DREAMS result of them was seen (no tuning on
  held-out excerpts); ``--configs`` adds the ablations ``Stager-c2`` and
  ``Stager-bal``.

The three rows of a configuration come from one fitted network per fold
(``smoothing`` acts at predict time only). ``YASA`` is
:class:`yasa.SleepStaging` (a LightGBM stager pre-trained on ~3000 NSRR
nights; nothing is trained here) on the same 30-s epochs, given the excerpt at
its native rate and the channel's name. YASA asserts a rate above 80 Hz, so it
refuses excerpt 3 (50 Hz): that is recorded as "refused" and the side-by-side
table compares both on the excerpts YASA accepts. YASA is optional (``pip
install 'skeeg[bench]'``); without it the YASA rows are "not importable".

Labels: an epoch's stage is the expert stage at its centre (the convention of
:func:`skeeg.datasets.load_dreams`); epochs scored as movement time or not
scored keep their place in the sequence (label ``-1``: no training, no score).

    nice -n 5 python benchmarks/sleep_staging.py --size reduced --threads 1
    python benchmarks/sleep_staging.py --size full --device cuda
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from skeeg.evaluation.metrics import scores_table, sleep_scores

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402

#: The DREAMS folder inside the shared data folder.
DREAMS_FOLDER = "dreams_spindles_CC-BY-NC-ND"
ALL_EXCERPTS = (1, 2, 3, 4, 5, 6, 7, 8)
#: The AASM stages, in the order of the confusion matrices.
STAGES = ("W", "N1", "N2", "N3", "REM")
#: load_dreams labels of epochs without a usable stage.
NO_STAGE = ("artifact", "unknown")
#: SleepStager's smoothing settings: row-name suffix -> ``smoothing``.
SMOOTHINGS = {"": None, "+HMM": "hmm", "+Viterbi": "viterbi"}
#: SleepStager configurations: name -> (parameters, epoch lengths it runs on;
#: None: all of the size's).
CONFIGS = {
    "SleepStager": ({}, None),
    "Stager-c2-bal": ({"context": 2, "class_weight": "balanced"}, (30.0,)),
    "Stager-c2": ({"context": 2}, (30.0,)),
    "Stager-bal": ({"class_weight": "balanced"}, (30.0,)),
}
#: The configuration the paired tests compare with the one-epoch stager and YASA.
NEW = "Stager-c2-bal"
YASA = "YASA"
#: YASA's Hypnogram spells wake "WAKE".
YASA_TO_AASM = {"WAKE": "W", "W": "W", "N1": "N1", "N2": "N2", "N3": "N3"}
YASA_TO_AASM |= {"REM": "REM", "R": "REM"}


@dataclass(frozen=True)
class Size:
    """Everything a run size fixes.

    Attributes
    ----------
    excerpts : tuple of int
        Excerpts in the study; each is held out in turn and the others train.
    epoch_lengths : tuple of float
        Epoch lengths in seconds; YASA runs on the 30-s ones only.
    n_seeds : int
        Seeds of the SleepStager weights.
    sfreq : float
        Common rate (Hz) of SleepStager's input (:func:`load_dreams` resamples).
    width, max_epochs, batch_size, lr : SleepStager recipe
        Adam with linear decay, last epoch kept (no validation split).
    configs : tuple of str
        Keys of :data:`CONFIGS` to run.
    """

    excerpts: tuple[int, ...] = ALL_EXCERPTS
    epoch_lengths: tuple[float, ...] = (30.0, 5.0)
    n_seeds: int = 1
    sfreq: float = 100.0
    width: int = 16
    max_epochs: int = 30
    batch_size: int = 64
    lr: float = 3e-3
    configs: tuple[str, ...] = ("SleepStager", NEW)


SIZES = {
    "smoke": Size(excerpts=(1, 2), epoch_lengths=(30.0,), width=4, max_epochs=1),
    "reduced": Size(n_seeds=5, epoch_lengths=(30.0,)),
    "full": Size(n_seeds=5, width=32, max_epochs=50),
}


def load_epochs(data: Path, size: Size, epoch_s: float):
    """The excerpts cut into ``epoch_s`` epochs at ``size.sfreq``.

    Returns
    -------
    X : ndarray of shape (n_epochs, 1, n_times), volts
    y : ndarray of object, shape (n_epochs,)
        AASM stage, or ``-1`` for movement time and unscored epochs.
    groups : ndarray of str, shape (n_epochs,)
        Excerpt id; the rows of one excerpt are in time order.
    """
    from skeeg.datasets import load_dreams

    dreams = load_dreams(
        data / DREAMS_FOLDER, excerpts=size.excerpts, window_s=epoch_s, sfreq=size.sfreq
    )
    y = np.where(np.isin(dreams.y, NO_STAGE), -1, dreams.y).astype(object)
    return dreams.X, y, dreams.groups


def stager_fold(
    X, y, groups, test: str, size: Size, seed: int, device: str, config: str
):
    """Fit configuration ``config`` on every excerpt but ``test``; its stages
    under each smoothing."""
    from skeeg import SleepStager

    train = groups != test
    stager = SleepStager(
        width=size.width,
        max_epochs=size.max_epochs,
        batch_size=size.batch_size,
        lr=size.lr,
        validation_fraction=None,
        random_state=seed,
        device=device,
        **CONFIGS[config][0],
    ).fit(X[train], y[train], groups=groups[train])
    return {
        config + suffix: stager.set_params(smoothing=smoothing).predict(
            X[~train], groups=groups[~train]
        )
        for suffix, smoothing in SMOOTHINGS.items()
    }


def yasa_stages(data: Path, excerpt: int) -> tuple[np.ndarray | None, str]:
    """YASA's stages of the 30-s epochs of one excerpt at its native rate.

    Returns
    -------
    stages : ndarray of str or None
        AASM stages; None when YASA is missing or refuses the excerpt.
    status : str
        ``"ok"``, ``"not importable"`` or ``"refused: <YASA's message>"``.
    """
    try:
        import yasa
    except ImportError:
        return None, "not importable"
    import mne
    from sklearn.exceptions import InconsistentVersionWarning

    from skeeg.datasets import load_dreams

    # One window of the whole scored span at the native rate (sfreq=None).
    dreams = load_dreams(
        data / DREAMS_FOLDER, excerpts=[excerpt], window_s=1800.0, sfreq=None
    )
    channel = str(dreams.metadata["channel"].iloc[0])
    info = mne.create_info([channel], dreams.sfreq, ch_types="eeg")
    raw = mne.io.RawArray(dreams.X[0], info, verbose=False)
    try:
        with warnings.catch_warnings():
            # YASA's bundled LightGBM model pickles a LabelEncoder of an
            # older scikit-learn; unpickling it warns on every excerpt.
            warnings.simplefilter("ignore", InconsistentVersionWarning)
            hypnogram = yasa.SleepStaging(raw, eeg_name=channel).predict()
    except AssertionError as err:
        return None, f"refused: {err}"
    return np.array([YASA_TO_AASM[s] for s in np.asarray(hypnogram.hypno)]), "ok"


def score_row(y_true, y_pred, **keys) -> dict:
    """Sleep scores of the epochs with a stage, as JSON-ready aggregates."""
    scored = np.array([str(v) != "-1" for v in y_true])
    scores = sleep_scores(
        np.asarray(y_true)[scored].astype(str),
        np.asarray(y_pred)[scored].astype(str),
        labels=STAGES,
    )
    return {
        **keys,
        "accuracy": float(scores["accuracy"]),
        "kappa": float(scores["kappa"]),
        "macro_f1": scores["macro_f1"],
        "f1_per_stage": scores["f1_per_stage"],
        "confusion_matrix": scores["confusion_matrix"].tolist(),
        "n_epochs": int(scores["n_epochs"]),
    }


def pooled(rows: list[dict], stager: str, epoch_s: float, excerpts) -> dict | None:
    """Scores of the confusion matrix summed over ``excerpts`` (and seeds),
    with the mean and sd of the per-excerpt kappas; None unless every excerpt
    has a row."""
    group = [
        r
        for r in rows
        if r["stager"] == stager
        and r["epoch_s"] == epoch_s
        and r["excerpt"] in excerpts
    ]
    if not group or {r["excerpt"] for r in group} != set(excerpts):
        return None
    cm = np.sum([r["confusion_matrix"] for r in group], axis=0)
    # Rebuild the epochs from the summed matrix: sleep_scores then gives
    # pooled accuracy, kappa and F1 from one call.
    true = np.repeat(np.repeat(STAGES, len(STAGES)), cm.ravel())
    pred = np.repeat(np.tile(STAGES, len(STAGES)), cm.ravel())
    row = score_row(true, pred, stager=stager, epoch_s=epoch_s)
    kappas = [r["kappa"] for r in group]
    row |= {
        "excerpts": len(set(excerpts)),
        "mean_kappa": float(np.mean(kappas)),
        "sd_kappa": float(np.std(kappas)),
        "n_seeds": len({r["seed"] for r in group}),
    }
    return row


def stager_names(configs) -> list[str]:
    """Row names of ``configs`` under every smoothing."""
    return [c + suffix for c in configs for suffix in SMOOTHINGS]


def paired_tests(rows: list[dict], yasa_ok, excerpts, configs) -> list[dict]:
    """Paired tests of the per-excerpt kappas (30-s epochs) of ``NEW`` (and
    its smoothings) against the one-epoch stager and YASA.

    Against a SleepStager row: pairs of (excerpt, seed), same seed, by
    Wilcoxon's signed-rank test and the paired t-test; against YASA (one
    deterministic stage sequence per excerpt): the seed-mean kappa of each
    excerpt paired with YASA's.
    """
    from scipy.stats import ttest_rel, wilcoxon

    kappa = {
        (r["stager"], r["excerpt"], r["seed"]): r["kappa"]
        for r in rows
        if r["epoch_s"] == 30.0
    }
    tests = []
    if NEW not in configs:
        return tests
    for suffix in SMOOTHINGS:
        new = NEW + suffix
        for other in ("SleepStager", "SleepStager+HMM", YASA):
            for span, chosen in (("all", excerpts), ("YASA's", yasa_ok)):
                if other == YASA and span == "all":
                    continue
                if other == YASA:
                    seeds = {
                        e: [v for k, v in kappa.items() if k[:2] == (new, e)]
                        for e in chosen
                    }
                    pairs = [
                        (np.mean(seeds[e]), kappa[(YASA, e, None)])
                        for e in chosen
                        if seeds[e] and (YASA, e, None) in kappa
                    ]
                else:
                    pairs = [
                        (v, kappa[(other, e, seed)])
                        for (name, e, seed), v in kappa.items()
                        if name == new and e in chosen and (other, e, seed) in kappa
                    ]
                if len(pairs) < 2:
                    continue
                a, b = np.array(pairs).T
                diff = a - b
                tests.append(
                    {
                        "stager": new,
                        "against": other,
                        "span": span,
                        "pairs": len(pairs),
                        "mean_diff": float(diff.mean()),
                        "wilcoxon_p": float(wilcoxon(a, b).pvalue)
                        if np.any(diff != 0)
                        else 1.0,
                        "t_p": float(ttest_rel(a, b).pvalue),
                    }
                )
    return tests


def summary(rows: list[dict], yasa_ok: list[int], excerpts, configs) -> list[dict]:
    """Pooled rows: every stager on all excerpts, then all stagers on the
    excerpts YASA accepted (30-s epochs)."""
    table = []
    stagers = [*stager_names(configs), YASA]
    for epoch_s in sorted({r["epoch_s"] for r in rows}, reverse=True):
        spans = {"all": tuple(excerpts)}
        if epoch_s == 30.0 and yasa_ok and set(yasa_ok) != set(excerpts):
            spans["YASA's"] = tuple(yasa_ok)
        for span, chosen in spans.items():
            for stager in stagers:
                row = pooled(rows, stager, epoch_s, chosen)
                if row is not None:
                    table.append({"span": span, **row})
    return table


def report(
    rows: list[dict], table: list[dict], yasa_status: dict, tests: list[dict]
) -> str:
    """Pooled scores, per-stage F1, per-excerpt kappa and the confusion matrices."""
    flat = [
        {
            **{k: t[k] for k in ("epoch_s", "span", "stager", "excerpts")},
            **{k: t[k] for k in ("accuracy", "kappa", "mean_kappa", "sd_kappa")},
            "macro_f1": t["macro_f1"],
            **{f"F1 {s}": t["f1_per_stage"][s] for s in STAGES},
            "n_epochs": t["n_epochs"],
        }
        for t in table
    ]
    parts = [
        "Pooled over the held-out excerpts (kappa of the summed confusion "
        "matrix; mean_kappa/sd_kappa over excerpts):",
        scores_table(flat),
    ]
    per_excerpt: dict[tuple, dict] = {}
    for r in rows:
        line = per_excerpt.setdefault(
            (r["epoch_s"], r["excerpt"]),
            {"epoch_s": r["epoch_s"], "excerpt": r["excerpt"]},
        )
        line.setdefault(f"kappa {r['stager']}", []).append(r["kappa"])
    for (_, excerpt), line in per_excerpt.items():
        if line["epoch_s"] == 30.0:
            line[f"kappa {YASA}"] = line.get(f"kappa {YASA}", yasa_status[excerpt])
        for key, value in line.items():
            if isinstance(value, list):
                line[key] = float(np.mean(value))
    parts += [
        "Kappa per held-out excerpt (mean over seeds):",
        scores_table(
            sorted(per_excerpt.values(), key=lambda d: (-d["epoch_s"], d["excerpt"]))
        ),
    ]
    if tests:
        parts += [
            f"Paired tests of the per-excerpt kappa, {NEW} against the others "
            "(30-s epochs; pairs: excerpt x seed, or excerpts vs YASA; "
            "mean_diff > 0: the new one higher):",
            scores_table(tests),
        ]
    for t in table:
        if t["span"] != "all" and t["stager"] != YASA:
            continue
        cm = [
            {"true \\ predicted": s, **dict(zip(STAGES, counts, strict=True))}
            for s, counts in zip(STAGES, t["confusion_matrix"], strict=True)
        ]
        parts += [
            f"Confusion matrix, {t['stager']}, {t['epoch_s']:g}-s epochs, "
            f"{t['span']} excerpts (rows: expert):",
            scores_table(cm),
        ]
    return "\n\n".join(parts)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = harness.argument_parser(
        __doc__,
        SIZES,
        seeds={"help": "SleepStager seeds (default: the size's)"},
    )
    parser.add_argument(
        "--epoch-lengths",
        type=float,
        nargs="+",
        default=None,
        help="epoch lengths in s (default: the size's)",
    )
    parser.add_argument(
        "--configs",
        nargs="+",
        choices=list(CONFIGS),
        default=None,
        help="SleepStager configurations (default: the size's)",
    )
    parser.add_argument(
        "--sfreq",
        type=float,
        default=None,
        help="SleepStager's common rate in Hz (default: the size's, 100); "
        "the results' name then ends in _<sfreq>hz",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    """Run the study; print the tables; write ``<out>/sleep_staging_<size>.*``.

    ``argv``: the command line (default ``sys.argv[1:]``). Returns ``{"metadata",
    "rows", "table", "yasa"}``: one row per (epoch length, held-out excerpt, stager,
    seed) with its scores and confusion matrix, the pooled table, and YASA's status
    per excerpt.
    """
    import dataclasses

    args = parse_args(argv)
    size, seeds = harness.start_study(args, SIZES, DREAMS_FOLDER)
    if args.epoch_lengths:
        size = dataclasses.replace(size, epoch_lengths=tuple(args.epoch_lengths))
    if args.sfreq:
        size = dataclasses.replace(size, sfreq=args.sfreq)
    if args.configs:
        size = dataclasses.replace(size, configs=tuple(args.configs))
    stem = args.out / f"sleep_staging_{args.size}"
    if args.sfreq:
        stem = stem.with_name(f"{stem.name}_{args.sfreq:g}hz")
    meta = harness.provenance(
        __file__,
        argv,
        args,
        packages=("yasa",),
        recipe=asdict(size),
        seeds=seeds,
    )

    start = time.perf_counter()
    rows, yasa_status, yasa_ok = [], {}, []
    if 30.0 in size.epoch_lengths:
        X, y, groups = load_epochs(args.data, size, 30.0)
        for excerpt in size.excerpts:
            stages, status = yasa_stages(args.data, excerpt)
            yasa_status[excerpt] = status
            print(f"YASA excerpt {excerpt}: {status}", flush=True)
            if stages is None:
                continue
            truth = y[groups == f"excerpt{excerpt}"]
            # YASA cuts floor(duration / 30 s) epochs from t = 0, as load_dreams.
            if len(stages) != len(truth):
                raise RuntimeError(
                    f"YASA gave {len(stages)} epochs for excerpt {excerpt}, "
                    f"load_dreams {len(truth)}."
                )
            yasa_ok.append(excerpt)
            rows.append(
                score_row(
                    truth, stages, stager=YASA, epoch_s=30.0, excerpt=excerpt, seed=None
                )
            )
    meta["yasa_status"] = yasa_status

    def write() -> tuple[dict, str]:
        table = summary(rows, yasa_ok, size.excerpts, size.configs)
        tests = paired_tests(rows, yasa_ok, size.excerpts, size.configs)
        text = report(rows, table, yasa_status, tests)
        result = harness.write_results(
            stem, meta, rows, text, table=table, yasa=yasa_status, tests=tests
        )
        return result, text

    for epoch_s in size.epoch_lengths:
        X, y, groups = load_epochs(args.data, size, epoch_s)
        configs = [
            c for c in size.configs if CONFIGS[c][1] is None or epoch_s in CONFIGS[c][1]
        ]
        for config in configs:
            for excerpt in size.excerpts:
                test = f"excerpt{excerpt}"
                for seed in seeds:
                    t0 = time.perf_counter()
                    predicted = stager_fold(
                        X, y, groups, test, size, seed, args.device, config
                    )
                    for name, stages in predicted.items():
                        rows.append(
                            score_row(
                                y[groups == test],
                                stages,
                                stager=name,
                                epoch_s=epoch_s,
                                excerpt=excerpt,
                                seed=seed,
                                fit_s=time.perf_counter() - t0,
                            )
                        )
                    kappas = ", ".join(
                        f"{r['stager']} {r['kappa']:.3f}"
                        for r in rows[-len(SMOOTHINGS) :]
                    )
                    print(
                        f"[{time.perf_counter() - start:6.0f}s] {epoch_s:g}-s "
                        f"excerpt {excerpt} seed {seed}: kappa {kappas}",
                        flush=True,
                    )
                # Partial results after each held-out excerpt: a cut run
                # keeps what it finished.
                write()
    result, text = write()
    print(text)
    print(f"wrote {stem}.json/.txt in {meta['wall_s']:.0f} s")
    return result


if __name__ == "__main__":
    main()
