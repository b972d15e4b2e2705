"""The contract every skeeg network follows: pooled features, then a head.

A network maps EEG windows to a fixed-size embedding (:meth:`EEGModule.embed`)
and a head maps that embedding to logits; ``forward`` is the two in a row, so
the estimators can expose the embedding (``transform``-like use, plots) without
knowing which network they hold.
"""

from __future__ import annotations

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
