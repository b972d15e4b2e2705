"""1-D ResNet-18, the iEDeaL paper's port of AiED's 2-D ResNet-18 to raw series.

The layout is torchvision's ResNet-18 with every 2-D convolution made 1-D
(method-specs §8): a kernel-7 stride-2 stem, norm, ReLU and a stride-2 max
pool; four stages of ``n_blocks`` basic blocks with ``width``, ``2 * width``,
``4 * width`` and ``8 * width`` channels, the last three opening with a
stride-2 block whose shortcut is a 1x1 projection followed by a norm; global
average pooling over time; a linear head. ``n_blocks=2`` gives the 18 layers.

The paper removed BatchNorm from this baseline (``norm="none"`` reproduces
that); skeeg defaults to the per-sample ``norm="instance"``, which keeps
training stable at depth without batch statistics. Convolutions carry a bias
only when ``norm="none"``: every other norm is followed by its own shift.
"""

from __future__ import annotations

import torch
from torch import nn

from skeeg.models.eeg_module import EEGModule, check_network_args
from skeeg.models.norm import check_norm, make_norm

# The stem convolution, the max pool and the first block of stages 2-4 each
# halve the time axis (rounding up), so the deepest map has ceil(n_times / 32)
# steps.
N_HALVINGS = 5


class BasicBlock(nn.Module):
    """ResNet basic block: ``act(norm(conv(act(norm(conv(x))))) + shortcut(x))``.

    Parameters
    ----------
    in_channels, out_channels : int
        Channels in and out.
    stride : int
        Stride of the first kernel-3 convolution; the shortcut is a 1x1
        convolution with this stride plus a norm when the shape changes.
    norm : str
        Normalisation kind, see :func:`skeeg.models.norm.make_norm`.
    """

    def __init__(
        self, in_channels: int, out_channels: int, stride: int, norm: str
    ) -> None:
        super().__init__()
        bias = norm == "none"
        self.body = nn.Sequential(
            nn.Conv1d(
                in_channels, out_channels, 3, stride=stride, padding=1, bias=bias
            ),
            make_norm(norm, out_channels),
            nn.ReLU(),
            nn.Conv1d(out_channels, out_channels, 3, padding=1, bias=bias),
            make_norm(norm, out_channels),
        )
        if stride == 1 and in_channels == out_channels:
            self.shortcut = nn.Identity()
        else:
            self.shortcut = nn.Sequential(
                nn.Conv1d(in_channels, out_channels, 1, stride=stride, bias=bias),
                make_norm(norm, out_channels),
            )
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Residual sum.

        x : Tensor of shape (batch, in_channels, t) -> Tensor of shape
        (batch, out_channels, ceil(t / stride)).
        """
        return self.act(self.body(x) + self.shortcut(x))


class ResNet1D(EEGModule):
    """1-D ResNet-18 for EEG windows.

    Parameters
    ----------
    n_channels : int
        Input EEG channels.
    n_times : int
        Samples per window; at least :meth:`min_n_times`.
    n_outputs : int
        Logits out: 1 for a binary task, the class count otherwise.
    width : int, default=64
        Filters of the stem and the first stage; doubled at each of the
        three later stages.
    n_blocks : int, default=2
        Basic blocks per stage (2 gives ResNet-18).
    norm : {"instance", "layer", "batch", "none"}, default="instance"
        Normalisation after each convolution. ``"none"`` is the iEDeaL
        paper's setting for this baseline.

    Attributes
    ----------
    embedding_dim : int
        ``8 * width``, the features the head sees.
    """

    def __init__(
        self,
        n_channels: int,
        n_times: int,
        n_outputs: int,
        *,
        width: int = 64,
        n_blocks: int = 2,
        norm: str = "instance",
    ) -> None:
        super().__init__()
        check_network_args(
            "ResNet1D",
            norm=norm,
            min_n_times=self.min_n_times(norm=norm),
            n_channels=n_channels,
            n_times=n_times,
            n_outputs=n_outputs,
            width=width,
            n_blocks=n_blocks,
        )
        self.n_times = n_times
        self.embedding_dim = 8 * width
        self.stem = nn.Sequential(
            nn.Conv1d(n_channels, width, 7, stride=2, padding=3, bias=norm == "none"),
            make_norm(norm, width),
            nn.ReLU(),
            nn.MaxPool1d(3, stride=2, padding=1),
        )
        stages = []
        in_channels = width
        for stage in range(4):
            out_channels = width * 2**stage
            for block in range(n_blocks):
                stride = 2 if stage > 0 and block == 0 else 1
                stages.append(BasicBlock(in_channels, out_channels, stride, norm))
                in_channels = out_channels
        self.stages = nn.Sequential(*stages)
        self.head = nn.Linear(self.embedding_dim, n_outputs)

    @classmethod
    def min_n_times(cls, *, norm: str = "instance") -> int:
        """Shortest window ResNet1D accepts.

        Padding lets every layer run on a single step, but ``norm="instance"``
        normalises each channel over time and needs 2 steps in the deepest
        map (with one step it would erase the signal), so that norm needs
        ``32 + 1`` samples and the others 1.

        Parameters
        ----------
        norm : {"instance", "layer", "batch", "none"}, default="instance"

        Returns
        -------
        n_times : int
        """
        check_norm(norm)
        min_steps = 2 if norm == "instance" else 1
        return 2**N_HALVINGS * (min_steps - 1) + 1

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Mean over time of the last stage's output.

        Shapes as in :meth:`EEGModule.embed`.
        """
        return self.stages(self.stem(x)).mean(dim=-1)
