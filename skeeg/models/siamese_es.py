"""Siamese-ES: a frequency-temporal converter shared by an IED branch and a
sleep branch (method-specs §6; Gao et al., Neurology 2025 abstract).

The abstract fixes only the parts: hard parameter sharing, a shared
*frequency-temporal converter*, two task branches (Twins-Electron for IEDs,
Twins-Sleep for the sleep stage) and sleep features integrated into the IED
decision. Everything below is **INFERRED**:

- :class:`FrequencyTemporalConverter` turns each channel into a time-frequency
  map: a fixed STFT log-magnitude (``kind="stft"``, ``torch.stft`` with a Hann
  window) or a learned Gabor-initialised filter bank followed by log-power
  (``kind="filterbank"``), stacked with the raw signal averaged down to the
  frame rate (the raw path keeps the sign and the waveform shape the
  magnitudes drop). Frequencies become feature channels over frames.
- The converter's output is standardised by a BatchNorm over the mini-batch
  and the frames, per feature: unlike a per-window norm it keeps the
  absolute power differences between windows (the delta power of N3, the
  amplitude of a spike). With the fixed STFT the input statistics do not
  change with training, so the running statistics are a cumulative average
  (``momentum=None``): the exact training-set statistics.
- A shared trunk convolution (kernel 3) maps the features to ``width``
  channels; each branch (:class:`TwinBranch`) is ``n_blocks`` residual
  dilated convolutions (dilation ``2**i``, "same" padding) pooled by mean and
  max over frames. The two branches share one architecture ("twins") but not
  weights.
- IED head: a linear layer over the IED branch's features concatenated with
  the sleep branch's (``fuse_sleep``; ``detach_sleep`` stops the IED loss
  from training the sleep branch). Sleep head: a linear layer over the sleep
  branch's features.

Every window length works: the STFT window and hop shrink to the window when
it is shorter than them (``min(n_fft, n_times)``, hop at most half of it), so
a window of 2 samples still gives 2 frames.
"""

from __future__ import annotations

import math
from numbers import Real

import torch
import torch.nn.functional as F
from torch import nn

from skeeg.models.eeg_module import EEGModule, check_positive_int
from skeeg.models.norm import make_norm

#: Kinds of :class:`FrequencyTemporalConverter`.
CONVERTER_KINDS = ("stft", "filterbank")

#: Floor of the magnitudes and powers before the logarithm.
_LOG_FLOOR = 1e-10


