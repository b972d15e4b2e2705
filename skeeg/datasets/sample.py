"""The small real EEG sample that ships with skeeg (PhysioNet eegmat, ODC-By 1.0)."""

from __future__ import annotations

from importlib import resources

import numpy as np
from sklearn.utils import Bunch

_PACKAGE = "skeeg.datasets"
_DATA = "data/eegmat_sample.npz"
_ATTRIBUTION = "data/eegmat_sample_ATTRIBUTION.txt"


def load_sample() -> Bunch:
    """Load one minute of resting EEG from each of 10 healthy adults.

    Real recordings from the PhysioNet "EEG During Mental Arithmetic Tasks"
    set (Zyma et al. 2019), ODC-By 1.0: the resting-state recording of each of
    10 subjects, 60 s (from 60 s to 120 s), six channels Fp1-F7-T3-T5-O1-O2 at
    the original 500 Hz. The six electrodes are a contiguous arc of the
    circumferential montage (the left temporal chain closed by O1-O2), so
    ``data[:, :-1] - data[:, 1:]`` is a five-derivation longitudinal bipolar
    montage. Values are identical to those :func:`mne.io.read_raw_edf` reads
    from the original EDF files (ICA-cleaned by the authors).

    Returns
    -------
    sample : sklearn.utils.Bunch
        With the fields

        data : ndarray of shape (10, 6, 30000)
            EEG in volts (float64), referential (linked-ear reference of the
            original recording).
        sfreq : float
            Sampling frequency in Hz (500.0).
        ch_names : list of str
            Channel names as in the EDF files, ``"EEG Fp1"`` ... ``"EEG O2"``.
        subject : ndarray of str, shape (10,)
            Subject ids, ``"Subject00"`` ...
        count_quality : ndarray of int, shape (10,)
            Subject label from the original table: 1 = good counter,
            0 = bad counter (5 of each).
        tmin : float
            Start of the excerpt in the original recording, in seconds.
        description : str
            Source, citation, licence and what was changed.

    Examples
    --------
    >>> from skeeg.datasets import load_sample
    >>> sample = load_sample()
    >>> sample.data.shape
    (10, 6, 30000)
    """
    root = resources.files(_PACKAGE)
    with root.joinpath(_DATA).open("rb") as fh, np.load(fh) as npz:
        # int16 counts x (volts per count) + offset: the EDF calibration.
        data = npz["digital"] * npz["scale"][..., None] + npz["offset"][..., None]
        return Bunch(
            data=data,
            sfreq=float(npz["sfreq"]),
            ch_names=[str(ch) for ch in npz["ch_names"]],
            subject=npz["subject"].astype(str),
            count_quality=npz["count_quality"].astype(int),
            tmin=float(npz["tmin"]),
            description=root.joinpath(_ATTRIBUTION).read_text(encoding="utf-8"),
        )
