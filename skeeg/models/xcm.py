"""XCM, the explainable convolutional network for multivariate time series
(Fauvel et al., Mathematics 2021; method-specs §5).

Two branches read the window in parallel:

- **2-D branch** (per channel): the window as a one-plane image of shape
  ``(n_channels, n_times)``; Conv2d(1 -> width, kernel (1, window), "same")
  -> BatchNorm -> ReLU, then a 1x1 Conv2d to one plane -> ReLU: a map of shape
  ``(n_channels, n_times)``, each channel filtered on its own.
- **1-D branch** (across channels): Conv1d(n_channels -> width, window,
  "same") -> BatchNorm -> ReLU, then a 1x1 Conv1d to one row -> ReLU: a map
  of shape ``(1, n_times)``.

The maps are stacked to ``(n_channels + 1, n_times)``; Conv1d(-> width,
window, "same") -> BatchNorm -> ReLU and a global average pool over time give
the embedding, a linear layer the logits.

:func:`grad_cam` gives Grad-CAM attributions (Selvaraju et al. 2017) from the
last convolution block of each branch: the 2-D branch's map has the input's
shape ``(n_channels, n_times)``, the 1-D branch's ``(n_times,)``, because
"same" padding keeps every position.

INFERRED: the paper's branches hold one convolution block each; ``n_blocks``
stacks more (width -> width, same kernel) for users who want depth, and
``n_blocks=1`` is the paper.
"""

from __future__ import annotations

import torch
from torch import nn

from skeeg.models.eeg_module import EEGModule, check_network_args


def _blocks(conv, norm, n_in: int, width: int, kernel, n_blocks: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(n_blocks):
        layers += [
            conv(n_in if i == 0 else width, width, kernel, padding="same"),
            norm(width),
            nn.ReLU(),
        ]
    return nn.Sequential(*layers)


class XCMNet(EEGModule):
    """The XCM network.

    Parameters
    ----------
    n_channels : int
        Input EEG channels.
    n_times : int
        Samples per window.
    n_outputs : int
        1 for two classes, else the class count.
    window : int
        Kernel length along time, in samples (at most ``n_times``).
    width : int, default=32
        Filters of every convolution block (the paper: 128).
    n_blocks : int, default=1
        Convolution blocks per branch (the paper: 1).
    """

    def __init__(
        self,
        n_channels: int,
        n_times: int,
        n_outputs: int,
        *,
        window: int,
        width: int = 32,
        n_blocks: int = 1,
    ) -> None:
        super().__init__()
        check_network_args(
            "XCMNet",
            norm="batch",
            min_n_times=2,
            n_channels=n_channels,
            n_times=n_times,
            n_outputs=n_outputs,
            window=window,
            width=width,
            n_blocks=n_blocks,
        )
        if window > n_times:
            raise ValueError(
                f"window={window} samples is longer than the window of "
                f"n_times={n_times} samples."
            )
        self.branch_2d = _blocks(
            nn.Conv2d, nn.BatchNorm2d, 1, width, (1, window), n_blocks
        )
        self.reduce_2d = nn.Sequential(nn.Conv2d(width, 1, 1), nn.ReLU())
        self.branch_1d = _blocks(
            nn.Conv1d, nn.BatchNorm1d, n_channels, width, window, n_blocks
        )
        self.reduce_1d = nn.Sequential(nn.Conv1d(width, 1, 1), nn.ReLU())
        self.fuse = _blocks(nn.Conv1d, nn.BatchNorm1d, n_channels + 1, width, window, 1)
        self.embedding_dim = width
        self.head = nn.Linear(width, n_outputs)

    def feature_maps(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Outputs of the last convolution block of each branch.

        Parameters
        ----------
        x : Tensor of shape (batch, n_channels, n_times)

        Returns
        -------
        maps_2d : Tensor of shape (batch, width, n_channels, n_times)
        maps_1d : Tensor of shape (batch, width, n_times)
        """
        return self.branch_2d(x[:, None]), self.branch_1d(x)

    def embed_maps(self, maps_2d: torch.Tensor, maps_1d: torch.Tensor) -> torch.Tensor:
        """The embedding from :meth:`feature_maps`' outputs, shape (batch, width)."""
        stacked = torch.cat([self.reduce_2d(maps_2d)[:, 0], self.reduce_1d(maps_1d)], 1)
        return self.fuse(stacked).mean(dim=-1)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The embedding; shapes as in :meth:`EEGModule.embed`."""
        return self.embed_maps(*self.feature_maps(x))


def grad_cam(
    module: XCMNet,
    x: torch.Tensor,
    target: torch.Tensor,
    *,
    branch: str = "2d",
    normalize: bool = True,
) -> torch.Tensor:
    """Grad-CAM attributions of ``target`` from one branch of XCM.

    For each filter ``f`` of the branch's last block, ``alpha_f`` is the mean
    over positions of the gradient of the class score with respect to its
    map ``A_f``; the attribution is ``ReLU(sum_f alpha_f A_f)``. Gradients are
    computed here even under :func:`torch.no_grad`.

    Parameters
    ----------
    module : XCMNet
        In eval mode, so that windows do not interact through BatchNorm.
    x : Tensor of shape (batch, n_channels, n_times)
    target : Tensor of int64, shape (batch,)
        Class index explained for each window. The class score is its logit;
        with a single (binary) logit ``z`` it is ``z`` for class 1 and ``-z``
        for class 0, the log-odds of the class.
    branch : {"2d", "1d"}, default="2d"
    normalize : bool, default=True
        Divide each window's attribution by its maximum (an all-zero map
        stays zero).

    Returns
    -------
    Tensor of shape (batch, n_channels, n_times) for "2d", (batch, n_times) for "1d"
    """
    if branch not in ("2d", "1d"):
        raise ValueError(f"branch must be '2d' or '1d', got {branch!r}.")
    with torch.enable_grad():
        maps_2d, maps_1d = module.feature_maps(x)
        logits = module.head(module.embed_maps(maps_2d, maps_1d))
        if logits.shape[1] == 1:
            score = torch.where(target == 1, logits[:, 0], -logits[:, 0])
        else:
            score = logits.gather(1, target[:, None])[:, 0]
        maps = maps_2d if branch == "2d" else maps_1d
        (grads,) = torch.autograd.grad(score.sum(), maps)
    positions = tuple(range(2, maps.dim()))
    alpha = grads.mean(dim=positions, keepdim=True)
    cam = torch.relu((alpha * maps).sum(dim=1)).detach()
    if normalize:
        top = cam.flatten(1).amax(dim=1).clamp_min(1e-12)
        cam = cam / top.view(-1, *([1] * (cam.dim() - 1)))
    return cam
