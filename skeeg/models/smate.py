"""SMATE: a spatio-temporal autoencoder and its semi-supervised centroid loss.

Method-specs §3 (seed ``ad-psg-semisupervised-paper.txt`` §III-B1 and
Appendix B; Zuo et al., ICDM 2021). The network (:class:`SMATENet`) encodes a
window with a spatial path (spatial modelling blocks and convolutions) and a
temporal path (stacked GRUs), pools both to ``n_steps`` segments, maps them to
an embedding with two per-segment fully connected layers and reconstructs the
window from the embedding with a GRU decoder. :class:`SMATELoss` is the
training objective: reconstruction plus the three-step centroid
regularisation (:func:`smate_centroids`).

Where the authors' released code (github ``JingweiZuo/SMATE``,
``SMATE_model.py`` and ``utils/basic_modules.py``, read on 2026-12-01) differs
from the paper, this module follows the paper:

- Spatial modelling block: the paper averages each channel over segments of
  ``w`` samples and weights every segment (upsampled back to ``n_times``);
  the code slides the average with stride 1. Both give one weight per sample.
  The code also discards its first block's output (``out_s = Conv1D(...)(input_)``
  after the block); here every block is used.
- Step 2 weights: the paper uses a probability from the inverse Euclidean
  distance; the code takes ``1 - d / sum(d)`` and then one global maximum
  over the whole batch, so every labelled window weighs the same.
- Step 3: the code's pseudo-label is the arg*max* of the distances (the
  farthest centroid); here it is the most probable (nearest) class.
- ``L_Reg``: the paper sums over labelled windows (against their labels) and
  unlabelled ones (against the propagated label); the code uses labelled
  windows only (unlabelled windows move the centroids but get no loss term).
  :class:`SMATELoss` offers the code's behaviour as ``reg_unlabelled=False``.
- The code's decoder ends in a sigmoid, which cannot reproduce z-scored EEG
  (negative values); here it is linear.

**INFERRED** (the spec and the paper leave open): the decoder repeats each
embedding segment over its samples and runs ``gru_layers`` GRUs and a linear
map back to the channels (the code's structure); the embedding layers are
per-segment ``Linear -> BatchNorm -> LeakyReLU -> Linear -> BatchNorm`` (the
code's); the reconstruction term averages ``||x_t - x~_t||`` over samples
instead of summing, so that ``lambda_reg`` does not depend on ``n_times``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from skeeg.models.eeg_module import check_positive_int

#: Distance-to-probability maps of the centroid regularisation.
DISTANCE_PROBAS = ("inverse", "softmax")

# Added under square roots and to inverse distances: a window that is its
# class's only labelled window sits on its centroid (distance 0).
_EPS = 1e-12


class SpatialModellingBlock(nn.Module):
    """Weights each channel of each segment by its interaction with the others.

    Averages every channel over segments of ``window`` samples, maps the
    channel vector of each segment through ``n_channels -> hidden ->
    n_channels`` (ReLU, then sigmoid), repeats each segment's weights over its
    samples and multiplies the input by them.

    Parameters
    ----------
    n_channels : int
        Channels of the input ``h``.
    hidden : int
        Width of the bottleneck layer.
    window : int
        Segment length, in samples.
    """

    def __init__(self, n_channels: int, hidden: int, window: int) -> None:
        super().__init__()
        self.window = window
        # Bias-free, as in squeeze-and-excitation blocks and the authors' code.
        self.weights = nn.Sequential(
            nn.Linear(n_channels, hidden, bias=False),
            nn.ReLU(),
            nn.Linear(hidden, n_channels, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """Re-weighted ``h``.

        Parameters
        ----------
        h : Tensor of shape (batch, n_channels, n_times)

        Returns
        -------
        Tensor of shape (batch, n_channels, n_times)
        """
        n_times = h.shape[-1]
        segments = F.adaptive_avg_pool1d(h, math.ceil(n_times / self.window))
        weights = self.weights(segments.transpose(1, 2)).transpose(1, 2)
        return h * F.interpolate(weights, size=n_times, mode="nearest")


class SMATENet(nn.Module):
    """SMATE's autoencoder: spatial and temporal encoders, embedding, decoder.

    Parameters
    ----------
    n_channels : int
        EEG channels ``d``.
    n_times : int
        Samples per window ``T``.
    width : int, default=128
        Filters of the first and third spatial convolutions (the second has
        ``2 * width``): the paper's 128/256/128.
    kernel_sizes : tuple of 3 int, default=(8, 5, 3)
        Kernel of each spatial convolution and window of the spatial
        modelling block before it.
    smb_hidden : tuple of 3 int, default=(2, 8, 16)
        Bottleneck width of each spatial modelling block (seed Table IV: 2
        for the block on the raw channels; the authors' code: 8 and 16).
    hidden_size : int, default=128
        Units of each GRU (encoder and decoder).
    gru_layers : int, default=3
        Stacked GRUs in the temporal encoder and in the decoder.
    embedding_size : int, default=128
        Features per segment of the embedding.
    pool_size : int, default=128
        Samples per pooled segment ``P``; the embedding has
        ``n_steps = ceil(T / P)`` segments (seed: 1280 / 128 = 10).
    use_spatial, use_temporal : bool, default=True
        Ablation switches: drop the spatial or the temporal encoder (at least
        one stays).

    Attributes
    ----------
    n_steps : int
        Pooled segments per window.
    embedding_dim : int
        ``embedding_size * n_steps``: features :meth:`embed` returns.
    """

    def __init__(
        self,
        n_channels: int,
        n_times: int,
        *,
        width: int = 128,
        kernel_sizes: tuple[int, int, int] = (8, 5, 3),
        smb_hidden: tuple[int, int, int] = (2, 8, 16),
        hidden_size: int = 128,
        gru_layers: int = 3,
        embedding_size: int = 128,
        pool_size: int = 128,
        use_spatial: bool = True,
        use_temporal: bool = True,
    ) -> None:
        super().__init__()
        sizes = dict(
            n_channels=n_channels,
            n_times=n_times,
            width=width,
            hidden_size=hidden_size,
            gru_layers=gru_layers,
            embedding_size=embedding_size,
            pool_size=pool_size,
        )
        for name, value in sizes.items():
            check_positive_int(value, name)
        for name, values in (
            ("kernel_sizes", kernel_sizes),
            ("smb_hidden", smb_hidden),
        ):
            if not isinstance(values, tuple | list) or len(values) != 3:
                raise ValueError(
                    f"{name} must be a tuple of 3 ints >= 1, got {values!r}."
                )
            for value in values:
                check_positive_int(value, name)
        if not (use_spatial or use_temporal):
            raise ValueError(
                "use_spatial and use_temporal are both False; SMATE needs at "
                "least one encoder."
            )
        self.n_steps = math.ceil(n_times / pool_size)
        self.embedding_dim = embedding_size * self.n_steps
        encoded = 0
        self.spatial = None
        if use_spatial:
            layers = []
            filters = (width, 2 * width, width)
            in_channels = n_channels
            for out_channels, kernel, hidden in zip(
                filters, kernel_sizes, smb_hidden, strict=True
            ):
                # "Same" padding, written out: torch's padding="same" copies
                # the input (with a warning) for even kernels.
                layers += [
                    SpatialModellingBlock(in_channels, hidden, kernel),
                    nn.ConstantPad1d(((kernel - 1) // 2, kernel // 2), 0.0),
                    nn.Conv1d(in_channels, out_channels, kernel),
                    nn.BatchNorm1d(out_channels),
                    nn.ReLU(),
                ]
                in_channels = out_channels
            self.spatial = nn.Sequential(*layers)
            encoded += width
        self.temporal = None
        if use_temporal:
            self.temporal = nn.GRU(
                n_channels, hidden_size, num_layers=gru_layers, batch_first=True
            )
            encoded += hidden_size
        # Kernel-1 convolutions: the same fully connected layer on every segment.
        self.embedding = nn.Sequential(
            nn.Conv1d(encoded, embedding_size, 1),
            nn.BatchNorm1d(embedding_size),
            nn.LeakyReLU(),
            nn.Conv1d(embedding_size, embedding_size, 1),
            nn.BatchNorm1d(embedding_size),
        )
        self.decoder = nn.GRU(
            embedding_size, hidden_size, num_layers=gru_layers, batch_first=True
        )
        self.output = nn.Linear(hidden_size, n_channels)

    def _segments(self, x: torch.Tensor) -> torch.Tensor:
        """Embedding per segment, shape (batch, embedding_size, n_steps)."""
        paths = []
        if self.spatial is not None:
            paths.append(F.adaptive_avg_pool1d(self.spatial(x), self.n_steps))
        if self.temporal is not None:
            h, _ = self.temporal(x.transpose(1, 2))
            paths.append(F.adaptive_avg_pool1d(h.transpose(1, 2), self.n_steps))
        return self.embedding(torch.cat(paths, dim=1))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The spatio-temporal embedding of each window.

        Parameters
        ----------
        x : Tensor of shape (batch, n_channels, n_times)

        Returns
        -------
        Tensor of shape (batch, embedding_dim)
            The segments' embeddings, flattened.
        """
        return self._segments(x).flatten(1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Embedding and reconstruction (SMATE has no logits: an SVM on the
        embedding classifies).

        Parameters
        ----------
        x : Tensor of shape (batch, n_channels, n_times)

        Returns
        -------
        embedding : Tensor of shape (batch, embedding_dim)
        reconstruction : Tensor of shape (batch, n_channels, n_times)
        """
        segments = self._segments(x)
        repeated = F.interpolate(segments, size=x.shape[-1], mode="nearest")
        h, _ = self.decoder(repeated.transpose(1, 2))
        return segments.flatten(1), self.output(h).transpose(1, 2)


def distance_proba(
    h: torch.Tensor, centroids: torch.Tensor, kind: str = "inverse"
) -> torch.Tensor:
    """Class probabilities from Euclidean distances to class centroids.

    Parameters
    ----------
    h : Tensor of shape (n, dim)
    centroids : Tensor of shape (n_classes, dim)
    kind : {"inverse", "softmax"}, default="inverse"
        "inverse": proportional to ``1 / d`` (seed Appendix B); "softmax":
        ``softmax(-d)``.

    Returns
    -------
    Tensor of shape (n, n_classes)
        Rows sum to 1.
    """
    # Not torch.cdist: its gradient at distance 0 is not defined.
    d = ((h[:, None, :] - centroids[None]) ** 2).sum(-1).add(_EPS).sqrt()
    if kind == "inverse":
        inverse = 1.0 / (d + _EPS)
        return inverse / inverse.sum(dim=1, keepdim=True)
    return torch.softmax(-d, dim=1)


def smate_centroids(
    h: torch.Tensor, y: torch.Tensor, n_classes: int, *, kind: str = "inverse"
) -> tuple[torch.Tensor, torch.Tensor]:
    """SMATE's three-step class centroids and the label of every window.

    1. Supervised initialisation: mean embedding of each class's labelled
       windows.
    2. Supervised adjustment: each labelled window weighs its probability of
       its own class (:func:`distance_proba` to the step-1 centroids); the
       centroids become the weighted means.
    3. Unsupervised adjustment: each unlabelled window joins its most
       probable class (to the step-2 centroids), weighted by that
       probability; the centroids become the weighted means of both.

    Parameters
    ----------
    h : Tensor of shape (n, dim)
        Embeddings.
    y : Tensor of int64, shape (n,)
        Class indices in ``[0, n_classes)``, ``-1`` for unlabelled windows.
        Every class needs a labelled window.
    n_classes : int
    kind : {"inverse", "softmax"}, default="inverse"
        See :func:`distance_proba`.

    Returns
    -------
    centroids : Tensor of shape (n_classes, dim)
    labels : Tensor of int64, shape (n,)
        ``y`` with each unlabelled window's propagated class (step 3).
    """
    labelled = y >= 0
    h_lab = h[labelled]
    member = F.one_hot(y[labelled], n_classes).to(h.dtype)  # (n_lab, n_classes)
    centroids = (member.T @ h_lab) / member.sum(0)[:, None]
    weights = distance_proba(h_lab, centroids, kind) * member
    weighted_sum, total = weights.T @ h_lab, weights.sum(0)
    labels = y.clone()
    if not bool(labelled.all()):
        h_unl = h[~labelled]
        proba = distance_proba(h_unl, weighted_sum / total[:, None], kind)
        nearest = proba.argmax(dim=1)
        assigned = proba * F.one_hot(nearest, n_classes).to(h.dtype)
        weighted_sum = weighted_sum + assigned.T @ h_unl
        total = total + assigned.sum(0)
        labels[~labelled] = nearest
    return weighted_sum / total[:, None], labels


class SMATELoss(nn.Module):
    """SMATE's objective ``L_R + lambda_reg * L_Reg`` on one mini-batch.

    ``L_R`` is the mean over windows and samples of ``||x_t - x~_t||`` (the
    Euclidean norm over channels). ``L_Reg`` is the mean cross-entropy of
    the distance-based class probabilities to the :func:`smate_centroids`
    against the window's label (labelled windows) or its propagated label
    (unlabelled windows, when ``reg_unlabelled``).

    Classes without a labelled window in the batch are left out of the
    centroids (SMATEClassifier's batch sampler never lets that happen in
    training; a validation batch may); with fewer than two such classes
    ``L_Reg`` is 0.

    Parameters
    ----------
    n_classes : int
    lambda_reg : float, default=1.0
        Weight of ``L_Reg`` (``lambda >= 0``).
    kind : {"inverse", "softmax"}, default="inverse"
        See :func:`distance_proba`.
    reg_unlabelled : bool, default=True
        Unlabelled windows enter ``L_Reg`` with their propagated label (the
        paper); False: only labelled windows do (the authors' code).
    """

    def __init__(
        self,
        n_classes: int,
        lambda_reg: float = 1.0,
        kind: str = "inverse",
        reg_unlabelled: bool = True,
    ) -> None:
        super().__init__()
        self.n_classes = n_classes
        self.lambda_reg = lambda_reg
        self.kind = kind
        self.reg_unlabelled = reg_unlabelled

    def reconstruction(self, x: torch.Tensor, x_rec: torch.Tensor) -> torch.Tensor:
        """``L_R``: mean over windows and samples of the per-sample error norm."""
        return ((x - x_rec) ** 2).sum(dim=1).add(_EPS).sqrt().mean()

    def regularisation(self, h: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``L_Reg`` of embeddings ``h`` (n, dim) and labels ``y`` (n,; -1: none)."""
        labelled = y >= 0
        present = torch.zeros(self.n_classes, dtype=torch.bool, device=y.device)
        present[y[labelled]] = True
        if int(present.sum()) < 2:
            return h.sum() * 0.0
        # Re-index the present classes 0..k-1.
        index = torch.cumsum(present, 0) - 1
        y = torch.where(labelled, index[y.clamp(min=0)], y)
        centroids, labels = smate_centroids(h, y, int(present.sum()), kind=self.kind)
        keep = labelled if not self.reg_unlabelled else torch.ones_like(labelled)
        proba = distance_proba(h[keep], centroids, self.kind)
        return F.nll_loss(proba.clamp(min=_EPS).log(), labels[keep])

    def forward(
        self,
        embedding: torch.Tensor,
        reconstruction: torch.Tensor,
        x: torch.Tensor,
        y: torch.Tensor,
    ) -> torch.Tensor:
        """The batch loss.

        Parameters
        ----------
        embedding : Tensor of shape (batch, embedding_dim)
        reconstruction : Tensor of shape (batch, n_channels, n_times)
        x : Tensor of shape (batch, n_channels, n_times)
            The input windows.
        y : Tensor of int64, shape (batch,)
            Class indices, ``-1`` for unlabelled windows.

        Returns
        -------
        Tensor
            A scalar.
        """
        loss = self.reconstruction(x, reconstruction)
        if self.lambda_reg:
            loss = loss + self.lambda_reg * self.regularisation(embedding, y)
        return loss
