import numpy as np
import pandas as pd
import pytest

from skeeg.datasets import read_hypnogram, rk_to_aasm


def _field(value, width):
    return str(value).ljust(width)[:width].encode("ascii")


def _write_edf_plus_hypnogram(path, annotations):
    """Write an annotation-only EDF+ file, as Sleep-EDF's *Hypnogram.edf are.

    Built byte by byte from the EDF+ specification (no EDF writer is installed),
    so the test does not depend on the reader it checks.
    """
    tals = b"+0\x14\x14\x00"  # the time-keeping TAL every EDF+ record starts with
    for onset, duration, text in annotations:
        tals += f"+{onset:g}\x15{duration:g}\x14{text}\x14\x00".encode()
    n_samples = (len(tals) + 1) // 2 + 1
    tals = tals.ljust(2 * n_samples, b"\x00")
    header = b"".join(
        [
            _field("0", 8),
            _field("X X X X", 80),
            _field("Startdate 01-JAN-2020 X X X", 80),
            _field("01.01.20", 8),
            _field("00.00.00", 8),
            _field(512, 8),  # 256 bytes + 256 per signal
            _field("EDF+C", 44),
            _field(1, 8),  # one data record
            _field(1, 8),  # of 1 s
            _field(1, 4),  # one signal: the annotations
            _field("EDF Annotations", 16),
            _field("", 80),
            _field("", 8),
            _field(-1, 8),
            _field(1, 8),
            _field(-32768, 8),
            _field(32767, 8),
            _field("", 80),
            _field(n_samples, 8),
            _field("", 32),
        ]
    )
    path.write_bytes(header + tals)


AASM_OF = {
    "Sleep stage W": "W",
    "Sleep stage 1": "N1",
    "Sleep stage 2": "N2",
    "Sleep stage 3": "N3",
    "Sleep stage 4": "N3",
    "Sleep stage R": "REM",
    "Sleep stage ?": "unknown",
    "Movement time": "artifact",
    "W": "W",
    "1": "N1",
    "S1": "N1",
    "2": "N2",
    "S2": "N2",
    "3": "N3",
    "S3": "N3",
    "4": "N3",
    "S4": "N3",
    "R": "REM",
    "REM": "REM",
    "M": "artifact",
    "MT": "artifact",
    "?": "unknown",
}


@pytest.mark.parametrize(("rk", "aasm"), list(AASM_OF.items()))
def test_rk_to_aasm_maps_each_label(rk, aasm):
    assert rk_to_aasm(rk) == aasm


def test_rk_to_aasm_maps_sequences_elementwise():
    out = rk_to_aasm(["W", " Sleep stage 4 ", "R", "?"])
    assert isinstance(out, np.ndarray)
    assert out.tolist() == ["W", "N3", "REM", "unknown"]


@pytest.mark.parametrize("label", ["N2", "Sleep stage 5", "Lights off", "w"])
def test_rk_to_aasm_rejects_unknown_label_listing_accepted(label):
    with pytest.raises(ValueError, match=r"accepted labels are .*'Sleep stage W'"):
        rk_to_aasm(["W", label])


def test_read_hypnogram_reads_sleep_edf_style_edf_plus(tmp_path):
    scored = [
        (0, 60, "Sleep stage W"),
        (60, 30, "Sleep stage 1"),
        (90, 90, "Sleep stage 2"),
        (180, 30, "Sleep stage 3"),
        (210, 30, "Sleep stage 4"),
        (240, 60, "Sleep stage R"),
        (300, 30, "Movement time"),
        (330, 30, "Sleep stage ?"),
    ]
    path = tmp_path / "SC4001EC-Hypnogram.edf"
    _write_edf_plus_hypnogram(path, scored)
    hyp = read_hypnogram(path)
    expected = pd.DataFrame(
        {
            "onset": [0.0, 60, 90, 180, 210, 240, 300, 330],
            "duration": [60.0, 30, 90, 30, 30, 60, 30, 30],
            "stage_rk": [s for _, _, s in scored],
            "stage": ["W", "N1", "N2", "N3", "N3", "REM", "artifact", "unknown"],
        }
    )
    pd.testing.assert_frame_equal(hyp, expected, check_dtype=False)


def test_read_hypnogram_refuses_non_stage_annotations(tmp_path):
    path = tmp_path / "hyp.edf"
    _write_edf_plus_hypnogram(path, [(0, 30, "Sleep stage W"), (30, 0, "Lights off")])
    with pytest.raises(ValueError, match="Lights off"):
        read_hypnogram(path)


def test_read_hypnogram_missing_file_names_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere.edf"):
        read_hypnogram(tmp_path / "nothere.edf")
