"""The DREAMS spindle benchmark: its labelling and event rules on hand-built
cases, and a smoke run on the real excerpts (skipped without the data). Its
baseline's features are skeeg.features.SigmaPower (tests/test_features.py)."""

from __future__ import annotations

import importlib.util
import json
import math
import sys

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
    assert set(rows) == {"expert 2", "SC", "sigma+LR"}
    # The inter-expert row counts the experts' files, read independently.
    expert1 = np.loadtxt(dreams / "Visual_scoring1_excerpt1.txt", skiprows=1)
    expert2 = np.loadtxt(dreams / "Visual_scoring2_excerpt1.txt", skiprows=1)
    in_span = expert2[:, 0] + expert2[:, 1] / 2 < bench.SCORED_S
    agreement = rows["expert 2"]["scores"]["expert 1"]["iou"]
    assert agreement["n_reference"] == len(expert1)
    assert agreement["n_detected"] == in_span.sum()
    for name in ("SC", "sigma+LR"):
        row = rows[name]
        assert row["threshold"] in bench.THRESHOLDS
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
