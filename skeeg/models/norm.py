"""Normalisation layers shared by the skeeg networks.

The iEDeaL paper removed BatchNorm from its baselines because highly imbalanced
mini-batches (a few IED windows among many background windows) destabilise the
batch statistics. ``norm="instance"`` is the per-sample replacement every skeeg
network defaults to: each channel of each window is normalised over time, then
scaled and shifted per channel, so a window's output never depends on which
other windows share its mini-batch. The iEDeaL authors' code calls this
``LayerNorm(dim_series)`` (a LayerNorm over the time axis); skeeg names it for
what it computes, an instance norm. ``norm="layer"`` is a true LayerNorm over
channels and time jointly.
"""

from __future__ import annotations

from torch import nn

from skeeg.models.eeg_module import check_positive_int

NORM_KINDS = ("batch", "instance", "layer", "none")


def check_norm(kind: str) -> None:
    """Raise ``ValueError`` unless ``kind`` is one of :data:`NORM_KINDS`."""
    if kind not in NORM_KINDS:
        raise ValueError(
            f"norm must be one of {', '.join(map(repr, NORM_KINDS))}; got {kind!r}."
        )


def make_norm(kind: str, n_features: int) -> nn.Module:
    """Build a normalisation layer for 1-D feature maps.

    Parameters
    ----------
    kind : {"batch", "instance", "layer", "none"}
        - ``"batch"``: :class:`torch.nn.BatchNorm1d`, statistics over the
          mini-batch and time, per channel.
        - ``"instance"``: per sample, per channel, over time, with a
          per-channel affine (:class:`torch.nn.InstanceNorm1d` with
          ``affine=True``). This is what the iEDeaL authors' code calls
          ``LayerNorm(dim_series)`` (a LayerNorm over the time axis:
          per-channel statistics over time), i.e. what the paper means. Needs
          at least 2 time steps in training mode.
        - ``"layer"``: per sample, over channels and time jointly (a LayerNorm
          over (channels, time)), with a per-channel affine
          (:class:`torch.nn.GroupNorm` with one group).
        - ``"none"``: :class:`torch.nn.Identity`.
    n_features : int
        Channels of the feature map it will normalise.

    Returns
    -------
    norm : nn.Module
        Maps a Tensor of shape (batch, n_features, n_times) to the same shape.
    """
    check_norm(kind)
    check_positive_int(n_features, "n_features")
    if kind == "batch":
        return nn.BatchNorm1d(n_features)
    if kind == "instance":
        return nn.InstanceNorm1d(n_features, affine=True)
    if kind == "layer":
        return nn.GroupNorm(1, n_features)
    return nn.Identity()
