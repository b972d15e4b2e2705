"""The ``skeeg`` command: exit codes, one-line errors, and what each step writes."""

from __future__ import annotations

import argparse
import subprocess
import sys

import mne
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

import skeeg.demo
from skeeg.cli import build_parser, main
from skeeg.detection import detect_events
from skeeg.model_file import load_model, read_model_metadata, save_model
from skeeg.registry import entries
from tests.conftest import REPO_ROOT, bump_dataset

SFREQ = 64.0
CH_NAMES = ["C3", "Cz", "C4"]
VOLTS = 1e-5  # EEG amplitude scale: the windows are in volts, as MNE reads them
BUMP_WINDOWS = (5, 12, 30)


def _one_line_error(capsys, *fragments: str) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.count("\n") == 1, err
    for fragment in fragments:
        assert fragment in err, err
    return err


@pytest.fixture(scope="module")
def npz(tmp_path_factory):
    X, y, _ = bump_dataset(n_windows=80, n_channels=3, n_times=64, seed=2)
    path = tmp_path_factory.mktemp("data") / "windows.npz"
    np.savez(
        path,
        X=X * VOLTS,
        y=y,
        groups=np.arange(80) % 16,
        sfreq=SFREQ,
        ch_names=np.array(CH_NAMES),
    )
    return path


@pytest.fixture(scope="module")
def features_model(npz, tmp_path_factory):
    out = tmp_path_factory.mktemp("model") / "features.skeeg"
    assert (
        main(["train", "--data", str(npz), "--model", "features", "--out", str(out)])
        == 0
    )
    return out


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    """40 s of noise with a bump in the middle of windows 5, 12 and 30."""
    rng = np.random.default_rng(3)
    n_times = 64
    data = rng.normal(size=(3, 40 * n_times))
    t = np.arange(data.shape[1])
    for w in BUMP_WINDOWS:
        data += 4.0 * np.exp(-0.5 * ((t - (w * n_times + 32)) / 2.0) ** 2)
    info = mne.create_info(CH_NAMES, SFREQ, "eeg")
    path = tmp_path_factory.mktemp("rec") / "rec_raw.fif"
    mne.io.RawArray(data * VOLTS, info, verbose=False).save(path, verbose=False)
    return path


# -- help -------------------------------------------------------------------------
def test_module_help_in_a_subprocess():
    result = subprocess.run(
        [sys.executable, "-m", "skeeg.cli", "--help"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    for command in ("demo", "train", "info", "detect", "evaluate"):
        assert command in result.stdout


def _subparsers(parser: argparse.ArgumentParser) -> dict:
    action = next(
        a for a in parser._actions if isinstance(a, argparse._SubParsersAction)
    )
    return action.choices


@pytest.mark.parametrize("command", ["demo", "train", "info", "detect", "evaluate"])
def test_help_explains_every_option(command, capsys):
    sub = _subparsers(build_parser())[command]
    for action in sub._actions:
        assert action.help, f"skeeg {command}: {action.option_strings} has no help"
    assert main([command, "--help"]) == 0
    assert sub.description.split()[0] in capsys.readouterr().out


# -- usage errors -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        ([], "the following arguments are required: COMMAND"),
        (["fly"], "invalid choice: 'fly'"),
        (["train", "--model", "sc", "--out", "m.skeeg"], "required: --data"),
        (["train", "--data", "d.npz", "--model", "svm", "--out", "m.skeeg"], "svm"),
        (
            [
                "train",
                "--data",
                "d.npz",
                "--model",
                "sc",
                "--out",
                "m",
                "--epochs",
                "0",
            ],
            "expected an integer >= 1, got '0'",
        ),
        (["demo", "--n-jobs", "0"], "expected 'auto' or a non-zero integer"),
        (["demo", "--n-jobs", "many"], "expected 'auto' or an integer, got 'many'"),
    ],
)
def test_usage_errors_exit_2_with_one_line(argv, fragment, capsys):
    assert main(argv) == 2
    _one_line_error(capsys, fragment, "--help")


