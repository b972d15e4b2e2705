import numpy as np
import pytest
import torch
from torch import nn

from skeeg.models.inception import InceptionTime
from skeeg.models.norm import NORM_KINDS, make_norm
from skeeg.models.resnet1d import ResNet1D

MODELS = [
    (ResNet1D, {"width": 8, "n_blocks": 1}),
    (InceptionTime, {"width": 4, "n_blocks": 3, "bottleneck": 4}),
]


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def resnet18_n_params(n_channels, n_outputs, *, width=64, kernel_dims=1):
    """ResNet-18 parameters from its layer shapes (bias-free convs, norm affine)."""

    def conv(c_in, c_out, k):
        return c_in * c_out * k**kernel_dims

    def norm(c):
        return 2 * c

    total = conv(n_channels, width, 7) + norm(width)
    stage1 = 2 * (2 * (conv(width, width, 3) + norm(width)))
    total += stage1
    for c_in, c_out in [
        (width, 2 * width),
        (2 * width, 4 * width),
        (4 * width, 8 * width),
    ]:
        first = conv(c_in, c_out, 3) + conv(c_out, c_out, 3) + 2 * norm(c_out)
        projection = conv(c_in, c_out, 1) + norm(c_out)
        second = 2 * (conv(c_out, c_out, 3) + norm(c_out))
        total += first + projection + second
    return total + 8 * width * n_outputs + n_outputs


def test_reference_formula_reproduces_torchvision_resnet18_count():
    # torchvision's 2-D resnet18 (3 channels in, 1000 classes) has 11,689,512.
    assert resnet18_n_params(3, 1000, kernel_dims=2) == 11_689_512


def test_resnet1d_parameter_count_is_1d_resnet18():
    model = ResNet1D(2, 256, 1, width=64, n_blocks=2, norm="batch")
    assert n_params(model) == resnet18_n_params(2, 1)
    # By hand: stem 1,024 + stages 49,664 + 181,504 + 723,456 + 2,888,704 + head 513.
    assert n_params(model) == 3_844_865


def test_inception_parameter_count_from_layer_shapes():
    model = InceptionTime(3, 64, 2, width=32, n_blocks=6, norm="batch")
    kernels = 39 + 19 + 9
    out = 4 * 32

    def module(c_in):
        return c_in * 32 + 32 * 32 * kernels + c_in * 32 + 2 * out

    shortcuts = (3 * out + 2 * out) + (out * out + 2 * out)
    expected = module(3) + 5 * module(out) + shortcuts + out * 2 + 2
    assert n_params(model) == expected


def test_inception_skips_bottleneck_on_single_channel():
    model = InceptionTime(1, 64, 1, width=4, n_blocks=3, bottleneck=4)
    first, second = model.blocks[0], model.blocks[1]
    assert isinstance(first.bottleneck, nn.Identity)
    assert first.convs[0].in_channels == 1
    assert isinstance(second.bottleneck, nn.Conv1d)
    assert second.convs[0].in_channels == 4


@pytest.mark.parametrize(("n_blocks", "n_shortcuts"), [(6, 2), (3, 1), (4, 1), (2, 0)])
def test_inception_residual_every_three_modules(n_blocks, n_shortcuts):
    model = InceptionTime(2, 32, 1, width=4, n_blocks=n_blocks, bottleneck=4)
    assert len(model.shortcuts) == n_shortcuts


@pytest.mark.parametrize(("model_cls", "kwargs"), MODELS)
@pytest.mark.parametrize(
    ("n_channels", "n_times", "n_outputs"), [(1, 64, 1), (4, 100, 3), (19, 257, 2)]
)
def test_output_and_embedding_shapes(model_cls, kwargs, n_channels, n_times, n_outputs):
    model = model_cls(n_channels, n_times, n_outputs, **kwargs)
    x = torch.randn(5, n_channels, n_times)
    embedding = model.embed(x)
    logits = model(x)
    assert embedding.shape == (5, model.embedding_dim)
    assert logits.shape == (5, n_outputs)
    torch.testing.assert_close(logits, model.head(embedding))


