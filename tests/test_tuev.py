"""TUEV loader on files written in the corpus's published format.

No TUEV data is available here, so each test writes TUH-style EDF files
(referential channels ``"EEG FP1-REF"``, ...) with known sinusoids and
``.rec`` files of ``channel,start,stop,class`` lines, and checks the loader
against closed forms of what was written.
"""

import importlib
import warnings

import mne
import numpy as np
import pandas as pd
import pytest

from skeeg.datasets import load_tuev, read_tuev_events
from tests.conftest import REPO_ROOT

SFREQ = 250.0
DURATION_S = 20.0
ELECTRODES = (
    "FP1", "F7", "T3", "T5", "O1", "FP2", "F8", "T4", "T6", "O2",
    "A1", "C3", "CZ", "C4", "A2", "F3", "P3", "F4", "P4",
)  # fmt: skip
# The TCP montage as published (Ferrell et al. 2020), written out here
# independently of skeeg's table: .rec channel k is a_k - b_k.
TCP = [
    "FP1-F7", "F7-T3", "T3-T5", "T5-O1", "FP2-F8", "F8-T4", "T4-T6", "T6-O2",
    "A1-T3", "T3-C3", "C3-CZ", "CZ-C4", "C4-T4", "T4-A2",
    "FP1-F3", "F3-C3", "C3-P3", "P3-O1", "FP2-F4", "F4-C4", "C4-P4", "P4-O2",
]  # fmt: skip
# EDF stores 16-bit samples: the written sinusoids come back to within a few
# nanovolts (range / 65535 per channel), against amplitudes of 10-60 uV.
ATOL = 1e-8


def electrode_signal(electrode: str, t: np.ndarray) -> np.ndarray:
    """The sinusoid written on ``electrode``, in volts, at times ``t`` (s)."""
    i = ELECTRODES.index(electrode)
    return (10 + 3 * i) * 1e-6 * np.sin(2 * np.pi * (1 + 0.7 * i) * t + 0.3 * i)


