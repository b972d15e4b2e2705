"""The SC network: receptive-field rule, shapes, dilations, normalisation."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from skeeg.models.sc import SCNet, auto_n_blocks, receptive_field


def _receptive_field_by_impulse(module: SCNet, n_times: int) -> int:
    """Width of the input region that moves one output step (by autograd).

    Positive weights and inputs keep every ReLU open, so no path is cut.
    """
    module.eval()
    with torch.no_grad():
        for p in module.parameters():
            p.fill_(0.1)
    x = (torch.rand(1, module.stem.in_channels, n_times) + 1).requires_grad_()
    h = module.blocks(module.stem(x))
    h[0, :, n_times // 2].sum().backward()
    touched = torch.nonzero(x.grad[0].abs().sum(dim=0)).flatten()
    return int(touched.max() - touched.min() + 1)


@pytest.mark.parametrize(
    "n_blocks, expected", [(0, 3), (1, 7), (2, 15), (3, 31), (8, 1023)]
)
def test_receptive_field_formula(n_blocks, expected):
    assert receptive_field(n_blocks) == expected


@pytest.mark.parametrize("n_blocks", [1, 2, 3, 4])
def test_receptive_field_matches_the_network(n_blocks):
    module = SCNet(2, 256, 1, width=4, n_blocks=n_blocks, norm="none")
    assert _receptive_field_by_impulse(module, 256) == receptive_field(n_blocks)


@pytest.mark.parametrize(
    "n_times, expected",
    [(1, 1), (2, 1), (3, 1), (4, 1), (7, 1), (8, 2), (768, 8), (1023, 8), (1024, 9)],
)
def test_auto_n_blocks_is_the_smallest_covering_count(n_times, expected):
    assert auto_n_blocks(n_times) == expected


def test_auto_never_resolves_to_zero_blocks_on_a_short_window():
    module = SCNet(1, 2, 1)
    assert module.n_blocks == 1
    assert module.train()(torch.randn(4, 1, 2)).shape == (4, 1)
    assert module.eval()(torch.randn(4, 1, 2)).shape == (4, 1)


def test_768_samples_take_8_blocks_with_exponential_dilations():
    module = SCNet(5, 768, 1)
    assert module.n_blocks == 8
    dilations = [block.body[2].dilation[0] for block in module.blocks]
    assert dilations == [2**i for i in range(8)]


@pytest.mark.parametrize(
    "n_channels, n_times, n_outputs", [(1, 64, 1), (5, 768, 1), (3, 100, 4)]
)
def test_output_and_embedding_shapes(n_channels, n_times, n_outputs):
    module = SCNet(n_channels, n_times, n_outputs, width=8)
    x = torch.randn(6, n_channels, n_times)
    assert module(x).shape == (6, n_outputs)
    assert module.embed(x).shape == (6, 8) == (6, module.embedding_dim)


def test_feature_maps_keep_the_time_length():
    module = SCNet(3, 101, 1, width=8, n_blocks=3)
    x = torch.randn(2, 3, 101)
    assert module.blocks(module.stem(x)).shape == (2, 8, 101)


def test_default_network_has_no_batchnorm():
    module = SCNet(5, 768, 1)
    assert not any(isinstance(m, nn.BatchNorm1d) for m in module.modules())
    assert any(isinstance(m, nn.InstanceNorm1d) for m in module.modules())


@pytest.mark.parametrize(
    "norm, layer_type",
    [
        ("instance", nn.InstanceNorm1d),
        ("layer", nn.GroupNorm),
        ("batch", nn.BatchNorm1d),
    ],
)
def test_norm_kind_selects_layers(norm, layer_type):
    module = SCNet(2, 50, 1, width=4, norm=norm)
    types = {type(m) for m in module.modules()}
    assert layer_type in types
    others = {nn.InstanceNorm1d, nn.GroupNorm, nn.BatchNorm1d} - {layer_type}
    assert not types & others


def test_prediction_of_a_window_does_not_depend_on_its_batch():
    module = SCNet(2, 50, 1, width=4).eval()
    x = torch.randn(8, 2, 50)
    torch.testing.assert_close(module(x)[:1], module(x[:1]), atol=1e-5, rtol=1e-5)


def test_bad_n_blocks_rejected():
    with pytest.raises(ValueError, match="n_blocks must be 'auto' or an int >= 1"):
        SCNet(2, 50, 1, n_blocks=0)
