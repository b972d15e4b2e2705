"""The detection throughput benchmark: its recordings, its forward-only timing,
and a smoke run of the whole script (tiny recording, subprocesses)."""

from __future__ import annotations

import importlib.util
import json
import math
import sys

import mne
import numpy as np
import pytest

from tests.conftest import REPO_ROOT


@pytest.fixture(scope="module")
def bench():
    path = REPO_ROOT / "benchmarks" / "detection_throughput.py"
    spec = importlib.util.spec_from_file_location("detection_throughput", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_synthetic_edf_carries_the_planted_spikes(bench, tmp_path):
    path = tmp_path / "rec.edf"
    times = bench.write_recording(path, 0.02, seed=0)  # 72 s
    raw = mne.io.read_raw_edf(path, preload=True, verbose=False)
    assert raw.info["sfreq"] == 512.0
    assert raw.ch_names == list(bench.CH_NAMES)
    assert raw.n_times == 72 * 512
    x = raw.get_data() * 1e6  # µV
    # One spike per 30-s slot, jittered by at most 10 s.
    assert len(times) == 2
    np.testing.assert_array_less(np.abs(times - [15.0, 45.0]), 10.0 + 1e-9)
    # At each spike the focal channel (gain 1) dips by the spike's 150 µV
    # over a 20-µV background; the far channel (gain 0.1) hardly.
    peak = np.round(times * 512).astype(int)
    focal, far = bench.SPIKE_GAINS.index(1.0), bench.SPIKE_GAINS.index(0.1)
    assert np.all(x[focal, peak] < -150 + 5 * 20)
    assert np.all(x[far, peak] > -15 - 5 * 20)
    assert 15 < np.std(x[far]) < 25


def test_training_windows_label_the_windows_with_a_spike(bench):
    X, y = bench.training_windows(40, seed=1)
    assert X.shape == (40, 5, 768)
    # Spikes every ~5 s in 1.5-s windows; positives dip below -100 µV.
    assert 8 <= y.sum() <= 16
    focal = bench.SPIKE_GAINS.index(1.0)
    assert np.all(X[y == 1, focal].min(axis=1) < -100e-6)


def test_forward_only_scores_as_the_classifier(bench):
    X, y = bench.training_windows(32, seed=2)
    model = bench.sc_pipeline(epochs=1, seed=0).fit(X, y)
    expected = model.predict_proba(X)
    spent = bench._time_forward_only(model)
    np.testing.assert_allclose(model.predict_proba(X), expected, atol=1e-6)
    assert spent["cpu"] > 0 and spent["wall"] > 0


@pytest.mark.slow
def test_benchmark_smoke_writes_table_and_json(bench, tmp_path):
    """Three subprocesses on a 72-s EDF (about half a minute)."""
    result = bench.main(
        [
            *("--hours", "0.02", "--train-windows", "32", "--epochs", "1"),
            *("--out", str(tmp_path), "--workdir", str(tmp_path)),
        ]
    )
    saved = json.loads((tmp_path / "detection_throughput.json").read_text())
    assert saved["rows"] == result["rows"]
    assert "SC end-to-end" in (tmp_path / "detection_throughput.txt").read_text()
    rows = {row["pipeline"]: row for row in result["rows"]}
    assert set(rows) == {"SC end-to-end", "SC forward only", "spectrogram end-to-end"}
    assert rows["SC forward only"]["x_sc_forward"] == 1.0
    for row in rows.values():
        assert row["cpu_s"] > 0 and 50 < row["peak_rss_mb"] < 4096
        assert math.isclose(row["eeg_h_per_cpu_s"], 0.02 / row["cpu_s"])
    # The forward-only run scores the same windows: the same events.
    assert rows["SC forward only"]["n_events"] == rows["SC end-to-end"]["n_events"]
    (summary,) = result["summary"]
    assert summary["sc_end_to_end_over_forward"] > 0.5
    meta = result["metadata"]
    assert meta["threads"] == 1 and "--hours 0.02" in meta["command"]
    # The EDF files are removed with the work directory.
    assert not list(tmp_path.glob("**/*.edf"))