class FrequencyTemporalConverter(nn.Module):
    """Per-channel time-frequency features and the downsampled raw signal.

    Parameters
    ----------
    n_channels : int
        EEG channels of the input.
    n_times : int
        Samples per window.
    kind : {"stft", "filterbank"}, default="stft"
        "stft": log-magnitude of the short-time Fourier transform (Hann
        window, fixed). "filterbank": ``n_filters`` learned FIR filters per
        channel (kernel ``n_fft``, initialised as Gabor filters with centre
        frequencies log-spaced from ``1 / n_fft`` to 0.45 cycles per sample),
        whose squared output is averaged over each frame and logged.
    n_fft : int, default=64
        STFT window (or filter length) in samples; clipped to ``n_times``.
    hop_length : int, default=16
        Samples between frames; clipped to half the effective ``n_fft``.
    n_filters : int, default=16
        Filters per channel of the filter bank (``kind="filterbank"``).

    Attributes
    ----------
    n_fft : int
        Effective window, ``min(n_fft, n_times)``.
    hop_length : int
        Effective hop, ``min(hop_length, max(1, n_fft // 2))``.
    n_frames : int
        Frames per window: ``1 + (n_times + 2 * (n_fft // 2) - n_fft) //
        hop_length`` (centred frames; ``n_times // hop_length + 1`` for an
        even ``n_fft``).
    n_features : int
        Feature channels of the output: ``n_channels * (n_freqs + 1)`` with
        ``n_freqs = n_fft // 2 + 1`` (STFT) or ``n_filters`` (filter bank).
    """

    def __init__(
        self,
        n_channels: int,
        n_times: int,
        *,
        kind: str = "stft",
        n_fft: int = 64,
        hop_length: int = 16,
        n_filters: int = 16,
    ) -> None:
        super().__init__()
        for name, value in (
            ("n_channels", n_channels),
            ("n_times", n_times),
            ("n_fft", n_fft),
            ("hop_length", hop_length),
            ("n_filters", n_filters),
        ):
            check_positive_int(value, name)
        if kind not in CONVERTER_KINDS:
            raise ValueError(
                f"converter must be one of {CONVERTER_KINDS}, got {kind!r}."
            )
        self.kind = kind
        self.n_channels = n_channels
        self.n_fft = min(n_fft, n_times)
        # At most half the window: every window then has two or more frames
        # (BatchNorm needs two values per feature) and no sample falls between
        # Hann windows.
        self.hop_length = min(hop_length, max(1, self.n_fft // 2))
        # torch.stft's frame count with centred (reflect-padded) frames.
        padded = n_times + 2 * (self.n_fft // 2)
        self.n_frames = 1 + (padded - self.n_fft) // self.hop_length
        if kind == "stft":
            n_freqs = self.n_fft // 2 + 1
            self.register_buffer(
                "window", torch.hann_window(self.n_fft), persistent=False
            )
            self.filters = None
        else:
            n_freqs = n_filters
            self.filters = nn.Conv1d(
                n_channels,
                n_channels * n_filters,
                kernel_size=self.n_fft,
                padding=self.n_fft // 2,
                groups=n_channels,
                bias=False,
            )
            with torch.no_grad():
                self.filters.weight.copy_(
                    gabor_filters(n_filters, self.n_fft).repeat(n_channels, 1, 1)
                )
        self.n_features = n_channels * (n_freqs + 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Stacked log-spectral and raw features.

        Parameters
        ----------
        x : Tensor of shape (batch, n_channels, n_times)

        Returns
        -------
        Tensor of shape (batch, n_features, n_frames)
            Per channel, its ``n_freqs`` log-magnitudes (or log-powers), then
            the channel's raw signal averaged over each frame.
        """
        batch, n_channels, n_times = x.shape
        if self.filters is None:
            spectrum = torch.stft(
                x.reshape(batch * n_channels, n_times),
                n_fft=self.n_fft,
                hop_length=self.hop_length,
                window=self.window,
                center=True,
                pad_mode="reflect",
                return_complex=True,
            ).abs()
            spectral = spectrum.reshape(batch, n_channels, -1, self.n_frames)
        else:
            power = F.adaptive_avg_pool1d(self.filters(x) ** 2, self.n_frames)
            spectral = power.reshape(batch, n_channels, -1, self.n_frames)
        spectral = torch.log(spectral + _LOG_FLOOR)
        raw = F.adaptive_avg_pool1d(x, self.n_frames).unsqueeze(2)
        return torch.cat([spectral, raw], dim=2).reshape(batch, -1, self.n_frames)


def gabor_filters(n_filters: int, size: int) -> torch.Tensor:
    """Unit-norm Gabor (Gaussian-windowed cosine) filters, log-spaced in frequency.

    Parameters
    ----------
    n_filters : int
    size : int
        Samples per filter.

    Returns
    -------
    Tensor of shape (n_filters, 1, size)
        Filter ``k`` has centre frequency ``f_k`` cycles per sample,
        ``f`` log-spaced from ``min(1 / size, 0.45)`` to 0.45, and a Gaussian
        envelope of standard deviation ``size / 6``.
    """
    low = min(1.0 / size, 0.45)
    freqs = torch.logspace(math.log10(low), math.log10(0.45), n_filters)
    t = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    envelope = torch.exp(-0.5 * (t / max(size / 6, 1e-3)) ** 2)
    filters = envelope * torch.cos(2 * math.pi * freqs[:, None] * t)
    filters = filters / filters.norm(dim=1, keepdim=True).clamp_min(1e-8)
    return filters.unsqueeze(1)


def auto_n_blocks(n_frames: int) -> int:
    """Smallest ``n_blocks >= 1`` whose dilated convolutions cover ``n_frames``.

    Block ``i`` (kernel 3, dilation ``2**i``) widens the receptive field by
    ``2**(i + 1)`` frames; the trunk convolution sees 3, so ``n_blocks``
    blocks see ``3 + 2 * (2**n_blocks - 1)``.
    """
    n_blocks = 1
    while 3 + 2 * (2**n_blocks - 1) < n_frames:
        n_blocks += 1
    return n_blocks


class TwinBranch(nn.Module):
    """One task branch: residual dilated convolutions, mean and max pooled.

    Parameters
    ----------
    width : int
        Channels in and out of every convolution.
    n_blocks : int
        Residual blocks; block ``i`` is ``x + relu(norm(conv(x)))`` with
        kernel 3 and dilation ``2**i``.
    norm : {"instance", "layer", "batch", "none"}
        Normalisation inside the blocks (:func:`skeeg.models.norm.make_norm`).
    dropout : float
        Dropout on the pooled features.

    Attributes
    ----------
    out_features : int
        ``2 * width``: the mean and the max over frames of each channel.
    """

    def __init__(self, width: int, n_blocks: int, norm: str, dropout: float) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            nn.Sequential(
                nn.Conv1d(width, width, 3, padding=2**i, dilation=2**i),
                make_norm(norm, width),
                nn.ReLU(),
            )
            for i in range(n_blocks)
        )
        self.dropout = nn.Dropout(dropout)
        self.out_features = 2 * width

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """Pooled branch features.

        Parameters
        ----------
        h : Tensor of shape (batch, width, n_frames)

        Returns
        -------
        Tensor of shape (batch, 2 * width)
        """
        for block in self.blocks:
            h = h + block(h)
        return self.dropout(torch.cat([h.mean(dim=2), h.amax(dim=2)], dim=1))


class SharedFrontEnd(nn.Module):
    """The shared part: converter, input standardisation, trunk convolution;
    it also makes the task branches, all of one architecture.

    Parameters
    ----------
    n_channels, n_times : int
        Input shape.
    converter : {"stft", "filterbank"}, default="stft"
        ``kind`` of :class:`FrequencyTemporalConverter`.
    n_fft, hop_length, n_filters : int, default=64, 16, 16
        See :class:`FrequencyTemporalConverter`.
    width : int, default=32
        Channels of the trunk and of each branch.
    n_blocks : int or "auto", default="auto"
        Residual blocks per branch; "auto": :func:`auto_n_blocks` of the
        frames.
    norm : {"instance", "layer", "batch", "none"}, default="layer"
        Normalisation inside the trunk and the branches.
    dropout : float, default=0.2
        Dropout on the pooled branch features.

    Attributes
    ----------
    n_blocks : int
        Resolved number of blocks per branch.
    """

    def __init__(
        self,
        n_channels: int,
        n_times: int,
        *,
        converter: str = "stft",
        n_fft: int = 64,
        hop_length: int = 16,
        n_filters: int = 16,
        width: int = 32,
        n_blocks: int | str = "auto",
        norm: str = "layer",
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        self.converter = FrequencyTemporalConverter(
            n_channels,
            n_times,
            kind=converter,
            n_fft=n_fft,
            hop_length=hop_length,
            n_filters=n_filters,
        )
        if n_blocks == "auto":
            n_blocks = auto_n_blocks(self.converter.n_frames)
        check_positive_int(width, "width")
        check_positive_int(n_blocks, "n_blocks")
        bad_type = isinstance(dropout, bool) or not isinstance(dropout, Real)
        if bad_type or not 0 <= dropout < 1:
            raise ValueError(f"dropout must be a float in [0, 1), got {dropout!r}.")
        self.n_blocks = n_blocks
        self._branch_args = (width, n_blocks, norm, dropout)
        n_features = self.converter.n_features
        # Fixed features: their statistics never change, so average all
        # batches equally (the training set's statistics); learned ones drift.
        momentum = None if converter == "stft" else 0.1
        self.standardise = nn.BatchNorm1d(n_features, momentum=momentum)
        self.trunk = nn.Sequential(
            nn.Conv1d(n_features, width, 3, padding=1),
            make_norm(norm, width),
            nn.ReLU(),
        )

    def make_branch(self) -> TwinBranch:
        """A new task branch (fresh weights) for this front end's output."""
        return TwinBranch(*self._branch_args)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, n_channels, n_times) -> (batch, width, n_frames)."""
        return self.trunk(self.standardise(self.converter(x)))


class SiameseESNet(EEGModule):
    """The Siamese-ES network: shared front end, IED and sleep branches, heads.

    Parameters
    ----------
    n_channels, n_times : int
        Input shape.
    n_outputs : int
        IED logits (1 for a binary target).
    n_stages : int
        Sleep-stage logits.
    **front
        Keyword arguments of :class:`SharedFrontEnd` (converter, sizes,
        normalisation, dropout).
    fuse_sleep : bool, default=True
        The IED head also sees the sleep branch's features.
    detach_sleep : bool, default=False
        With ``fuse_sleep``: the IED head sees them detached, so only the
        sleep loss trains the sleep branch.
    uncertainty_weighting : bool, default=False
        Hold the two learned log-variances of Kendall et al. (2018) as
        ``log_var`` (IED, sleep), for the loss to use.

    Attributes
    ----------
    front : SharedFrontEnd
    embedding_dim : int
        Features the IED head sees: ``2 * width``, doubled with ``fuse_sleep``.
    log_var : Parameter of shape (2,) or None
    """

    def __init__(
        self,
        n_channels: int,
        n_times: int,
        n_outputs: int,
        n_stages: int,
        *,
        fuse_sleep: bool = True,
        detach_sleep: bool = False,
        uncertainty_weighting: bool = False,
        **front,
    ) -> None:
        super().__init__()
        self.front = SharedFrontEnd(n_channels, n_times, **front)
        check_positive_int(n_stages, "n_stages")
        self.electron = self.front.make_branch()
        self.sleep = self.front.make_branch()
        self.fuse_sleep = fuse_sleep
        self.detach_sleep = detach_sleep
        self.embedding_dim = self.electron.out_features * (2 if fuse_sleep else 1)
        self.head = nn.Linear(self.embedding_dim, n_outputs)
        self.sleep_head = nn.Linear(self.sleep.out_features, n_stages)
        self.log_var = nn.Parameter(torch.zeros(2)) if uncertainty_weighting else None

    def _features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.front(x)
        ied, sleep = self.electron(h), self.sleep(h)
        if self.fuse_sleep:
            fused = sleep.detach() if self.detach_sleep else sleep
            ied = torch.cat([ied, fused], dim=1)
        return ied, sleep

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The IED head's input, shape (batch, embedding_dim)."""
        return self._features(x)[0]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """IED and sleep-stage logits.

        Parameters
        ----------
        x : Tensor of shape (batch, n_channels, n_times)

        Returns
        -------
        ied_logits : Tensor of shape (batch, n_outputs)
        sleep_logits : Tensor of shape (batch, n_stages)
        """
        ied, sleep = self._features(x)
        return self.head(ied), self.sleep_head(sleep)


class SleepStageNet(EEGModule):
    """The Twins-Sleep branch and head on their own: front end, branch, head.

    Parameters
    ----------
    n_channels, n_times : int
        Input shape.
    n_outputs : int
        Stage logits (1 for two stages).
    **front
        Keyword arguments of :class:`SharedFrontEnd`.

    Attributes
    ----------
    front : SharedFrontEnd
    embedding_dim : int
        ``2 * width``.
    """

    def __init__(self, n_channels: int, n_times: int, n_outputs: int, **front) -> None:
        super().__init__()
        self.front = SharedFrontEnd(n_channels, n_times, **front)
        self.sleep = self.front.make_branch()
        self.embedding_dim = self.sleep.out_features
        self.head = nn.Linear(self.embedding_dim, n_outputs)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled sleep-branch features, shape (batch, 2 * width)."""
        return self.sleep(self.front(x))


class ContextStageNet(EEGModule):
    """:class:`SleepStageNet` over a run of consecutive epochs: each epoch is
    embedded by the same front end and sleep branch, a bidirectional GRU runs
    over the ``2 * context + 1`` embeddings, and the head reads the centre
    epoch's GRU output next to its own embedding.

    Parameters
    ----------
    n_channels, n_times : int
        Shape of one epoch.
    n_outputs : int
        Stage logits (1 for two stages).
    context : int
        Epochs on each side of the centre one (>= 1).
    **front
        Keyword arguments of :class:`SharedFrontEnd`.

    Attributes
    ----------
    front : SharedFrontEnd
    sleep : TwinBranch
    sequence : torch.nn.GRU
        Bidirectional, ``width`` units each way, over the epochs' embeddings.
    embedding_dim : int
        ``4 * width``: the centre epoch's GRU output (``2 * width``) and its
        own embedding (``2 * width``).
    """

    def __init__(
        self, n_channels: int, n_times: int, n_outputs: int, *, context: int, **front
    ) -> None:
        super().__init__()
        check_positive_int(context, "context")
        self.context = context
        self.front = SharedFrontEnd(n_channels, n_times, **front)
        self.sleep = self.front.make_branch()
        width = self.sleep.out_features // 2
        self.sequence = nn.GRU(
            self.sleep.out_features, width, batch_first=True, bidirectional=True
        )
        self.embedding_dim = 2 * width + self.sleep.out_features
        self.head = nn.Linear(self.embedding_dim, n_outputs)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The head's input for the centre epoch of each run.

        Parameters
        ----------
        x : Tensor of shape (batch, 2 * context + 1, n_channels, n_times)
            Consecutive epochs, the one to stage in the middle.

        Returns
        -------
        Tensor of shape (batch, embedding_dim)
        """
        n_runs, n_epochs = x.shape[:2]
        if n_epochs != 2 * self.context + 1:
            raise ValueError(
                f"x holds runs of {n_epochs} epochs; ContextStageNet with "
                f"context={self.context} takes {2 * self.context + 1}."
            )
        epochs = self.sleep(self.front(x.flatten(0, 1)))
        epochs = epochs.unflatten(0, (n_runs, n_epochs))
        around, _ = self.sequence(epochs)
        return torch.cat([around[:, self.context], epochs[:, self.context]], dim=1)
