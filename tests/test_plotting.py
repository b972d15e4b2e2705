"""Figures of skeeg.plotting: what is drawn, headless, and the input checks."""

from __future__ import annotations

import matplotlib.pyplot as plt
import mne
import numpy as np
import pandas as pd
import pytest
from matplotlib.patches import StepPatch

from skeeg.plotting import (
    HYPNOGRAM_ORDER,
    plot_confusion,
    plot_curves,
    plot_events_per_hour,
    plot_recording,
)

SFREQ = 100.0
CH_NAMES = ["Fz", "Cz", "Pz"]

# scikit-learn's documented example: ROC AUC 0.75, average precision 0.83.
Y_TRUE = np.array([0, 0, 1, 1])
SCORES = np.array([0.1, 0.4, 0.35, 0.8])


def _legend(ax) -> list[str]:
    return [text.get_text() for text in ax.get_legend().get_texts()]


@pytest.fixture
def raw():
    """20 s of 3 channels: channel i is a sine of amplitude (i + 1) * 10 µV."""
    t = np.arange(int(20 * SFREQ)) / SFREQ
    data = np.array([(i + 1) * 1e-5 * np.sin(2 * np.pi * 2 * t) for i in range(3)])
    info = mne.create_info(CH_NAMES, SFREQ, "eeg")
    return mne.io.RawArray(data, info, verbose=False)


# -- plot_curves -------------------------------------------------------------------
def test_curves_roc_one_line_per_model_and_chance():
    perfect = Y_TRUE.astype(float)
    ax = plot_curves(Y_TRUE, {"sc": SCORES, "perfect": perfect}, kind="roc")
    assert len(ax.lines) == 3
    assert _legend(ax) == [
        "sc (AUC = 0.75)",
        "perfect (AUC = 1.00)",
        "Chance level (AUC = 0.5)",
    ]
    assert "False Positive Rate" in ax.get_xlabel()
    # The perfect scorer's curve reaches TPR 1 at FPR 0.
    fpr, tpr = ax.lines[1].get_data()
    assert np.any((fpr == 0) & (tpr == 1))


def test_curves_pr_takes_predict_proba_columns():
    proba = np.column_stack([1 - SCORES, SCORES])
    ax = plot_curves(Y_TRUE, {"sc": proba}, kind="pr", chance_level=False)
    assert len(ax.lines) == 1
    assert _legend(ax) == ["sc (AP = 0.83)"]
    assert "Recall" in ax.get_xlabel()
    assert "Precision" in ax.get_ylabel()


def test_curves_draw_on_a_given_axes():
    fig, ax = plt.subplots()
    try:
        assert plot_curves(Y_TRUE, {"a": SCORES}, ax=ax) is ax
    finally:
        plt.close(fig)


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"scores": {"a": SCORES}, "kind": "det"}, "kind must be 'roc' or 'pr'"),
        ({"scores": {}}, "non-empty mapping"),
        ({"scores": [SCORES]}, "non-empty mapping"),
        ({"scores": {"short": SCORES[:3]}}, "has 3 scores, but y_true has 4"),
        ({"scores": {"3col": np.ones((4, 3))}}, "shape (4, 3)"),
    ],
)
def test_curves_reject_bad_input(kwargs, fragment):
    with pytest.raises(ValueError) as info:
        plot_curves(Y_TRUE, **kwargs)
    assert fragment in str(info.value)


# -- plot_recording ----------------------------------------------------------------
def test_recording_traces_in_microvolts_and_events_shaded(raw):
    events = pd.DataFrame({"onset": [1.0, 4.5, 12.0], "duration": [0.5, 2.0, 1.0]})
    ax = plot_recording(raw, events, start_s=0.0, duration_s=5.0)
    assert [label.get_text() for label in ax.get_yticklabels()] == CH_NAMES
    assert ax.get_xlabel() == "Time (s)"
    assert len(ax.lines) == 3
    # Two events overlap [0, 5] s; the second is clipped at the span's end.
    assert len(ax.patches) == 2
    xs = sorted(
        tuple(np.round(p.get_x() + np.array([0, p.get_width()]), 6)) for p in ax.patches
    )
    assert xs == [(1.0, 1.5), (4.5, 5.0)]
    # Channel 2 is a 30 µV sine, drawn two spacings below channel 0.
    t, y = ax.lines[2].get_data()
    assert t[0] == 0.0 and len(t) == 500
    spacing = -ax.get_yticks()[1]
    expected = 30.0 * np.sin(2 * np.pi * 2 * t)
    np.testing.assert_allclose(y + 2 * spacing, expected - expected.mean(), atol=1e-9)


def test_recording_point_event_is_a_line_and_span_starts_later(raw):
    ax = plot_recording(raw, [7.25], start_s=6.0, duration_s=3.0, spacing_uv=100.0)
    assert len(ax.patches) == 0
    assert len(ax.lines) == 3 + 1
    assert ax.lines[3].get_xdata()[0] == 7.25
    assert ax.get_xlim() == (6.0, 9.0)
    np.testing.assert_allclose(ax.get_yticks(), [0.0, -100.0, -200.0])


