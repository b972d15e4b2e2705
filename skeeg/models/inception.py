"""InceptionTime network (Ismail Fawaz et al. 2020), a baseline of iEDeaL (§8).

``n_blocks`` inception modules. Each squeezes its input to ``bottleneck``
channels with a 1x1 convolution (skipped when the input has one channel, as
in the reference code), runs one convolution per kernel size on that, and in
parallel a stride-1 max pool then a 1x1 convolution on the module input; the
``len(kernel_sizes) + 1`` branches of ``width`` filters each are concatenated,
normalised and passed through ReLU. Every third module closes a residual
connection from the input of the group (a 1x1 convolution plus a norm on the
shortcut, then the sum and ReLU). Global average pooling over time and a
linear layer make the head. Every layer has stride 1 and "same" padding, so
the time length never changes.

The reference kernels are 40/20/10; skeeg uses 39/19/9 because an odd kernel
pads symmetrically, which keeps the output aligned with the input in time.
The iEDeaL paper removed BatchNorm from this baseline (``norm="none"``);
skeeg defaults to the per-sample ``norm="instance"``. Convolutions carry a bias
only when ``norm="none"``: every other norm is followed by its own shift.
"""

from __future__ import annotations

import torch
from torch import nn

from skeeg.models.eeg_module import EEGModule, check_network_args
from skeeg.models.norm import check_norm, make_norm

# Modules per residual connection, as in the reference implementation.
RESIDUAL_EVERY = 3


class InceptionModule(nn.Module):
    """One inception module.

    Parameters
    ----------
    in_channels : int
        Channels in.
    width : int
        Filters per branch; the output has ``(len(kernel_sizes) + 1) * width``
        channels.
    kernel_sizes : tuple of int
        Odd kernel sizes of the convolution branches.
    bottleneck : int
        Channels of the 1x1 bottleneck, used when ``in_channels > 1``.
    norm : str
        Normalisation kind, see :func:`skeeg.models.norm.make_norm`.
    """

    def __init__(
        self,
        in_channels: int,
        width: int,
        kernel_sizes: tuple[int, ...],
        bottleneck: int,
        norm: str,
    ) -> None:
        super().__init__()
        bias = norm == "none"
        if in_channels > 1:
            self.bottleneck = nn.Conv1d(in_channels, bottleneck, 1, bias=bias)
            branch_in = bottleneck
        else:
            self.bottleneck = nn.Identity()
            branch_in = in_channels
        self.convs = nn.ModuleList(
            nn.Conv1d(branch_in, width, k, padding=k // 2, bias=bias)
            for k in kernel_sizes
        )
        self.pool_branch = nn.Sequential(
            nn.MaxPool1d(3, stride=1, padding=1),
            nn.Conv1d(in_channels, width, 1, bias=bias),
        )
        out_channels = (len(kernel_sizes) + 1) * width
        self.out = nn.Sequential(make_norm(norm, out_channels), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x : Tensor (batch, in_channels, t) -> (batch, out_channels, t)."""
        squeezed = self.bottleneck(x)
        branches = [conv(squeezed) for conv in self.convs]
        branches.append(self.pool_branch(x))
        return self.out(torch.cat(branches, dim=1))


class InceptionTime(EEGModule):
    """InceptionTime network for EEG windows.

    Parameters
    ----------
    n_channels : int
        Input EEG channels.
    n_times : int
        Samples per window; at least :meth:`min_n_times`.
    n_outputs : int
        Logits out: 1 for a binary task, the class count otherwise.
    width : int, default=32
        Filters per branch of each module.
    n_blocks : int, default=6
        Inception modules; a residual connection closes after every third.
    norm : {"instance", "layer", "batch", "none"}, default="instance"
        Normalisation after each module and on the residual shortcuts.
        ``"none"`` is the iEDeaL paper's setting for this baseline.
    kernel_sizes : tuple of int, default=(39, 19, 9)
        Odd kernel sizes of the convolution branches.
    bottleneck : int, default=32
        Channels of the 1x1 bottleneck in front of the convolution branches.

    Attributes
    ----------
    embedding_dim : int
        ``(len(kernel_sizes) + 1) * width``, the features the head sees.
    """

    def __init__(
        self,
        n_channels: int,
        n_times: int,
        n_outputs: int,
        *,
        width: int = 32,
        n_blocks: int = 6,
        norm: str = "instance",
        kernel_sizes: tuple[int, ...] = (39, 19, 9),
        bottleneck: int = 32,
    ) -> None:
        super().__init__()
        check_network_args(
            "InceptionTime",
            norm=norm,
            min_n_times=self.min_n_times(norm=norm),
            n_channels=n_channels,
            n_times=n_times,
            n_outputs=n_outputs,
            width=width,
            n_blocks=n_blocks,
            bottleneck=bottleneck,
        )
        kernel_sizes = tuple(kernel_sizes)
        if not kernel_sizes or any(
            isinstance(k, bool) or not isinstance(k, int) or k < 1 or k % 2 == 0
            for k in kernel_sizes
        ):
            raise ValueError(
                "kernel_sizes must be a non-empty sequence of odd ints >= 1, "
                f"got {kernel_sizes!r}."
            )
        self.n_times = n_times
        self.embedding_dim = (len(kernel_sizes) + 1) * width
        bias = norm == "none"
        self.blocks = nn.ModuleList()
        # Keyed by the index of the module whose output closes the residual.
        self.shortcuts = nn.ModuleDict()
        in_channels = res_channels = n_channels
        for i in range(n_blocks):
            self.blocks.append(
                InceptionModule(in_channels, width, kernel_sizes, bottleneck, norm)
            )
            in_channels = self.embedding_dim
            if i % RESIDUAL_EVERY == RESIDUAL_EVERY - 1:
                self.shortcuts[str(i)] = nn.Sequential(
                    nn.Conv1d(res_channels, in_channels, 1, bias=bias),
                    make_norm(norm, in_channels),
                )
                res_channels = in_channels
        self.act = nn.ReLU()
        self.head = nn.Linear(self.embedding_dim, n_outputs)

    @classmethod
    def min_n_times(cls, *, norm: str = "instance") -> int:
        """Shortest window InceptionTime accepts.

        The time length never shrinks, so one sample suffices, except that
        ``norm="instance"`` normalises each channel over time and needs 2 steps
        (with one step it would erase the signal).

        Parameters
        ----------
        norm : {"instance", "layer", "batch", "none"}, default="instance"

        Returns
        -------
        n_times : int
        """
        check_norm(norm)
        return 2 if norm == "instance" else 1

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Mean over time of the last module's output.

        Shapes as in :meth:`EEGModule.embed`.
        """
        residual = x
        for i, block in enumerate(self.blocks):
            x = block(x)
            if str(i) in self.shortcuts:
                x = self.act(x + self.shortcuts[str(i)](residual))
                residual = x
        return x.mean(dim=-1)