def test_embedding_dims():
    assert ResNet1D(1, 64, 1, width=64).embedding_dim == 512
    assert InceptionTime(1, 64, 1, width=32).embedding_dim == 128
    assert InceptionTime(1, 64, 1, width=8, kernel_sizes=(9, 5)).embedding_dim == 24


@pytest.mark.parametrize(("model_cls", "kwargs"), MODELS)
@pytest.mark.parametrize("norm", NORM_KINDS)
def test_every_norm_trains_and_gradients_reach_all_parameters(model_cls, kwargs, norm):
    torch.manual_seed(0)
    model = model_cls(3, 96, 2, norm=norm, **kwargs).train()
    x = torch.randn(4, 3, 96, requires_grad=True)
    model(x).square().sum().backward()
    for name, param in model.named_parameters():
        assert param.grad is not None, name
        assert torch.isfinite(param.grad).all(), name
    assert x.grad.abs().sum() > 0


@pytest.mark.parametrize(("model_cls", "kwargs"), MODELS)
def test_norm_kind_selects_layers(model_cls, kwargs):
    def layer_types(norm):
        model = model_cls(2, 64, 1, norm=norm, **kwargs)
        return {type(m) for m in model.modules()}

    assert nn.BatchNorm1d in layer_types("batch")
    assert nn.InstanceNorm1d in layer_types("instance")
    assert nn.GroupNorm in layer_types("layer")
    norm_types = {nn.BatchNorm1d, nn.InstanceNorm1d, nn.GroupNorm}
    for norm in ("instance", "layer", "none"):
        assert nn.BatchNorm1d not in layer_types(norm)
    assert not norm_types & layer_types("none")


@pytest.mark.parametrize(("model_cls", "kwargs"), MODELS)
def test_convolutions_have_bias_only_without_norm(model_cls, kwargs):
    for norm in NORM_KINDS:
        model = model_cls(2, 64, 1, norm=norm, **kwargs)
        biases = {
            m.bias is not None for m in model.modules() if isinstance(m, nn.Conv1d)
        }
        assert biases == {norm == "none"}


def test_make_norm_kinds():
    assert isinstance(make_norm("batch", 4), nn.BatchNorm1d)
    assert isinstance(make_norm("none", 4), nn.Identity)
    instance = make_norm("instance", 4)
    assert isinstance(instance, nn.InstanceNorm1d) and instance.affine
    layer = make_norm("layer", 4)
    assert isinstance(layer, nn.GroupNorm) and layer.num_groups == 1
    with pytest.raises(ValueError, match="'batch', 'instance', 'layer', 'none'"):
        make_norm("group", 4)


def test_instance_norm_standardises_each_channel_over_time():
    x = torch.randn(3, 4, 50, dtype=torch.float64) * 5 + 2
    out = make_norm("instance", 4).double()(x).detach().numpy()
    xn = x.numpy()
    expected = (xn - xn.mean(-1, keepdims=True)) / np.sqrt(
        xn.var(-1, keepdims=True) + 1e-5
    )
    np.testing.assert_allclose(out, expected, atol=1e-10)