# -- train ----------------------------------------------------------------------------
def test_train_features_saves_metadata_and_summary(features_model, npz):
    meta = read_model_metadata(features_model)
    assert meta["sfreq"] == SFREQ and meta["ch_names"] == CH_NAMES
    assert meta["window_s"] == 1.0 and meta["classes"] == [0, 1]
    summary = meta["training_summary"]
    assert summary["n_windows"] == 80 and summary["n_groups"] == 16
    assert summary["class_counts"] == {"0": 60, "1": 20}
    assert [cls for _, cls in meta["steps"]][-1] == (
        "sklearn.linear_model.LogisticRegression"
    )
    X = np.load(npz)["X"]
    assert set(np.unique(load_model(features_model).predict(X))) <= {0, 1}


def test_train_sc_with_cv_reports_scores(npz, tmp_path, capsys):
    out = tmp_path / "sc.skeeg"
    argv = ["train", "--data", str(npz), "--model", "sc", "--loss", "bce"]
    argv += ["--out", str(out), "--cv", "2", "--epochs", "2", "--width", "4"]
    argv += ["--l-freq", "1", "--h-freq", "20", "--device", "cpu"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "GroupKFold(2) over 16 groups" in printed
    assert "auprc" in printed and "epoch" in printed  # scores, skorch progress
    cv = read_model_metadata(out)["training_summary"]["cv"]
    assert cv["n_splits"] == 2 and 0.0 <= cv["auprc"] <= 1.0
    clf = load_model(out).named_steps["clf"]
    assert (clf.width, clf.max_epochs, clf.loss) == (4, 2, "bce")


def _bad_npz(tmp_path, **arrays):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize(
    ("arrays", "fragment"),
    [
        ({"X": np.zeros((4, 2, 8)), "sfreq": 64.0}, "has no y"),
        ({"X": np.zeros((4, 8)), "y": np.zeros(4), "sfreq": 64.0}, "got shape (4, 8)"),
        (
            {"X": np.zeros((4, 2, 8)), "y": np.zeros(3), "sfreq": 64.0},
            "y in",
        ),
        ({"X": np.zeros((4, 2, 8)), "y": np.zeros(4), "sfreq": -1.0}, "sfreq in"),
        (
            {
                "X": np.zeros((4, 2, 8)),
                "y": np.zeros(4),
                "sfreq": 64.0,
                "ch_names": ["a"],
            },
            "ch_names in",
        ),
    ],
)
def test_train_rejects_malformed_data(tmp_path, capsys, arrays, fragment):
    path = _bad_npz(tmp_path, **arrays)
    argv = ["train", "--data", str(path), "--model", "features"]
    assert main([*argv, "--out", str(tmp_path / "m.skeeg")]) == 1
    _one_line_error(capsys, "skeeg train: error:", fragment)


def test_train_rejects_object_arrays(tmp_path, capsys):
    path = _bad_npz(tmp_path, X=np.zeros((4, 2, 8)), y=np.array([None] * 4), sfreq=64.0)
    argv = ["train", "--data", str(path), "--model", "features"]
    assert main([*argv, "--out", str(tmp_path / "m.skeeg")]) == 1
    _one_line_error(capsys, "cannot read", "allow_pickle")


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--model", "features", "--loss", "sasu"], "--loss do not apply to"),
        (["--model", "features", "--l-freq", "2"], "--l-freq do not apply to"),
        (["--model", "sc", "--h-freq", "40"], "sfreq/2 = 32 Hz"),
        (["--model", "features", "--cv", "20"], "between 2 and the 16 groups"),
    ],
)
def test_train_rejects_bad_options(npz, tmp_path, capsys, extra, fragment):
    argv = ["train", "--data", str(npz), "--out", str(tmp_path / "m.skeeg")]
    assert main([*argv, *extra]) == 1
    _one_line_error(capsys, fragment)


