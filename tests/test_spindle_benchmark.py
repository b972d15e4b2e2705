"""The DREAMS spindle benchmark: its labelling, event, averaging and merging
rules on hand-built cases, YASA's rows, and a smoke run on the real excerpts
(skipped without the data or without yasa). Its baseline's features are
skeeg.features.SigmaPower (tests/test_features.py)."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import REPO_ROOT, shared_data_dir


@pytest.fixture(scope="module")
def bench():
    path = REPO_ROOT / "benchmarks" / "spindle_detection.py"
    spec = importlib.util.spec_from_file_location("spindle_detection", path)
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their module up in sys.modules.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_window_labels_need_half_the_centre_inside_a_spindle(bench):
    # 1-s windows every 0.25 s; centre region [start + 0.375, start + 0.625).
    starts = np.arange(0, 4.01, 0.25)
    spindles = pd.DataFrame(
        # the second overlaps the first (counted once); the third is 0.1 s,
        # under half of any centre region
        {"onset": [0.95, 1.2, 3.0], "duration": [0.5, 0.4, 0.1]}
    )
    y = bench.window_labels(
        starts, spindles, window_s=1.0, centre_s=0.25, sfreq=100.0, n_samples=500
    )
    # Spindle samples [0.95, 1.6): centre regions of the windows at 0.5
    # (0.175 s inside), 0.75 (0.25 s) and 1.0 (0.225 s) are over half inside;
    # the one at 0.25 ends at 0.875 and the one at 1.25 starts at 1.625.
    expected = np.isin(starts, [0.5, 0.75, 1.0]).astype(int)
    np.testing.assert_array_equal(y, expected)


def test_centre_events_span_the_centre_regions_of_their_windows(bench):
    from skeeg.detection import windows_to_events

    windows = pd.DataFrame(
        {
            "onset": [0.0, 0.25, 0.5, 0.75, 2.0],
            "duration": 1.0,
            "score": [0.9, 0.8, 0.7, 0.1, 0.95],
        }
    )
    events = bench.centre_events(
        windows_to_events(windows, threshold=0.5), bench.SIZES["smoke"]
    )
    # Centre regions [0.375, 0.625), [0.625, 0.875), [0.875, 1.125): one
    # event [0.375, 1.125); the lone window at 2.0 gives [2.375, 2.625).
    np.testing.assert_allclose(events["onset"], [0.375, 2.375])
    np.testing.assert_allclose(events["duration"], [0.75, 0.25])
    # Peaks stay at the centre of the best window.
    np.testing.assert_allclose(events["peak"], [0.5, 2.5])


def _scores(f1: float, n_reference: int = 10) -> dict:
    rule = {"precision": f1, "recall": f1, "f1": f1, "n_detected": 10}
    scores = {**rule, "n_reference": n_reference, "n_matched": 5}
    return {"iou": scores, "peak": scores}


def test_means_over_the_excerpts_yasa_scored_stand_beside_the_full_ones(bench):
    rows = [
        {"excerpt": k, "detector": "SC", "seed": 0, "scores": {"expert 1": _scores(f)}}
        for k, f in ((1, 0.2), (2, 0.4), (3, 0.9))
    ] + [
        {"excerpt": k, "detector": bench.YASA, "seed": None}
        | {"scores": {"expert 1": _scores(f)}}
        for k, f in ((1, 0.1), (2, 0.5))
    ]
    table = {(t["excerpt"], t["detector"]): t for t in bench.summary(rows, "iou")}
    assert table[("mean 1-6", "SC")]["f1"] == pytest.approx(0.5)
    # YASA has no excerpt 3: no mean over 1-6, a mean over 1 and 2 for both.
    assert ("mean 1-6", bench.YASA) not in table
    assert table[("mean 1,2", "SC")]["f1"] == pytest.approx(0.3)
    assert table[("mean 1,2", bench.YASA)]["f1"] == pytest.approx(0.3)
    assert table[("mean 1,2", bench.YASA)]["n_reference"] == 20
    text = bench.report(rows, {bench.YASA: {1: "ok", 2: "ok", 3: "refused: why"}})
    assert "YASA on excerpt 3: refused: why" in text
    line = next(x for x in text.splitlines() if x.startswith("3 "))
    assert line.split()[-1] == "refused"


def test_yasa_missing_is_a_status_not_an_error(bench, monkeypatch):
    monkeypatch.setitem(sys.modules, "yasa", None)
    events, status = bench.yasa_events(np.zeros(1000), 100.0)
    assert events is None
    assert status.startswith("not importable") and "skeeg[bench]" in status
    text = bench.report([], {bench.YASA: {1: status, 2: status}})
    assert text.count("YASA left out: not importable") == 1


def test_earlier_rows_are_kept_only_from_the_same_protocol(bench, tmp_path):
    meta = {"recipe": {"a": (1, 2)}, "thresholds": [0.5], "matching": {}}
    meta |= {"scored_s": 1000.0, "seeds": [0]}
    detectors = ("expert 2", "SC", "sigma+LR", bench.YASA)
    earlier = {
        "metadata": {**json.loads(json.dumps(meta)), "command": "python x.py"},
        "rows": [{"detector": d, "excerpt": 1} for d in detectors],
    }
    path = tmp_path / "earlier.json"
    path.write_text(json.dumps(earlier))
    kept = bench.earlier_rows(path, meta, [bench.YASA, bench.YASA_RESAMPLED])
    assert [r["detector"] for r in kept] == ["SC", "sigma+LR"]
    assert meta["rows_from"]["detectors"] == ["SC", "sigma+LR"]
    assert meta["rows_from"]["command"] == "python x.py"
    with pytest.raises(SystemExit, match="seeds differ"):
        bench.earlier_rows(path, {**meta, "seeds": [0, 1]}, [bench.YASA])


def _dreams(bench) -> Path:
    data = shared_data_dir()
    if not (data / bench.DREAMS_FOLDER).is_dir():
        pytest.skip(f"DREAMS spindle excerpts not found under {data}")
    return data


def test_yasa_refuses_the_50_hz_excerpt_unless_resampled(bench):
    pytest.importorskip("yasa", reason="yasa is optional (pip install 'skeeg[bench]')")
    data = _dreams(bench)
    excerpts = bench.load_excerpts(data, [1, 3], 100.0)
    row, status = bench.yasa_row(bench.YASA, data, excerpts[3])
    assert row is None
    assert status.startswith("refused") and "Nyquist" in status
    row, status = bench.yasa_row(bench.YASA_RESAMPLED, data, excerpts[3])
    assert status == "ok" and set(row["scores"]) == {"expert 1", "expert 2"}
    # Excerpt 1 is recorded at 100 Hz: both rows see the same signal.
    signal, sfreq = bench.yasa_signal(bench.YASA, data, excerpts[1])
    assert sfreq == 100.0
    events, status = bench.yasa_events(signal, sfreq)
    assert status == "ok" and len(events) > 0
    # YASA's default spindle durations are 0.5-2 s; peaks in the scored span.
    assert events["duration"].between(0.5, 2.0).all()
    assert (events["peak"] < bench.SCORED_S).all()
    assert (events["onset"] <= events["peak"]).all()


@pytest.mark.slow
def test_spindle_benchmark_smoke_run(bench, tmp_path):
    """Two training excerpts, one test excerpt, one SC epoch (~20 s)."""
    data = shared_data_dir()
    dreams = data / bench.DREAMS_FOLDER
    if not dreams.is_dir():
        pytest.skip(f"DREAMS spindle excerpts not found at {dreams}")
    result = bench.main(
        ["--size", "smoke", "--data", str(data), "--out", str(tmp_path)]
    )
    saved = json.loads((tmp_path / "spindle_detection_smoke.json").read_text())
    assert saved["metadata"]["command"].endswith(
        f"--size smoke --data {data} --out {tmp_path}"
    )
    assert (
        (tmp_path / "spindle_detection_smoke.txt")
        .read_text()
        .startswith("Event F1, IoU >= 0.2")
    )
    assert (tmp_path / "spindle_detection_smoke_f1.png").stat().st_size > 0

    rows = {row["detector"]: row for row in result["rows"]}
    has_yasa = importlib.util.find_spec("yasa") is not None
    yasa = {bench.YASA, bench.YASA_RESAMPLED}
    assert set(rows) == {"expert 2", "SC", "sigma+LR"} | (yasa if has_yasa else set())
    statuses = {s for by in result["yasa"].values() for s in by.values()}
    assert statuses == {"ok"} if has_yasa else statuses.pop().startswith("not")
    # The inter-expert row counts the experts' files, read independently.
    expert1 = np.loadtxt(dreams / "Visual_scoring1_excerpt1.txt", skiprows=1)
    expert2 = np.loadtxt(dreams / "Visual_scoring2_excerpt1.txt", skiprows=1)
    in_span = expert2[:, 0] + expert2[:, 1] / 2 < bench.SCORED_S
    agreement = rows["expert 2"]["scores"]["expert 1"]["iou"]
    assert agreement["n_reference"] == len(expert1)
    assert agreement["n_detected"] == in_span.sum()
    for name in set(rows) - {"expert 2"}:
        row = rows[name]
        assert row.get("threshold", 0.5) in bench.THRESHOLDS
        assert set(row["scores"]) == {"expert 1", "expert 2"}
        for reference in row["scores"].values():
            for rule in ("iou", "peak"):
                scores = reference[rule]
                assert 0 <= scores["f1"] <= 1
                # F1 is 2 matched / (detected + reference).
                assert math.isclose(
                    scores["f1"],
                    2
                    * scores["n_matched"]
                    / max(scores["n_detected"] + scores["n_reference"], 1),
                )