def test_layer_norm_standardises_over_channels_and_time():
    x = torch.randn(3, 4, 50, dtype=torch.float64) * 5 + 2
    out = make_norm("layer", 4).double()(x).detach().numpy()
    xn = x.numpy()
    mean = xn.mean(axis=(1, 2), keepdims=True)
    var = xn.var(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(out, (xn - mean) / np.sqrt(var + 1e-5), atol=1e-10)


def test_layer_and_instance_norm_differ_on_channels_with_different_offsets():
    # Channels with very different offsets and scales: a joint (channels, time)
    # norm keeps the channel offsets apart, a per-channel norm erases them.
    torch.manual_seed(0)
    offsets = torch.tensor([-30.0, -3.0, 4.0, 25.0], dtype=torch.float64)
    scales = torch.tensor([0.5, 2.0, 8.0, 1.0], dtype=torch.float64)
    x = torch.randn(5, 4, 40, dtype=torch.float64) * scales[:, None] + offsets[:, None]
    xn = x.numpy()

    layer = make_norm("layer", 4).double()(x).detach().numpy()
    flat = xn.reshape(5, -1)
    reference = (xn - flat.mean(1)[:, None, None]) / np.sqrt(
        flat.var(1)[:, None, None] + 1e-5
    )
    np.testing.assert_allclose(layer, reference, atol=1e-10)
    np.testing.assert_allclose(layer.reshape(5, -1).mean(1), 0, atol=1e-10)
    np.testing.assert_allclose(layer.reshape(5, -1).var(1), 1, atol=1e-4)
    assert np.abs(layer.mean(-1)).max() > 0.5  # per-channel means survive

    instance = make_norm("instance", 4).double()(x).detach().numpy()
    np.testing.assert_allclose(instance.mean(-1), 0, atol=1e-10)
    np.testing.assert_allclose(instance.var(-1), 1, atol=1e-3)


def test_instance_norm_output_does_not_depend_on_batch_companions():
    torch.manual_seed(0)
    model = ResNet1D(2, 64, 1, width=8, n_blocks=1, norm="instance").train()
    x = torch.randn(1, 2, 64)
    others = torch.randn(7, 2, 64) * 10
    alone = model(x)
    in_batch = model(torch.cat([x, others]))[:1]
    torch.testing.assert_close(alone, in_batch)


def test_resnet_min_n_times():
    # Five halvings, rounding up: ceil(n / 32) steps in the deepest map.
    assert ResNet1D.min_n_times() == ResNet1D.min_n_times(norm="instance") == 33
    for norm in ("batch", "layer", "none"):
        assert ResNet1D.min_n_times(norm=norm) == 1
    model = ResNet1D(1, 33, 1, width=8, n_blocks=1, norm="instance").train()
    x = torch.randn(2, 1, 33)
    assert model.stages(model.stem(x)).shape[-1] == 2  # 33 -> 17 -> 9 -> 5 -> 3 -> 2
    assert model(x).shape == (2, 1)
    with pytest.raises(ValueError, match="n_times=32 .* at least 33"):
        ResNet1D(1, 32, 1, norm="instance")
    assert ResNet1D(1, 1, 1, width=8, norm="none")(torch.randn(2, 1, 1)).shape == (2, 1)


def test_inception_min_n_times_and_length_preserved():
    assert InceptionTime.min_n_times() == InceptionTime.min_n_times(norm="instance")
    assert InceptionTime.min_n_times(norm="instance") == 2
    for norm in ("batch", "layer", "none"):
        assert InceptionTime.min_n_times(norm=norm) == 1
    with pytest.raises(ValueError, match="n_times=1 .* at least 2"):
        InceptionTime(1, 1, 1, norm="instance")
    model = InceptionTime(2, 2, 1, width=4, n_blocks=3, bottleneck=4).train()
    assert model(torch.randn(3, 2, 2)).shape == (3, 1)
    block = InceptionTime(2, 37, 1, width=4, n_blocks=1, bottleneck=4).blocks[0]
    assert block(torch.randn(1, 2, 37)).shape == (1, 16, 37)
    model = InceptionTime(1, 1, 1, width=4, n_blocks=3, norm="none")
    assert model(torch.randn(2, 1, 1)).shape == (2, 1)


@pytest.mark.parametrize(("model_cls", "kwargs"), MODELS)
@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("n_channels", 0),
        ("n_times", -3),
        ("n_outputs", 0),
        ("width", 0),
        ("n_blocks", 1.5),
        ("width", True),
    ],
)
def test_constructor_rejects_bad_sizes(model_cls, kwargs, name, value):
    args = {"n_channels": 2, "n_times": 64, "n_outputs": 1, **kwargs, name: value}
    with pytest.raises(ValueError, match=name):
        model_cls(**args)


@pytest.mark.parametrize(("model_cls", "kwargs"), MODELS)
def test_constructor_rejects_unknown_norm(model_cls, kwargs):
    with pytest.raises(ValueError, match="norm must be one of"):
        model_cls(2, 64, 1, norm="batchnorm", **kwargs)


@pytest.mark.parametrize("kernel_sizes", [(), (10,), (9, 0), (9, 4.0)])
def test_inception_rejects_bad_kernel_sizes(kernel_sizes):
    with pytest.raises(ValueError, match="kernel_sizes"):
        InceptionTime(2, 64, 1, kernel_sizes=kernel_sizes)
