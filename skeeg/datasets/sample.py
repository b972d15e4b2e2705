"""The small real EEG sample that ships with skeeg (PhysioNet eegmat, ODC-By 1.0)."""

from __future__ import annotations

from importlib import resources

import numpy as np
import pandas as pd
from sklearn.utils import Bunch

_PACKAGE = "skeeg.datasets"
_DATA = "data/eegmat_sample.npz"
_ATTRIBUTION = "data/eegmat_sample_ATTRIBUTION.txt"


def load_sample(*, return_X_y: bool = False) -> Bunch | tuple[np.ndarray, np.ndarray]:
    """Load one minute of resting EEG from each of 10 healthy adults.

    Real recordings from the PhysioNet "EEG During Mental Arithmetic Tasks"
    set (Zyma et al. 2019), ODC-By 1.0: the resting-state recording of each of
    10 subjects, 60 s (from 60 s to 120 s), six channels Fp1-F7-T3-T5-O1-O2 at
    the original 500 Hz. The six electrodes are a contiguous arc of the
    circumferential montage (the left temporal chain closed by O1-O2), so
    ``X[:, :-1] - X[:, 1:]`` is a five-derivation longitudinal bipolar
    montage. Values are identical to those :func:`mne.io.read_raw_edf` reads
    from the original EDF files (ICA-cleaned by the authors).

    Parameters
    ----------
    return_X_y : bool, default=False
        Return ``(X, y)`` instead of the Bunch.

    Returns
    -------
    sample : sklearn.utils.Bunch
        With the fields

        X : ndarray of shape (10, 6, 30000)
            EEG in volts (float64), one recording per row: (n_subjects,
            n_channels, n_times), referential (linked-ear reference of the
            original recording).
        y : ndarray of int of shape (10,)
            The subject's count quality from the original table: 1 = good
            counter, 0 = bad counter (5 of each).
        groups : ndarray of str of shape (10,)
            Subject ids, ``"Subject00"`` ...
        metadata : pandas.DataFrame
            One row per row of ``X``: ``subject`` (= ``groups``) and
            ``count_quality`` (= ``y``).
        sfreq : float
            Sampling frequency in Hz (500.0).
        ch_names : list of str
            Channel names as in the EDF files, ``"EEG Fp1"`` ... ``"EEG O2"``.
        tmin : float
            Start of the excerpt in the original recording, in seconds.
        description : str
            Source, citation, licence and what was changed.

        The sample has no scored events, so there is no ``events`` field.

    (X, y) : tuple of ndarray
        With ``return_X_y=True``: the two arrays above.

    Examples
    --------
    >>> from skeeg.datasets import load_sample
    >>> sample = load_sample()
    >>> sample.X.shape
    (10, 6, 30000)
    >>> X, y = load_sample(return_X_y=True)
    >>> y.tolist()
    [0, 1, 1, 1, 0, 1, 0, 1, 0, 0]
    """
    root = resources.files(_PACKAGE)
    with root.joinpath(_DATA).open("rb") as fh, np.load(fh) as npz:
        # int16 counts x (volts per count) + offset: the EDF calibration.
        X = npz["digital"] * npz["scale"][..., None] + npz["offset"][..., None]
        y = npz["count_quality"].astype(int)
        if return_X_y:
            return X, y
        subject = npz["subject"].astype(str)
        return Bunch(
            X=X,
            y=y,
            groups=subject,
            metadata=pd.DataFrame({"subject": subject, "count_quality": y}),
            sfreq=float(npz["sfreq"]),
            ch_names=[str(ch) for ch in npz["ch_names"]],
            tmin=float(npz["tmin"]),
            description=root.joinpath(_ATTRIBUTION).read_text(encoding="utf-8"),
        )