def write_recording(
    path, *, reference="REF", drop=(), sfreq=SFREQ, duration_s=DURATION_S
):
    """A TUH-style EDF: the 19 TCP electrodes (minus ``drop``) and an EKG."""
    t = np.arange(int(duration_s * sfreq)) / sfreq
    names = [e for e in ELECTRODES if e not in drop]
    data = [electrode_signal(e, t) for e in names] + [50e-6 * np.sin(2 * np.pi * t)]
    ch_names = [f"EEG {e}-{reference}" for e in names] + [f"EEG EKG1-{reference}"]
    info = mne.create_info(ch_names, sfreq, "eeg")
    raw = mne.io.RawArray(np.array(data), info, verbose=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    mne.export.export_raw(path, raw, fmt="edf", overwrite=True, verbose=False)


def write_rec(path, lines):
    """A .rec in the published format: ``channel,start,stop,class`` per line."""
    path.write_text("".join(f"{c},{a:.4f},{b:.4f},{k}\n" for c, a, b, k in lines))


# channel, start (s), stop (s), class code (1 spsw, 2 gped, 3 pled, 4 eyem,
# 5 artf, 6 bckg)
EVENTS_A = [
    (13, 5.0, 6.0, 1),  # spsw on T4-A2
    (12, 5.0, 6.0, 1),  # the same spike marked on C4-T4 too
    (0, 10.0, 11.0, 6),  # bckg on FP1-F7
    (2, 12.0, 13.0, 2),  # gped: not windowed by default
    (4, 15.0, 16.0, 4),  # eyem on FP2-F8
]
EVENTS_B = [
    (21, 3.0, 4.0, 5),  # artf on P4-O2
    (8, 8.0, 9.0, 1),  # spsw on A1-T3
    (17, 19.5, 20.0, 6),  # bckg too near the end for a 1.5-s window
]


@pytest.fixture
def tuev(tmp_path):
    """A TUEV v2.0-style tree: one train and one eval subject."""
    root = tmp_path / "tuh_eeg_events" / "v2.0.1"
    a = root / "edf" / "train" / "aaaaaaaa" / "aaaaaaaa_s001_t000.edf"
    b = root / "edf" / "eval" / "aaaaaaab" / "aaaaaaab_s002_t001.edf"
    for edf, events in ((a, EVENTS_A), (b, EVENTS_B)):
        write_recording(edf)
        write_rec(edf.with_suffix(".rec"), events)
    return root


def expected_window(channel: str, centre_s: float, window_s: float, sfreq: float):
    """Closed form of a window: electrode a minus electrode b around the centre."""
    n_times = round(window_s * sfreq)
    start = round(centre_s * sfreq) - n_times // 2
    t = (start + np.arange(n_times)) / sfreq
    a, b = channel.split("-")
    return electrode_signal(a, t) - electrode_signal(b, t)


def test_read_tuev_events_parses_the_published_rec_format(tmp_path):
    rec = tmp_path / "x.rec"
    rec.write_text("13,5.0000,6.0000,1\n0,10.0000,11.0000,6\n\n21,3.5000,4.5000,5\n")
    events = read_tuev_events(rec)
    assert list(events.columns[:4]) == ["onset", "duration", "channel", "class"]
    assert events["onset"].tolist() == [5.0, 10.0, 3.5]
    assert events["duration"].tolist() == [1.0, 1.0, 1.0]
    assert events["channel"].tolist() == ["T4-A2", "FP1-F7", "P4-O2"]
    assert events["class"].tolist() == ["spsw", "bckg", "artf"]
    assert events["channel_index"].tolist() == [13, 0, 21]
    assert events["class_code"].tolist() == [1, 6, 5]


def test_read_tuev_events_reads_every_class_code(tmp_path):
    rec = tmp_path / "x.rec"
    write_rec(rec, [(k, float(k), k + 1.0, k) for k in range(1, 7)])
    events = read_tuev_events(rec)
    assert events["class"].tolist() == ["spsw", "gped", "pled", "eyem", "artf", "bckg"]


def test_read_tuev_events_reads_nedc_csv(tmp_path):
    csv = tmp_path / "x.csv"
    csv.write_text(
        "# version = csv_v1.0.0\n# bname = x\n# duration = 20.00 secs\n"
        "# montage_file = nedc_eas_default_montage.txt\n#\n"
        "channel,start_time,stop_time,label,confidence\n"
        "T4-A2,5.0000,6.0000,spsw,1.0000\nFP1-F7,10.0000,11.0000,bckg,1.0000\n"
    )
    events = read_tuev_events(csv)
    assert events["channel_index"].tolist() == [13, 0]
    assert events["class"].tolist() == ["spsw", "bckg"]
    assert events["onset"].tolist() == [5.0, 10.0]


def test_read_tuev_events_empty_file_gives_empty_table(tmp_path):
    rec = tmp_path / "x.rec"
    rec.write_text("")
    events = read_tuev_events(rec)
    assert len(events) == 0
    assert "class" in events.columns


def test_load_tuev_windows_are_tcp_differences_centred_on_events(tuev):
    with pytest.warns(RuntimeWarning, match="1 of 7 TUEV event windows"):
        data = load_tuev(tuev, split=("train", "eval"))
    # Train: spsw x2, bckg, eyem (gped left out); eval: artf, spsw (the bckg at
    # 19.5-20 s has no room for 0.75 s after its centre).
    assert data.X.shape == (6, 22, 375)
    assert data.X.dtype == np.float64
    assert data.sfreq == SFREQ
    assert data.ch_names == TCP
    meta = data.metadata
    assert meta["class"].tolist() == ["spsw", "spsw", "bckg", "eyem", "artf", "spsw"]
    assert meta["channel"].tolist() == [
        "T4-A2", "C4-T4", "FP1-F7", "FP2-F8", "P4-O2", "A1-T3",
    ]  # fmt: skip
    assert data.y.tolist() == [1, 1, 0, 0, 0, 1]
    assert meta["label"].tolist() == data.y.tolist()
    assert data.groups.tolist() == ["aaaaaaaa"] * 4 + ["aaaaaaab"] * 2
    assert meta["split"].tolist() == ["train"] * 4 + ["eval"] * 2
    assert meta["recording"].iloc[0] == "aaaaaaaa_s001_t000"
    assert meta["file"].iloc[-1] == "eval/aaaaaaab/aaaaaaab_s002_t001.edf"
    np.testing.assert_allclose(meta["event_onset"], [5, 5, 10, 15, 3, 8])
    np.testing.assert_allclose(meta["event_duration"], 1.0)
    # Centre 5.5 s -> first sample round(5.5 * 250) - 375 // 2 = 1188.
    np.testing.assert_allclose(meta["onset"].iloc[0], 1188 / SFREQ)
    centres = meta["event_onset"] + 0.5
    for k, centre in enumerate(centres):
        for c, channel in enumerate(TCP):
            np.testing.assert_allclose(
                data.X[k, c],
                expected_window(channel, centre, 1.5, SFREQ),
                atol=ATOL,
                rtol=0,
            )


def test_load_tuev_default_split_is_train(tuev):
    data = load_tuev(tuev)
    assert set(data.metadata["split"]) == {"train"}
    assert len(data.y) == 4


def test_load_tuev_accepts_the_edf_folder(tuev):
    with pytest.warns(RuntimeWarning, match="1 of 3"):
        data = load_tuev(tuev / "edf", split="eval")
    assert data.metadata["class"].tolist() == ["artf", "spsw"]


def test_load_tuev_events_table_lists_every_line_and_its_window(tuev):
    with pytest.warns(RuntimeWarning):
        data = load_tuev(tuev, split=["train", "eval"])
    events = data.events
    assert len(events) == len(EVENTS_A) + len(EVENTS_B)
    assert events["class_code"].tolist() == [e[3] for e in EVENTS_A + EVENTS_B]
    # gped (not a chosen class) and the bckg at the end are not windowed.
    assert events["window"].tolist() == [0, 1, 2, -1, 3, 4, 5, -1]
    windowed = events[events["window"] >= 0]
    np.testing.assert_array_equal(
        windowed["onset"].to_numpy(), data.metadata["event_onset"].to_numpy()
    )


def test_load_tuev_ied_classes_can_include_periodic_discharges(tuev):
    data = load_tuev(tuev, ied_classes=("spsw", "gped", "pled"))
    assert data.metadata["class"].tolist() == ["spsw", "spsw", "bckg", "gped", "eyem"]
    assert data.y.tolist() == [1, 1, 0, 1, 0]


def test_load_tuev_negative_classes_select_background_only(tuev):
    with pytest.warns(RuntimeWarning):
        X, y = load_tuev(
            tuev, split=("train", "eval"), negative_classes=("bckg",), return_X_y=True
        )
    # spsw, spsw, bckg (train) and spsw (eval; its bckg does not fit).
    assert y.tolist() == [1, 1, 0, 1]
    assert X.shape == (4, 22, 375)


def test_load_tuev_reads_linked_ear_recordings(tmp_path):
    edf = tmp_path / "edf" / "train" / "s1" / "s1_s001_t000.edf"
    write_recording(edf, reference="LE")
    write_rec(edf.with_suffix(".rec"), [(10, 4.0, 5.0, 1)])
    data = load_tuev(tmp_path)
    np.testing.assert_allclose(
        data.X[0, 10], expected_window("C3-CZ", 4.5, 1.5, SFREQ), atol=ATOL, rtol=0
    )


def test_load_tuev_resamples_before_windowing(tuev):
    data = load_tuev(tuev, sfreq=125.0, window_s=2.0)
    assert data.sfreq == 125.0
    assert data.X.shape == (4, 22, 250)
    # Anti-aliased polyphase resampling keeps these 1-14 Hz sinusoids to
    # within a fraction of a percent away from the recording's ends.
    for c in (0, 13, 21):
        np.testing.assert_allclose(
            data.X[0, c],
            expected_window(TCP[c], 5.5, 2.0, 125.0),
            atol=0.02 * 60e-6,
            rtol=0,
        )


def test_load_tuev_missing_folder_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="no_such_tuev"):
        load_tuev(tmp_path / "no_such_tuev")