def test_recording_array_needs_sfreq_and_names_match():
    x = np.zeros((2, 300))
    ax = plot_recording(x, sfreq=100.0, ch_names=["a", "b"], duration_s=2.0)
    assert [label.get_text() for label in ax.get_yticklabels()] == ["a", "b"]
    with pytest.raises(ValueError, match="sfreq"):
        plot_recording(x)
    with pytest.raises(ValueError, match="ch_names has 3 names"):
        plot_recording(x, sfreq=100.0, ch_names=["a", "b", "c"])
    with pytest.raises(ValueError, match="start_s=5"):
        plot_recording(x, sfreq=100.0, start_s=5.0)
    with pytest.raises(ValueError, match="shape"):
        plot_recording(np.zeros((2, 3, 4)), sfreq=100.0)


def test_recording_picks_channels_of_a_raw(raw):
    ax = plot_recording(raw, ch_names=["Pz", "Fz"], duration_s=1.0)
    assert [label.get_text() for label in ax.get_yticklabels()] == ["Pz", "Fz"]
    with pytest.raises(ValueError, match="sampled at 100 Hz"):
        plot_recording(raw, sfreq=250.0)


HYPNOGRAM = pd.DataFrame(
    {
        "onset": [0.0, 30.0, 90.0, 120.0],
        "duration": [30.0, 30.0, 30.0, 30.0],
        "stage": ["W", "N2", "unknown", "REM"],
    }
)


def test_recording_hypnogram_strip_over_the_night(raw):
    ax = plot_recording(raw, hypnogram=HYPNOGRAM, duration_s=10.0)
    strip = ax.figure.axes[0]
    assert strip.get_label() == "hypnogram"
    assert [t.get_text() for t in strip.get_yticklabels()] == list(HYPNOGRAM_ORDER)
    (stairs,) = [p for p in strip.patches if isinstance(p, StepPatch)]
    values, edges, _ = stairs.get_data()
    # W, N2, a gap (60-90 s unscored), unknown (a gap too), REM; edges in hours.
    level = {stage: i for i, stage in enumerate(HYPNOGRAM_ORDER)}
    np.testing.assert_array_equal(
        values, [level["W"], level["N2"], np.nan, np.nan, level["REM"]]
    )
    np.testing.assert_allclose(edges * 3600, [0, 30, 60, 90, 120, 150])


def test_recording_hypnogram_on_a_given_axes_is_an_inset(raw):
    fig, ax = plt.subplots()
    try:
        plot_recording(raw, hypnogram=HYPNOGRAM, ax=ax, duration_s=10.0)
        assert [child.get_label() for child in ax.child_axes] == ["hypnogram"]
    finally:
        plt.close(fig)


@pytest.mark.parametrize(
    "hypnogram, fragment",
    [
        (HYPNOGRAM.drop(columns="stage"), "stage columns"),
        (HYPNOGRAM.assign(stage=["W", "S2", "N2", "N3"]), "['S2'] are not AASM"),
        (HYPNOGRAM.iloc[:0], "no rows"),
    ],
)
def test_recording_rejects_bad_hypnograms(raw, hypnogram, fragment):
    with pytest.raises(ValueError) as info:
        plot_recording(raw, hypnogram=hypnogram)
    assert fragment in str(info.value)


# -- plot_events_per_hour ----------------------------------------------------------
def test_events_per_hour_counts_peaks_per_bin():
    # 2 h 3 min 20 s: two full hours and a last bin of 200 s.
    ax = plot_events_per_hour([100.0, 200.0, 4000.0, 7300.0], 7400.0)
    heights = [patch.get_height() for patch in ax.patches]
    np.testing.assert_allclose(heights, [2.0, 1.0, 1 / (200 / 3600)])
    assert ax.get_ylabel() == "Events per hour"
    assert "(h)" in ax.get_xlabel()


def test_events_per_hour_uses_peaks_and_rejects_outside():
    events = pd.DataFrame({"onset": [590.0], "duration": [20.0]})  # peak at 600 s
    ax = plot_events_per_hour(events, 1200.0, bin_s=600.0)
    np.testing.assert_allclose([p.get_height() for p in ax.patches], [0.0, 6.0])
    with pytest.raises(ValueError, match="outside the recording"):
        plot_events_per_hour([1300.0], 1200.0)
    with pytest.raises(ValueError, match="recording_duration_s"):
        plot_events_per_hour([1.0], 0.0)


# -- plot_confusion ----------------------------------------------------------------
def test_confusion_cells_hold_the_counts():
    y_true = ["spike", "spike", "spike", "bg", "bg"]
    y_pred = ["spike", "bg", "spike", "bg", "bg"]
    ax = plot_confusion(y_true, y_pred, labels=["spike", "bg"])
    # Rows true, columns predicted: spike -> (2 spike, 1 bg); bg -> (0, 2).
    assert [text.get_text() for text in ax.texts] == ["2", "1", "0", "2"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["spike", "bg"]
    assert ax.get_ylabel() == "True label"


# -- files, headless ---------------------------------------------------------------
def test_figures_are_headless_and_save_png_and_svg(raw, tmp_path):
    before = plt.get_fignums()
    axes = [
        plot_curves(Y_TRUE, {"a": SCORES}),
        plot_recording(raw, [1.0], hypnogram=HYPNOGRAM),
        plot_events_per_hour([10.0], 3600.0),
        plot_confusion([0, 1], [0, 1]),
    ]
    assert plt.get_fignums() == before  # no pyplot figure was opened
    for i, ax in enumerate(axes):
        png, svg = tmp_path / f"{i}.png", tmp_path / f"{i}.svg"
        ax.figure.savefig(png)
        ax.figure.savefig(svg)
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert b"<svg" in svg.read_bytes()[:500]
