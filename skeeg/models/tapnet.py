"""TapNet, the attentional prototype network (Zhang et al., AAAI 2020;
method-specs §4).

The encoder maps a window to an embedding from two parallel paths:

- **random dimension permutation**: ``n_groups`` random subsets of
  ``group_size`` channels, drawn once when the network is built (from torch's
  RNG, which the estimator seeds); each group goes through its own stack of
  Conv1d -> BatchNorm -> LeakyReLU layers (filters ``2 * width`` ... ``width``,
  kernels 8, 5, 3, then 3) and a global average pool over time. All groups run
  as one grouped convolution.
- an LSTM over the whole window (channels as the input features at each time
  step), its last hidden state.

The two are concatenated and mapped by fully connected layers (LeakyReLU
between them) to the embedding. :class:`PrototypeHead` turns embeddings into
class scores: each class has an attention MLP that scores its support
windows, its prototype is the attention-weighted mean of their embeddings, and
the logits are negative squared Euclidean distances to the prototypes.

INFERRED and QUIRK notes (the reference code, kdd2019-tapnet/tapnet):

- The reference code feeds the LSTM a ``(N, C, L)`` tensor as ``(sequence,
  batch, feature)``, i.e. runs it across windows, and averages its outputs
  over channels; the paper describes an LSTM over time. This module follows
  the paper (last hidden state of an LSTM over time).
- The groups cover every channel whenever ``n_groups * group_size >=
  n_channels`` (:func:`draw_channel_groups`). The reference code draws each
  group independently, so a channel can be left out of every group and reach
  the model only through the LSTM: with the seed's 4 channels and 3 groups of
  2 that happens in 17 draws out of 36; on a 3-channel
  toy task with the class on one channel, such a draw (seed 1, every group
  {0, 1}) scored 0.63 against 1.0 for a draw that covered it.
- The reference code shares the second and third convolutions and all batch
  norms between the groups; the spec gives every group its own encoder, as
  here.
- Convolutions use "same" padding (the reference code: none), so windows of
  any length >= 2 go through and the pool averages over the whole window.
- The mapping has no BatchNorm (the reference code puts one after each hidden
  layer): a training mini-batch of one window would break it.
- Semi-supervised prototypes (spec: unlabelled windows contribute through
  their soft assignment): labelled windows have membership 1 in their class,
  an unlabelled window membership ``r_k = softmax_k(-||e - p_k||^2)`` against
  the prototypes of the labelled windows (detached: it weighs, it is not
  trained through); the prototype is the mean of the embeddings weighted by
  ``membership * exp(attention score)``, normalised per class. With no
  unlabelled window this is the paper's attentional prototype exactly. (The
  reference code's ``use_ss`` instead averages the labelled prototype with an
  attention-pooled prototype of the test windows.)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from skeeg.models.eeg_module import EEGModule, check_network_args, check_positive_int

#: Kernel sizes of the first convolutions (the paper's 8, 5, 3); further
#: layers use the last one.
KERNELS = (8, 5, 3)


def squared_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean distances between rows.

    Parameters
    ----------
    a : Tensor of shape (n, dim)
    b : Tensor of shape (m, dim)

    Returns
    -------
    Tensor of shape (n, m)
    """
    return (a[:, None, :] - b[None, :, :]).pow(2).sum(-1)


def mean_pairwise_distance(prototypes: torch.Tensor) -> torch.Tensor:
    """Mean squared Euclidean distance over the unordered pairs of prototypes.

    Parameters
    ----------
    prototypes : Tensor of shape (n_classes, dim), n_classes >= 2

    Returns
    -------
    Tensor
        A scalar.
    """
    n = len(prototypes)
    return squared_distances(prototypes, prototypes).sum() / (n * (n - 1))


def draw_channel_groups(
    n_channels: int, n_groups: int, group_size: int
) -> torch.Tensor:
    """Random channel groups that cover every channel when they can.

    Each group holds ``group_size`` distinct channels: first channels no
    earlier group holds (in random order), then random others. So every
    channel is in some group whenever ``n_groups * group_size >= n_channels``.
    Draws from torch's global RNG.

    Parameters
    ----------
    n_channels, n_groups, group_size : int
        ``group_size <= n_channels``.

    Returns
    -------
    Tensor of int64, shape (n_groups, group_size)
    """
    covered: set[int] = set()
    groups = []
    for _ in range(n_groups):
        order = torch.randperm(n_channels).tolist()
        new = [c for c in order if c not in covered]
        old = [c for c in order if c in covered]
        group = (new + old)[:group_size]
        covered.update(group)
        groups.append(group)
    return torch.tensor(groups, dtype=torch.int64)