def test_load_tuev_missing_split_folder_names_it(tmp_path):
    (tmp_path / "edf" / "train").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="eval"):
        load_tuev(tmp_path, split="eval")


def test_load_tuev_missing_rec_names_the_recording(tmp_path):
    edf = tmp_path / "edf" / "train" / "s1" / "s1_s001_t000.edf"
    write_recording(edf)
    with pytest.raises(FileNotFoundError, match="s1_s001_t000.rec"):
        load_tuev(tmp_path)


def test_load_tuev_names_the_missing_tcp_electrode(tmp_path):
    edf = tmp_path / "edf" / "train" / "s1" / "s1_s001_t000.edf"
    write_recording(edf, drop=("CZ", "A2"))
    write_rec(edf.with_suffix(".rec"), [(0, 4.0, 5.0, 1)])
    with pytest.raises(ValueError, match=r"lacks the TCP electrodes \['CZ', 'A2'\]"):
        load_tuev(tmp_path)


@pytest.mark.parametrize(
    ("line", "match"),
    [
        ("13,5.0000,6.0000", "expected 4 comma-separated fields"),
        ("13,5.0000,six,1", "must be numbers"),
        ("22,5.0000,6.0000,1", "channel '22' is not a TCP channel index 0 to 21"),
        ("13,6.0000,5.0000,1", "0 <= start < stop"),
    ],
)
def test_read_tuev_events_malformed_line_gives_file_and_line(tmp_path, line, match):
    rec = tmp_path / "bad.rec"
    rec.write_text(f"0,1.0000,2.0000,6\n{line}\n")
    with pytest.raises(ValueError, match=match) as error:
        read_tuev_events(rec)
    assert "bad.rec' line 2" in str(error.value)