def test_train_cv_needs_groups(tmp_path, capsys):
    X, y, _ = bump_dataset(n_windows=20, n_channels=2, n_times=32)
    path = _bad_npz(tmp_path, X=X, y=y, sfreq=64.0)
    argv = ["train", "--data", str(path), "--model", "features", "--cv", "2"]
    assert main([*argv, "--out", str(tmp_path / "m.skeeg")]) == 1
    _one_line_error(capsys, "--cv needs a groups array")


def test_train_missing_data_file(tmp_path, capsys):
    argv = ["train", "--data", str(tmp_path / "none.npz"), "--model", "features"]
    assert main([*argv, "--out", str(tmp_path / "m.skeeg")]) == 1
    _one_line_error(capsys, "data file not found")


# -- info -----------------------------------------------------------------------------
def test_info_prints_metadata(features_model, capsys):
    assert main(["info", str(features_model)]) == 0
    assert '"sfreq": 64.0' in capsys.readouterr().out


def test_info_refuses_foreign_file(tmp_path, capsys):
    path = tmp_path / "x.skeeg"
    path.write_bytes(b"not a zip at all")
    assert main(["info", str(path)]) == 1
    _one_line_error(capsys, "not a skeeg model file")


# -- detect / evaluate --------------------------------------------------------------
def test_detect_writes_the_events_detect_events_finds(
    features_model, recording, tmp_path, capsys
):
    out = tmp_path / "events.tsv"
    assert main(["detect", str(features_model), str(recording), "--out", str(out)]) == 0
    assert "40/40" in capsys.readouterr().err  # the progress bar
    written = pd.read_csv(out, sep="\t")
    expected = detect_events(load_model(features_model), recording)
    np.testing.assert_allclose(written["onset"], expected["onset"], atol=1e-6)
    # Each injected bump is in one detected window.
    for w in BUMP_WINDOWS:
        assert np.any(np.isclose(written["peak"], w + 0.5)), written


def test_evaluate_scores_against_reference(features_model, recording, tmp_path, capsys):
    reference = tmp_path / "ref.tsv"
    pd.DataFrame({"onset": [w + 0.5 for w in BUMP_WINDOWS], "duration": 0.0}).to_csv(
        reference, sep="\t", index=False
    )
    argv = ["evaluate", str(features_model), "--data", str(recording)]
    assert main([*argv, "--events", str(reference), "--quiet"]) == 0
    table = capsys.readouterr().out
    header, _, row = table.splitlines()
    recall = float(row.split()[header.split().index("recall")])
    assert recall == 1.0


def test_detect_refuses_existing_output(features_model, recording, tmp_path, capsys):
    out = tmp_path / "events.tsv"
    out.write_text("")
    assert main(["detect", str(features_model), str(recording), "--out", str(out)]) == 1
    _one_line_error(capsys, "exists; pass --overwrite")