class PrototypeHead(nn.Module):
    """Attentional class prototypes and distance logits.

    Parameters
    ----------
    embedding_dim : int
    n_classes : int
        At least 2.
    attention_dim : int
        Hidden units of each class's attention MLP (Linear -> tanh -> Linear).

    Attributes
    ----------
    prototypes : Tensor of shape (n_classes, embedding_dim)
        A buffer: the prototypes that :meth:`forward` measures against. The
        estimator sets it from all training windows at the start and end of
        training; during training each mini-batch refreshes the classes it
        holds labelled windows of.
    """

    def __init__(self, embedding_dim: int, n_classes: int, attention_dim: int) -> None:
        super().__init__()
        self.n_classes = n_classes
        self.attention = nn.ModuleList(
            nn.Sequential(
                nn.Linear(embedding_dim, attention_dim),
                nn.Tanh(),
                nn.Linear(attention_dim, 1),
            )
            for _ in range(n_classes)
        )
        self.register_buffer("prototypes", torch.zeros(n_classes, embedding_dim))

    def compute_prototypes(
        self, embeddings: torch.Tensor, y: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Prototypes of the classes with labelled windows among ``embeddings``.

        Parameters
        ----------
        embeddings : Tensor of shape (n, embedding_dim)
        y : Tensor of int64, shape (n,)
            Class indices; ``-1`` marks an unlabelled window, which joins the
            prototypes through its soft assignment (module docstring).

        Returns
        -------
        prototypes : Tensor of shape (n_classes, embedding_dim)
            A class without a labelled window keeps the stored prototype
            (detached).
        present : Tensor of bool, shape (n_classes,)
            The classes with a labelled window.
        """
        scores = torch.cat([att(embeddings) for att in self.attention], dim=1)
        labelled = y >= 0
        membership = F.one_hot(y.clamp(min=0), self.n_classes).to(embeddings.dtype)
        membership = membership * labelled[:, None]
        present = membership.sum(0) > 0
        prototypes = self._weighted_mean(embeddings, scores, membership, present)
        unlabelled = ~labelled
        if bool(unlabelled.any()):
            soft = torch.softmax(
                -squared_distances(embeddings[unlabelled], prototypes.detach()), dim=1
            )
            # Classes without labelled windows stay as stored: soft members
            # alone would pull them towards whatever the stale prototype is
            # closest to.
            membership = membership.clone()
            membership[unlabelled] = soft * present
            prototypes = self._weighted_mean(embeddings, scores, membership, present)
        return prototypes, present

    def _weighted_mean(self, embeddings, scores, membership, present):
        # softmax over windows of (score + log membership), per class, written
        # out so that classes without members give 0 instead of NaN.
        masked = scores.masked_fill(membership == 0, float("-inf"))
        top = masked.max(dim=0).values
        top = torch.where(torch.isfinite(top), top, torch.zeros_like(top))
        weights = membership * torch.exp(scores - top)
        total = weights.sum(0)
        means = (weights.T @ embeddings) / total.clamp_min(1e-12)[:, None]
        return torch.where(present[:, None], means, self.prototypes.detach())

    def logits(
        self, embeddings: torch.Tensor, prototypes: torch.Tensor
    ) -> torch.Tensor:
        """Logits from the distances to ``prototypes``.

        Parameters
        ----------
        embeddings : Tensor of shape (batch, embedding_dim)
        prototypes : Tensor of shape (n_classes, embedding_dim)

        Returns
        -------
        Tensor of shape (batch, n_classes), or (batch, 1) for two classes
            ``-||e - p_k||^2`` per class; with two classes the single logit
            of class 1, ``||e - p_0||^2 - ||e - p_1||^2``, whose sigmoid is
            the softmax of the two.
        """
        distances = squared_distances(embeddings, prototypes)
        if self.n_classes == 2:
            return (distances[:, 0] - distances[:, 1])[:, None]
        return -distances

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        """Logits against the stored prototypes; shapes as in :meth:`logits`."""
        return self.logits(embeddings, self.prototypes)


class TapNet(EEGModule):
    """The TapNet network.

    Parameters
    ----------
    n_channels : int
        Input EEG channels.
    n_times : int
        Samples per window.
    n_outputs : int
        1 for two classes, else the class count.
    n_groups : int, default=3
        Random channel groups.
    group_size : int, default=1
        Channels per group (at most ``n_channels``).
    width : int, default=32
        Filters of the last convolution; the others have ``2 * width`` (the
        paper: 128, i.e. 256, 256, 128).
    n_layers : int, default=3
        Convolutions per group.
    dilation : int, default=1
        Dilation of each group's first convolution.
    lstm_hidden : int, default=32
        Hidden units of the LSTM (the paper: 128).
    mapping_dims : tuple of int, default=(128, 64)
        Sizes of the fully connected layers; the last is the embedding size
        (the paper: 500, 300).
    attention_dim : int, default=32
        Hidden units of each class's attention MLP (the paper: 128).

    Attributes
    ----------
    channel_groups : Tensor of int64, shape (n_groups, group_size)
        A buffer: the channels of each group.
    """

    def __init__(
        self,
        n_channels: int,
        n_times: int,
        n_outputs: int,
        *,
        n_groups: int = 3,
        group_size: int = 1,
        width: int = 32,
        n_layers: int = 3,
        dilation: int = 1,
        lstm_hidden: int = 32,
        mapping_dims: tuple[int, ...] = (128, 64),
        attention_dim: int = 32,
    ) -> None:
        super().__init__()
        check_network_args(
            "TapNet",
            norm="batch",
            min_n_times=2,
            n_channels=n_channels,
            n_times=n_times,
            n_outputs=n_outputs,
            n_groups=n_groups,
            group_size=group_size,
            width=width,
            n_layers=n_layers,
            dilation=dilation,
            lstm_hidden=lstm_hidden,
            attention_dim=attention_dim,
        )
        if group_size > n_channels:
            raise ValueError(
                f"group_size={group_size} exceeds n_channels={n_channels}."
            )
        if len(mapping_dims) == 0:
            raise ValueError("mapping_dims must hold at least one layer size.")
        for size in mapping_dims:
            check_positive_int(size, "mapping_dims entries")
        groups = draw_channel_groups(n_channels, n_groups, group_size)
        self.register_buffer("channel_groups", groups)

        filters = [2 * width] * (n_layers - 1) + [width]
        kernels = [KERNELS[min(i, len(KERNELS) - 1)] for i in range(n_layers)]
        layers: list[nn.Module] = []
        c_in = group_size
        for i, (c_out, kernel) in enumerate(zip(filters, kernels, strict=True)):
            layers += [
                nn.Conv1d(
                    n_groups * c_in,
                    n_groups * c_out,
                    kernel,
                    dilation=dilation if i == 0 else 1,
                    padding="same",
                    groups=n_groups,
                ),
                nn.BatchNorm1d(n_groups * c_out),
                nn.LeakyReLU(),
            ]
            c_in = c_out
        self.encoder = nn.Sequential(*layers)
        self.lstm = nn.LSTM(n_channels, lstm_hidden, batch_first=True)

        sizes = [n_groups * width + lstm_hidden, *mapping_dims]
        mapping: list[nn.Module] = []
        for i in range(len(sizes) - 1):
            if i > 0:
                mapping.append(nn.LeakyReLU())
            mapping.append(nn.Linear(sizes[i], sizes[i + 1]))
        self.mapping = nn.Sequential(*mapping)
        self.embedding_dim = sizes[-1]
        self.head = PrototypeHead(
            self.embedding_dim, 2 if n_outputs == 1 else n_outputs, attention_dim
        )

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The embedding; shapes as in :meth:`EEGModule.embed`."""
        grouped = x[:, self.channel_groups.reshape(-1), :]
        conv = self.encoder(grouped).mean(dim=-1)
        _, (hidden, _) = self.lstm(x.transpose(1, 2))
        return self.mapping(torch.cat([conv, hidden[-1]], dim=1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits against the stored prototypes, and the embedding.

        Parameters
        ----------
        x : Tensor of shape (batch, n_channels, n_times)

        Returns
        -------
        logits : Tensor of shape (batch, n_outputs)
        embedding : Tensor of shape (batch, embedding_dim)
            The training loss builds mini-batch prototypes from it.
        """
        embedding = self.embed(x)
        return self.head(embedding), embedding