def test_read_tuev_events_unknown_class_code(tmp_path):
    rec = tmp_path / "bad.rec"
    rec.write_text("0,1.0000,2.0000,6\n0,2.0000,3.0000,7\n")
    with pytest.raises(ValueError, match="Unknown TUEV class code '7'.*line 2"):
        read_tuev_events(rec)


def test_load_tuev_malformed_rec_surfaces_through_the_loader(tuev):
    rec = next((tuev / "edf" / "train").rglob("*.rec"))
    rec.write_text(rec.read_text() + "3,1.0000,2.0000,9\n")
    with pytest.raises(ValueError, match=f"{rec.name}' line 6"):
        load_tuev(tuev)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"split": "test"}, "split must be one of"),
        ({"ied_classes": ("spike",)}, "ied_classes must be"),
        ({"negative_classes": ()}, "negative_classes must be"),
        ({"negative_classes": ("spsw", "bckg")}, r"\['spsw'\] are in both"),
        ({"window_s": 0}, "window_s must be a positive number"),
        ({"sfreq": -1.0}, "sfreq must be a positive number"),
    ],
)
def test_load_tuev_rejects_bad_parameters(tuev, kwargs, match):
    with pytest.raises(ValueError, match=match):
        load_tuev(tuev, **kwargs)


def test_load_tuev_mixed_rates_need_sfreq(tmp_path):
    for subject, rate in (("s1", 250.0), ("s2", 256.0)):
        edf = tmp_path / "edf" / "train" / subject / f"{subject}_s001_t000.edf"
        write_recording(edf, sfreq=rate)
        write_rec(edf.with_suffix(".rec"), [(0, 4.0, 5.0, 1)])
    with pytest.raises(ValueError, match="different sampling rates.*pass sfreq"):
        load_tuev(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data = load_tuev(tmp_path, sfreq=250.0)
    assert data.X.shape == (2, 22, 375)


def test_load_tuev_description_carries_citation_and_licence(tuev):
    data = load_tuev(tuev)
    assert "Harati" in data.description
    assert "registration" in data.description
    assert isinstance(data.events, pd.DataFrame)


def test_load_tuev_without_events_of_the_chosen_classes(tmp_path):
    edf = tmp_path / "edf" / "train" / "s1" / "s1_s001_t000.edf"
    write_recording(edf)
    write_rec(edf.with_suffix(".rec"), [(0, 4.0, 5.0, 3)])  # one pled only
    with pytest.raises(ValueError, match=r"No events of the classes \['spsw'"):
        load_tuev(tmp_path)


def _paper_protocol(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO_ROOT / "benchmarks"))
    return importlib.import_module("iedeal_paper_protocol")


def test_paper_protocol_tuev_flag_fails_clearly_without_the_corpus(
    tmp_path, monkeypatch, capsys
):
    protocol = _paper_protocol(monkeypatch)
    with pytest.raises(SystemExit):
        protocol.parse_args(["--tuev", str(tmp_path / "tuh_eeg_events")])
    message = capsys.readouterr().err
    assert "tuh_eeg_events: no such folder" in message
    assert "not in this repository" in message


def test_paper_protocol_tuev_setting_draws_the_paper_prevalence(tmp_path, monkeypatch):
    # 10 spsw and 30 bckg events, one a second from 2 s, over both splits.
    for split, subject, codes in (
        ("train", "s1", [1] * 10 + [6] * 15),
        ("eval", "s2", [6] * 15),
    ):
        edf = tmp_path / "edf" / split / subject / f"{subject}_s001_t000.edf"
        write_recording(edf, duration_s=30.0)
        write_rec(
            edf.with_suffix(".rec"),
            [(k % 22, 2.0 + k, 3.0 + k, c) for k, c in enumerate(codes)],
        )
    protocol = _paper_protocol(monkeypatch)
    task = "spsw_gped_pled_vs_eyem_artf_bckg"
    prevalence = protocol.TUEV_TASKS[task][2]
    load = protocol.load_setting(
        "tuev", task, prevalence, protocol.SIZES["smoke"], tmp_path
    )
    X, y, groups, sfreq = load(0)
    # Odds 0.215 / 0.785: round(30 * odds) = 8 of the 10 positives, then
    # round(8 / odds) = 29 of the 30 negatives.
    assert (int(y.sum()), int((y == 0).sum())) == (8, 29)
    assert X.shape == (37, 22, 375)
    assert sfreq == SFREQ
    assert set(groups) == {"s1", "s2"}
    assert not np.array_equal(load(1)[0], X)