def test_detect_plot_draws_rate_and_the_top_event(
    features_model, recording, tmp_path, monkeypatch
):
    saved = []
    savefig = Figure.savefig

    def capture(figure, fname, **kwargs):
        saved.append(figure)
        savefig(figure, fname, **kwargs)

    monkeypatch.setattr(Figure, "savefig", capture)
    out, png = tmp_path / "events.tsv", tmp_path / "detections.png"
    argv = ["detect", str(features_model), str(recording), "--out", str(out)]
    assert main([*argv, "--plot", str(png), "--plot-page", "10", "--quiet"]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    events = pd.read_csv(out, sep="\t")
    (figure,) = saved
    rate_ax, trace_ax = figure.axes
    # Bars of events per hour times their widths in hours count the events.
    counted = sum(bar.get_height() * bar.get_width() for bar in rate_ax.patches)
    assert counted == pytest.approx(len(events))
    top = events.loc[events["score"].idxmax()]
    start, stop = trace_ax.get_xlim()
    assert stop - start == pytest.approx(10.0)
    assert start <= top["peak"] <= stop
    assert f"{top['peak']:.1f} s" in trace_ax.get_title()
    assert [t.get_text() for t in trace_ax.get_yticklabels()] == CH_NAMES


def test_detect_edf_output_holds_the_events(features_model, recording, tmp_path):
    out = tmp_path / "night.edf"
    argv = ["detect", str(features_model), str(recording), "--out", str(out)]
    assert main([*argv, "--quiet"]) == 0
    back = mne.io.read_raw_edf(out, verbose=False)
    assert back.ch_names == CH_NAMES
    detections = [a for a in back.annotations if a["description"] == "detection"]
    expected = detect_events(load_model(features_model), recording)
    np.testing.assert_allclose(
        [a["onset"] for a in detections], expected["onset"], atol=1e-6
    )


@pytest.mark.parametrize(
    "extra, fragment",
    [
        (["--plot", "figure.jpg"], "--plot must end in .png, .svg or .pdf"),
        (["--out", "events.txt"], "--out must end in .tsv, .csv or .edf"),
    ],
)
def test_detect_refuses_bad_output_names(
    features_model, recording, tmp_path, capsys, extra, fragment
):
    argv = ["detect", str(features_model), str(recording), "--out", "e.tsv", *extra]
    assert main(argv) == 1
    _one_line_error(capsys, fragment)


def _detect(model, recording, tmp_path):
    return main(
        ["detect", str(model), str(recording), "--out", str(tmp_path / "e.tsv")]
    )


def test_detect_missing_model(recording, tmp_path, capsys):
    assert _detect(tmp_path / "none.skeeg", recording, tmp_path) == 1
    _one_line_error(capsys, "Model file not found")


def test_detect_missing_recording(features_model, tmp_path, capsys):
    assert _detect(features_model, tmp_path / "none.edf", tmp_path) == 1
    _one_line_error(capsys, "EEG recording not found")


def test_detect_unreadable_edf(features_model, tmp_path, capsys):
    path = tmp_path / "broken.edf"
    path.write_bytes(b"0       garbage" * 10)
    assert _detect(features_model, path, tmp_path) == 1
    _one_line_error(capsys, "cannot read the recording")


def _fif(tmp_path, ch_names, sfreq):
    info = mne.create_info(ch_names, sfreq, "eeg")
    data = np.random.default_rng(0).normal(size=(len(ch_names), int(10 * sfreq)))
    path = tmp_path / "other_raw.fif"
    mne.io.RawArray(data * VOLTS, info, verbose=False).save(path, verbose=False)
    return path


def test_detect_refuses_other_rate(features_model, tmp_path, capsys):
    assert _detect(features_model, _fif(tmp_path, CH_NAMES, 128.0), tmp_path) == 1
    _one_line_error(capsys, "sampled at 128 Hz, but the model expects 64 Hz")


def test_detect_refuses_missing_channels(features_model, tmp_path, capsys):
    path = _fif(tmp_path, ["C3", "Cz", "Pz"], SFREQ)
    assert _detect(features_model, path, tmp_path) == 1
    _one_line_error(capsys, "lacks the channels ['C4']")


def test_traceback_flag_reraises(tmp_path):
    with pytest.raises(FileNotFoundError):
        main(["--traceback", "info", str(tmp_path / "none.skeeg")])


# -- demo -----------------------------------------------------------------------------
def test_demo_passes_options_to_the_demo(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(
        skeeg.demo, "run_ied_demo", lambda out, **kw: calls.append((out, kw))
    )
    argv = ["demo", "--out", str(tmp_path), "--epochs", "2", "--seed", "3"]
    assert main([*argv, "--prevalence", "0.1", "--n-jobs", "1"]) == 0
    assert calls == [
        (tmp_path, {"prevalence": 0.1, "epochs": 2, "seed": 3, "n_jobs": 1})
    ]
    assert main(argv) == 0  # --n-jobs defaults to "auto"
    assert calls[-1][1]["n_jobs"] == "auto"


# -- every registry classifier, predict, stage, the montage -----------------------
def _fast_options(entry) -> list[str]:
    import inspect

    parameters = inspect.signature(entry.cls).parameters
    options = []
    if "max_epochs" in parameters:
        options += ["--epochs", "1"]
    if "width" in parameters:
        options += ["--width", "4"]
    return options


@pytest.mark.parametrize(
    "entry", entries("classifier"), ids=[e.name for e in entries("classifier")]
)
def test_train_and_predict_every_registry_classifier(entry, npz, tmp_path, capsys):
    data = dict(np.load(npz))
    if entry.task == "multitask":
        data["sleep_stage"] = np.where(data["y"] == 1, "N2", "W")
    windows = tmp_path / "windows.npz"
    np.savez(windows, **data)
    out = tmp_path / "m.skeeg"
    argv = ["train", "--data", str(windows), "--model", entry.name, "--out", str(out)]
    assert main([*argv, "--quiet", "--h-freq", "20", *_fast_options(entry)]) == 0
    model = load_model(out)
    assert type(model.steps[-1][1]) is entry.cls
    proba_path = tmp_path / "proba.tsv"
    assert main(["predict", str(out), str(windows), "--out", str(proba_path)]) == 0
    table = pd.read_csv(proba_path, sep="\t")
    np.testing.assert_allclose(
        table[["proba_0", "proba_1"]].to_numpy(),
        model.predict_proba(data["X"]),
        rtol=1e-12,
    )
    np.testing.assert_array_equal(table["label"], data["y"])


def test_train_refuses_an_option_the_model_lacks(npz, tmp_path, capsys):
    argv = ["train", "--data", str(npz), "--model", "hmm", "--width", "4"]
    assert main([*argv, "--out", str(tmp_path / "m.skeeg")]) == 1
    _one_line_error(capsys, "--model hmm (HMMClassifier) has no parameter width")


def test_help_defaults_come_from_the_signatures(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    from skeeg import SCClassifier, SMATEClassifier

    assert f"sc {SCClassifier().width};" in out
    assert f"smate {SMATEClassifier().lr};" in out


def test_stage_writes_a_hypnogram_and_its_plot(tmp_path, capsys):
    sfreq, epoch = 50.0, 1500  # 30-s epochs at 50 Hz
    rng = np.random.default_rng(0)
    stages = np.array(["W", "N2", "N3", "REM"] * 10)
    t = np.arange(epoch) / sfreq
    rhythm = {"W": 10.0, "N2": 13.0, "N3": 1.5, "REM": 6.0}
    X = np.stack(
        [[np.sin(2 * np.pi * rhythm[s] * t)] for s in stages]
    ) + 0.3 * rng.standard_normal((len(stages), 1, epoch))
    # The stager is trained on bipolar epochs; the night is referential.
    windows = tmp_path / "epochs.npz"
    np.savez(
        windows,
        X=X * VOLTS,
        y=stages,
        sfreq=sfreq,
        ch_names=np.array(["EEG C3-EEG A2"]),
    )
    model = tmp_path / "stager.skeeg"
    argv = ["train", "--data", str(windows), "--model", "sleep-stager"]
    assert main([*argv, "--out", str(model), "--epochs", "2", "--quiet"]) == 0
    night = np.concatenate(list(X[:8, 0]))[np.newaxis] * VOLTS
    info = mne.create_info(["EEG C3", "EEG A2"], sfreq, "eeg")
    raw = mne.io.RawArray(np.vstack([night, 0 * night]), info, verbose=False)
    path = tmp_path / "night_raw.fif"
    raw.save(path, verbose=False)
    out, plot = tmp_path / "hypnogram.tsv", tmp_path / "hypnogram.png"
    argv = ["stage", str(model), str(path), "--out", str(out), "--plot", str(plot)]
    assert main(argv) == 0
    hypnogram = pd.read_csv(out, sep="\t")
    assert list(hypnogram.columns) == ["onset", "duration", "trial_type"]
    np.testing.assert_array_equal(hypnogram["onset"], np.arange(8) * 30.0)
    expected = load_model(model).predict(X[:8] * VOLTS)
    np.testing.assert_array_equal(hypnogram["trial_type"], expected)
    assert plot.stat().st_size > 0
    assert "8 epochs of 30 s" in capsys.readouterr().out


def test_stage_gives_a_context_stager_the_whole_night(tmp_path):
    from skeeg import SleepStager
    from tests.test_sleep_staging import neighbour_sequence

    # An epoch's stage is its predecessor's kind: staged in batches of 512,
    # epoch 512 would lose its predecessor.
    X, y = neighbour_sequence(530, seed=4)
    assert y[512] != y[513]  # the kinds of epochs 511 and 512 differ
    stager = SleepStager(
        width=8,
        max_epochs=15,
        lr=1e-2,
        context=1,
        validation_fraction=None,
        n_threads=1,
    ).fit(X[:300] * VOLTS, y[:300])
    model = save_model(stager, tmp_path / "ctx.skeeg", sfreq=64.0, ch_names=["C3"])
    raw = mne.io.RawArray(
        np.concatenate(list(X[:, 0]))[np.newaxis] * VOLTS,
        mne.create_info(["C3"], 64.0, "eeg"),
        verbose=False,
    )
    raw.save(tmp_path / "night_raw.fif", verbose=False)
    out = tmp_path / "hypnogram.tsv"
    argv = ["stage", str(model), str(tmp_path / "night_raw.fif"), "--out", str(out)]
    assert main([*argv, "--quiet"]) == 0
    got = pd.read_csv(out, sep="\t")["trial_type"].to_numpy()
    np.testing.assert_array_equal(got, load_model(model).predict(X * VOLTS))
    assert np.mean(got == y) > 0.75


def test_stage_refuses_a_model_that_is_not_a_stager(
    features_model, recording, tmp_path, capsys
):
    out = tmp_path / "h.tsv"
    assert main(["stage", str(features_model), str(recording), "--out", str(out)]) == 1
    _one_line_error(capsys, "needs a SleepStager")


def test_detect_runs_a_bipolar_model_on_the_referential_recording(tmp_path, capsys):
    X, y, _ = bump_dataset(n_windows=80, n_channels=2, n_times=64, seed=2)
    windows = tmp_path / "bipolar.npz"
    names = np.array(["C3-Cz", "Cz-C4"])
    np.savez(windows, X=X * VOLTS, y=y, sfreq=SFREQ, ch_names=names)
    model = tmp_path / "bipolar.skeeg"
    argv = ["train", "--data", str(windows), "--model", "features"]
    assert main([*argv, "--out", str(model)]) == 0
    rng = np.random.default_rng(3)
    referential = rng.normal(size=(3, 40 * 64))
    t = np.arange(referential.shape[1])
    for w in BUMP_WINDOWS:  # on C3 only: C3-Cz carries the bumps
        referential[0] += 4.0 * np.exp(-0.5 * ((t - (w * 64 + 32)) / 2.0) ** 2)
    referential *= VOLTS
    info = mne.create_info(CH_NAMES, SFREQ, "eeg")
    raw = mne.io.RawArray(referential, info, verbose=False)
    path = tmp_path / "ref_raw.fif"
    raw.save(path, verbose=False)
    out = tmp_path / "events.tsv"
    assert main(["detect", str(model), str(path), "--out", str(out), "--quiet"]) == 0
    bipolar = mne.set_bipolar_reference(
        raw.copy().load_data(), ["C3", "Cz"], ["Cz", "C4"], verbose=False
    )
    expected = detect_events(load_model(model), bipolar, ch_names=list(names))
    got = pd.read_csv(out, sep="\t")
    assert len(expected) > 0 and len(got) == len(expected)
    np.testing.assert_allclose(got["onset"], expected["onset"])
    np.testing.assert_allclose(got["score"], expected["score"], rtol=1e-5)
