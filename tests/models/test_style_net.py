"""The feed-forward style network: any size in, the same size out, [0, 1], no checkerboard
layers, round trip, errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from atelier.errors import InvalidArgument, InvalidImage
from atelier.models import build_model, load_model, save_model


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return build_model("style", {"width": 8, "blocks": 2}).eval()


@pytest.mark.parametrize("size", [(8, 8), (9, 13), (37, 50), (31, 17)])
def test_output_size_equals_input_size(net, size):
    with torch.no_grad():
        y = net(torch.rand(2, 3, *size))
    assert y.shape == (2, 3, *size) and float(y.min()) >= 0 and float(y.max()) <= 1


def test_johnson_layout_and_the_light_variant():
    from atelier.models.style_net import _InstanceNorm

    net = build_model("style", {})
    assert sum(p.numel() for p in net.parameters()) == 1_679_235  # width 32, 5 residual blocks of 128
    assert not any(isinstance(m, nn.ConvTranspose2d) for m in net.modules())  # resize-convolutions only
    assert sum(isinstance(m, _InstanceNorm) for m in net.modules()) == 3 + 2 * 5 + 2
    assert all(m.padding_mode == "reflect" for m in net.modules() if isinstance(m, nn.Conv2d))
    light = build_model("style", {"width": 16, "res_width": 48, "up_width": 8, "blocks": 3, "out_kernel": 3,
                                  "padding": "zeros"})
    assert sum(p.numel() for p in light.parameters()) == 156_243
    assert light.out.kernel_size == (3, 3) and light.res[0].body[1].in_channels == 48


@pytest.mark.parametrize("channels_last", [False, True])
def test_instance_norm_matches_torch(channels_last):
    from atelier.models.style_net import _InstanceNorm

    torch.manual_seed(0)
    mine, ref = _InstanceNorm(5), nn.InstanceNorm2d(5, affine=True)
    nn.init.uniform_(mine.weight)
    nn.init.uniform_(mine.bias)
    ref.load_state_dict(mine.state_dict())
    x = torch.randn(2, 5, 7, 9) * 3 + 1
    y = mine(x.contiguous(memory_format=torch.channels_last) if channels_last else x)
    torch.testing.assert_close(y, ref(x), atol=1e-5, rtol=1e-5)


def test_round_trip(tmp_path, net):
    save_model(net, tmp_path / "m")
    x = torch.rand(1, 3, 16, 20)
    with torch.no_grad():
        torch.testing.assert_close(load_model(tmp_path / "m")(x), net(x))


def test_errors(net):
    with pytest.raises(InvalidImage, match="sides >= 8"):
        net(torch.rand(1, 3, 7, 20))
    with pytest.raises(InvalidImage, match=r"\(B, 3, H, W\)"):
        net(torch.rand(1, 1, 16, 16))
    with pytest.raises(InvalidArgument, match="width"):
        build_model("style", {"width": 0})
    with pytest.raises(InvalidArgument, match="out_kernel"):
        build_model("style", {"out_kernel": 4})
    with pytest.raises(InvalidArgument, match="padding"):
        build_model("style", {"padding": "circular"})
