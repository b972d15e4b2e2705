"""Windows into batches: the training dataset that takes a batch in one
indexing, its collate function, and the batch source of inference.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from skorch.dataset import Dataset
from skorch.utils import multi_indexing
from torch.utils.data import default_collate

from skeeg._validation import is_lazy_windows


def windows_dataset(X, y) -> Dataset:
    """The skorch dataset of training windows ``X`` with targets ``y``.

    Parameters
    ----------
    X : ndarray of float32, shape (n_windows, n_channels, n_times), or LazyWindows
    y : Tensor or dict of Tensor
        The targets, shape (n_windows, ...) each.

    Returns
    -------
    dataset : skorch.dataset.Dataset
        Its batches are taken in one indexing (of the array, or one
        :meth:`~skeeg.datasets.LazyWindows.read`) when torch's DataLoader asks
        for a batch's indices; with :func:`collate_windows` (what skeeg's nets
        use) the DataLoader stacks nothing. Any other DataLoader sees rows.
    """
    return _WindowsDataset(X, y)


class _WindowsDataset(Dataset):
    """A skorch dataset that takes a batch in one indexing.

    skorch's own ``Dataset`` indexes, converts and stacks one window at a time:
    0.5 ms a batch of 64 windows, a few per cent of a small network's step
    (``benchmarks/overhead.py``). Numpy's fancy indexing takes the batch in
    0.02 ms, and a LazyWindows reads it in one call.
    """

    def __getitems__(self, indices) -> _Batch:
        # torch's DataLoader calls __getitems__ with a batch's indices when
        # the dataset has it, then collates what it returns.
        indices = np.asarray(indices, dtype=np.intp)
        windows = self.X.read(indices) if is_lazy_windows(self.X) else self.X[indices]
        # A tensor indexed by a tensor: 30 times faster than by an array.
        rows = torch.from_numpy(indices)
        y = (
            {key: target[rows] for key, target in self.y.items()}
            if isinstance(self.y, dict)
            else self.y[rows]
        )
        return _Batch(torch.from_numpy(windows), y)

    def __getitem__(self, i):
        return self.__getitems__([i])[0]


class _Batch(Sequence):
    """A batch's windows, shape (batch, n_channels, n_times), and targets,
    taken together; a sequence of ``(window, target)`` rows to torch's
    ``default_collate``, passed on as it is by :func:`collate_windows`."""

    def __init__(self, X: torch.Tensor, y) -> None:
        self.X, self.y = X, y

    def __len__(self) -> int:
        return len(self.X)

    def __getitem__(self, i: int) -> tuple:
        return self.X[i], multi_indexing(self.y, i)


def collate_windows(data):
    """The DataLoader ``collate_fn`` of skeeg's nets: a :class:`_Batch` as the
    ``(X, y)`` it holds, anything else through torch's ``default_collate``."""
    if isinstance(data, _Batch):
        return data.X, data.y
    return default_collate(data)


def window_source(X):
    """Windows for :meth:`DeepClassifierBase._batches`: a tensor for an
    array, a view that reads each slice from disk for a LazyWindows.

    Parameters
    ----------
    X : ndarray of float32, shape (n_windows, n_channels, n_times), or LazyWindows

    Returns
    -------
    windows : Tensor or _LazyBatches
        ``len(windows)`` and ``windows[a:b]`` (a Tensor) work on both.
    """
    if is_lazy_windows(X):
        return _LazyBatches(X)
    return torch.from_numpy(X)


class _LazyBatches:
    """Slices of a LazyWindows read into tensors: ``len`` and ``[a:b]``, as
    :meth:`DeepClassifierBase._batches` uses a tensor."""

    def __init__(self, windows) -> None:
        self.windows = windows

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, key: slice) -> torch.Tensor:
        # The slice's own indices: no arange over the whole dataset per batch.
        idx = np.arange(*key.indices(len(self.windows)))
        return torch.from_numpy(self.windows.read(idx))


class ContextWindows:
    """Each window with its neighbours, gathered when read: a view of the
    windows whose row ``i`` is ``X[index[i]]``, shape (2k + 1, n_channels,
    n_times), without copying them.

    It reads like a :class:`~skeeg.datasets.LazyWindows` (``read``; the
    training dataset and :func:`window_source` take batches through it) and
    indexes like an array of rows (``windows[rows]`` is the view of those
    rows, as a validation split takes them).

    Parameters
    ----------
    X : ndarray of float32, shape (n_windows, n_channels, n_times), or LazyWindows
    index : ndarray of int, shape (n_rows, 2k + 1)
        Rows of ``X`` that make each row, in time order.
    """

    _skeeg_lazy_windows = True

    def __init__(self, X, index: np.ndarray) -> None:
        self.X, self.index = X, np.asarray(index, dtype=np.intp)

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, rows) -> ContextWindows:
        return ContextWindows(self.X, self.index[rows])

    def read(self, rows) -> np.ndarray:
        """Rows ``rows``, shape (len(rows), 2k + 1, n_channels, n_times)."""
        index = self.index[np.asarray(rows, dtype=np.intp)]
        if not is_lazy_windows(self.X):
            return self.X[index]
        needed, inverse = np.unique(index, return_inverse=True)
        return self.X.read(needed)[inverse.reshape(index.shape)]
