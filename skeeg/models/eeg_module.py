"""The contract every skeeg network follows, and its argument checks.

A network maps EEG windows to a fixed-size embedding (:meth:`EEGModule.embed`)
and a head maps that embedding to logits; ``forward`` is the two in a row, so
the estimators can expose the embedding (``transform``-like use, plots) without
knowing which network they hold.
"""

from __future__ import annotations

from numbers import Integral

import torch
from torch import nn


class EEGModule(nn.Module):
    """Base of the skeeg networks: ``forward(x) = head(embed(x))``.

    A subclass builds its layers in ``__init__``, including ``head`` (a module
    from ``embedding_dim`` features to ``n_outputs`` logits), sets
    ``embedding_dim`` and defines :meth:`embed`.

    Attributes
    ----------
    embedding_dim : int
        Features per window that :meth:`embed` returns and ``head`` sees.
    head : torch.nn.Module
        Maps Tensor (batch, embedding_dim) to logits (batch, n_outputs).
    """

    embedding_dim: int
    head: nn.Module

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled features of each window.

        Parameters
        ----------
        x : Tensor of shape (batch, n_channels, n_times)

        Returns
        -------
        Tensor of shape (batch, embedding_dim)
        """
        raise NotImplementedError(f"{type(self).__name__} must define embed.")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of each window.

        Parameters
        ----------
        x : Tensor of shape (batch, n_channels, n_times)

        Returns
        -------
        Tensor of shape (batch, n_outputs)
        """
        return self.head(self.embed(x))


def check_positive_int(value, name: str) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``value`` is an int >= 1."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}.")


def check_network_args(network: str, *, norm: str, min_n_times: int, **sizes) -> None:
    """Validate a network's size arguments.

    Parameters
    ----------
    network : str
        Class name, for the message.
    norm : str
        The network's normalisation kind, for the message.
    min_n_times : int
        Shortest window the network accepts with this ``norm``.
    **sizes : int
        ``n_times`` and the other sizes (``n_channels``, ``width``, ...), each
        of which must be an int >= 1.

    Raises
    ------
    ValueError
        Naming the first bad size, or saying how short ``n_times`` is.
    """
    for name, value in sizes.items():
        check_positive_int(value, name)
    if sizes["n_times"] < min_n_times:
        raise ValueError(
            f"n_times={sizes['n_times']} is too short for {network} with "
            f"norm={norm!r}: it needs at least {min_n_times} time samples."
        )
