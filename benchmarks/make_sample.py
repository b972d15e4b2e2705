"""Regenerate the bundled EEG sample ``skeeg/datasets/data/eegmat_sample.npz``.

The sample is one minute of the resting recording (``SubjectNN_1.edf``) of each
of the 10 eegmat subjects in the shared data folder, six channels, at the
original 500 Hz. The EDF's own 16-bit integers are stored with each channel's
EDF calibration (volts per count and offset), so ``load_sample`` gives back
exactly what ``mne.io.read_raw_edf`` reads, in about 3 MB.

Command::

    python benchmarks/make_sample.py [--data-dir /work/shared/data/eegmat]

Channel choice: Fp1-F7-T3-T5-O1-O2 is a contiguous arc of the standard
circumferential montage, i.e. the left temporal chain of the longitudinal
bipolar ("double banana") montage closed by the occipital link O1-O2. Six
electrodes give five bipolar derivations (the iEDeaL paper used five). The
temporal chain is where the IEDs of temporal-lobe epilepsy, the commonest focal
epilepsy, are maximal; Fp1 carries eye-blink and F7/T3 temporalis-muscle
artefacts, the realistic look-alikes a detector must reject.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import mne
import numpy as np
import pandas as pd

CHANNELS = ["EEG Fp1", "EEG F7", "EEG T3", "EEG T5", "EEG O1", "EEG O2"]
# A minute away from the first seconds of the recording (electrode settling,
# the subject closing the eyes) and shorter than the shortest file (170 s).
TMIN_S = 60.0
DURATION_S = 60.0
OUT = Path(__file__).resolve().parents[1] / "skeeg" / "datasets" / "data"


def read_edf_calibration(path: Path) -> dict[str, tuple[float, float]]:
    """Per-signal ``(cal, offset)`` in physical units, from the EDF header.

    ``physical = digital * cal + offset`` is the EDF definition of the linear
    map between the stored integers and the physical values.
    """
    with open(path, "rb") as fh:
        head = fh.read(256)
        ns = int(head[252:256])
        sig = fh.read(256 * ns)

    def field(start: int, width: int) -> list[str]:
        base = start * ns
        return [
            sig[base + i * width : base + (i + 1) * width].decode("ascii").strip()
            for i in range(ns)
        ]

    # Field offsets (in units of ns) follow the EDF spec: label 16,
    # transducer 80, dimension 8, then physical min/max and digital min/max.
    labels = field(0, 16)
    pmin = np.array(field(104, 8), dtype=float)
    pmax = np.array(field(112, 8), dtype=float)
    dmin = np.array(field(120, 8), dtype=float)
    dmax = np.array(field(128, 8), dtype=float)
    cal = (pmax - pmin) / (dmax - dmin)
    offset = pmin - dmin * cal
    return {lab: (c, o) for lab, c, o in zip(labels, cal, offset, strict=True)}


def main() -> None:
    default = Path(
        os.environ.get(
            "SKEEG_SHARED_DATA", Path(__file__).resolve().parents[1] / "../shared/data"
        )
    )
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=default / "eegmat")
    args = parser.parse_args()

    info = pd.read_csv(args.data_dir / "subject-info.csv").set_index("Subject")
    files = sorted(args.data_dir.glob("Subject*_1.edf"))
    subjects, quality, digital, scale, offset = [], [], [], [], []
    max_err = 0.0
    for path in files:
        subject = path.name.split("_")[0]
        raw = mne.io.read_raw_edf(path, preload=True, verbose="error")
        raw.pick(CHANNELS).crop(TMIN_S, TMIN_S + DURATION_S, include_tmax=False)
        volts = raw.get_data()
        # EEG channels are stored in µV in these files (EDF dimension "uV").
        calib = read_edf_calibration(path)
        cal = np.array([calib[ch][0] for ch in CHANNELS]) * 1e-6
        off = np.array([calib[ch][1] for ch in CHANNELS]) * 1e-6
        counts = np.rint((volts - off[:, None]) / cal[:, None])
        rebuilt = counts * cal[:, None] + off[:, None]
        max_err = max(max_err, float(np.abs(rebuilt - volts).max()))
        subjects.append(subject)
        quality.append(int(info.loc[subject, "Count quality"]))
        digital.append(counts.astype(np.int16))
        scale.append(cal)
        offset.append(off)
        sfreq = raw.info["sfreq"]
    if max_err > 1e-12:
        raise RuntimeError(f"int16 round trip is off by {max_err:.3g} V")

    OUT.mkdir(parents=True, exist_ok=True)
    target = OUT / "eegmat_sample.npz"
    np.savez_compressed(
        target,
        digital=np.stack(digital),
        scale=np.stack(scale),
        offset=np.stack(offset),
        sfreq=np.float64(sfreq),
        tmin=np.float64(TMIN_S),
        ch_names=np.array(CHANNELS),
        subject=np.array(subjects),
        count_quality=np.array(quality),
    )
    print(
        "| subjects | channels | sfreq | seconds | bytes | max round-trip error (V) |"
    )
    print("|---|---|---|---|---|---|")
    print(
        f"| {len(subjects)} | {len(CHANNELS)} | {sfreq:g} | {DURATION_S:g} "
        f"| {target.stat().st_size} | {max_err:.2g} |"
    )


if __name__ == "__main__":
    main()
