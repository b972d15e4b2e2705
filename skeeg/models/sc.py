"""SC (Seanet Classifier), the network of iEDeaL (method-specs §2).

A stem convolution expands the input channels to ``width``; ``n_blocks`` full
pre-activation residual blocks follow, block ``i`` with dilation ``2**i`` and
"same" (non-causal) padding, so every feature map keeps ``n_times`` steps, as
the paper states. The stem is the block stack's channel projection: it maps
``n_channels`` to ``width`` once (kernel 3), so every residual shortcut is the
identity. Global max pooling over time, dropout and a linear layer make the
head.

INFERRED (the paper is silent): the normalisation is per sample, per channel,
over time (``norm="instance"``, never BatchNorm, which imbalanced mini-batches
destabilise; the iEDeaL authors' code calls this ``LayerNorm(dim_series)``),
the activation is ReLU, the head pools by max (an IED is a short local event).
"""

from __future__ import annotations

import torch
from torch import nn

from skeeg.models.eeg_module import EEGModule
from skeeg.models.norm import make_norm

KERNEL_SIZE = 3


def receptive_field(n_blocks: int) -> int:
    """Receptive field of SC in samples: ``3 + 4 * (2**n_blocks - 1)``.

    The stem (kernel 3) sees 3 samples; block ``i`` holds two kernel-3
    convolutions with dilation ``2**i`` and adds ``2 * 2 * 2**i`` samples.
    """
    if n_blocks < 0:
        raise ValueError(f"n_blocks must be >= 0, got {n_blocks}.")
    return KERNEL_SIZE + 4 * (2**n_blocks - 1)


def auto_n_blocks(n_times: int) -> int:
    """Smallest ``n_blocks >= 1`` whose receptive field covers ``n_times``.

    The stem alone covers a window of at most 3 samples; such a window still
    gets one block, so "auto" never resolves to 0.
    """
    if n_times < 1:
        raise ValueError(f"n_times must be >= 1, got {n_times}.")
    n_blocks = 1
    while receptive_field(n_blocks) < n_times:
        n_blocks += 1
    return n_blocks


class PreActBlock(nn.Module):
    """Full pre-activation residual block: ``x + conv(act(norm(conv(act(norm(x))))))``.

    Parameters
    ----------
    width : int
        Channels in and out.
    dilation : int
        Dilation of both kernel-3 convolutions.
    norm : str
        Normalisation kind, see :func:`skeeg.models.norm.make_norm`.
    """

    def __init__(self, width: int, dilation: int, norm: str) -> None:
        super().__init__()
        self.body = nn.Sequential(
            make_norm(norm, width),
            nn.ReLU(),
            nn.Conv1d(width, width, KERNEL_SIZE, dilation=dilation, padding="same"),
            make_norm(norm, width),
            nn.ReLU(),
            nn.Conv1d(width, width, KERNEL_SIZE, dilation=dilation, padding="same"),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x : Tensor of shape (batch, width, n_times) -> same shape."""
        return x + self.body(x)


class SCNet(EEGModule):
    """The SC network.

    Parameters
    ----------
    n_channels : int
        Input EEG channels.
    n_times : int
        Samples per window.
    n_outputs : int
        Logits out: 1 for a binary task, the class count otherwise.
    width : int, default=64
        Channels inside the network.
    n_blocks : int or "auto", default="auto"
        Residual blocks; "auto" is :func:`auto_n_blocks` of ``n_times``, the
        smallest count >= 1 whose receptive field covers the window.
    dropout : float, default=0.2
        Dropout before the linear head.
    norm : {"instance", "layer", "batch", "none"}, default="instance"
        Normalisation inside the blocks, see
        :func:`skeeg.models.norm.make_norm`.
    """

    def __init__(
        self,
        n_channels: int,
        n_times: int,
        n_outputs: int,
        *,
        width: int = 64,
        n_blocks: int | str = "auto",
        dropout: float = 0.2,
        norm: str = "instance",
    ) -> None:
        super().__init__()
        if n_blocks == "auto":
            n_blocks = auto_n_blocks(n_times)
        if not isinstance(n_blocks, int) or n_blocks < 1:
            raise ValueError(
                f"n_blocks must be 'auto' or an int >= 1, got {n_blocks!r}."
            )
        self.n_blocks = n_blocks
        self.embedding_dim = width
        self.stem = nn.Conv1d(n_channels, width, KERNEL_SIZE, padding="same")
        self.blocks = nn.Sequential(
            *(PreActBlock(width, 2**i, norm) for i in range(n_blocks))
        )
        self.out_norm = nn.Sequential(make_norm(norm, width), nn.ReLU())
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(width, n_outputs))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Max over time of the last block's normalised output.

        Shapes as in :meth:`EEGModule.embed`.
        """
        h = self.out_norm(self.blocks(self.stem(x)))
        return h.amax(dim=-1)
