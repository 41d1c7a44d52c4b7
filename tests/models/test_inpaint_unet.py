"""The gated-convolution inpainting U-Net: any size, known pixels kept by composite, the
holes change with the network, round trip, errors."""

from __future__ import annotations

import pytest
import torch

from atelier.errors import InvalidArgument, InvalidImage
from atelier.models import build_model, load_model, save_model


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    net = build_model("inpaint", {"width": 8, "levels": 3}).eval()
    torch.nn.init.normal_(net.head.weight, std=0.1)  # as if trained: the head starts at zero
    return net


def _mask(h, w):
    m = torch.zeros(1, 1, h, w)
    m[..., h // 4 : h // 2, w // 3 : w // 2 + 1] = 1
    return m


@pytest.mark.parametrize("size", [(16, 16), (21, 30), (9, 41), (3, 5)])
def test_any_size_and_composite_keeps_known_pixels(net, size):
    x, m = torch.rand(1, 3, *size), _mask(*size)
    with torch.no_grad():
        y = net(x, m)
        out = net.composite(x, m)
    assert y.shape == x.shape and 0 <= float(out.min()) and float(out.max()) <= 1
    keep = m.expand_as(x) == 0
    assert torch.equal(out[keep], x[keep])


def test_output_ignores_the_hidden_pixels(net):
    """What lies under the mask cannot leak into the result (the input zeroes it)."""
    x, m = torch.rand(1, 3, 24, 24), _mask(24, 24)
    other = torch.where(m.bool(), torch.rand_like(x), x)
    with torch.no_grad():
        assert torch.equal(net(x, m), net(other, m))


def test_an_untrained_network_returns_the_smooth_fill():
    from atelier.models.inpaint_unet import harmonic_smooth, pyramid_fill

    x, m = torch.rand(1, 3, 21, 30), _mask(21, 30)
    with torch.no_grad():
        torch.testing.assert_close(build_model("inpaint", {"width": 4, "levels": 2, "smoothing": 0})(x, m),
                                   pyramid_fill(x, m))
        smoothed = build_model("inpaint", {"width": 4, "levels": 2, "smoothing": 30})(x, m)
        torch.testing.assert_close(smoothed, harmonic_smooth(pyramid_fill(x, m), m, 30))
    flat = torch.full((1, 3, 21, 30), 0.4)
    torch.testing.assert_close(pyramid_fill(flat, m), flat)  # a constant stays constant
    ramp = torch.linspace(0, 1, 30).expand(1, 3, 21, 30)
    hole = m.expand_as(ramp).bool()
    assert float((pyramid_fill(ramp, m) - ramp)[hole].abs().max()) < 0.15  # smooth, close to the ramp


def test_gradients_reach_every_layer():
    net = build_model("inpaint", {"width": 4, "levels": 2})
    torch.nn.init.normal_(net.head.weight, std=0.1)
    x, m = torch.rand(2, 3, 16, 16), _mask(16, 16).expand(2, 1, 16, 16)
    net(x, m).mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())


def test_round_trip(tmp_path, net):
    save_model(net, tmp_path / "m")
    x, m = torch.rand(1, 3, 16, 20), _mask(16, 20)
    with torch.no_grad():
        torch.testing.assert_close(load_model(tmp_path / "m")(x, m), net(x, m))


def test_errors(net):
    with pytest.raises(InvalidImage, match="mask"):
        net(torch.rand(1, 3, 8, 8), torch.zeros(1, 1, 8, 9))
    with pytest.raises(InvalidImage, match=r"\(B, 3, H, W\)"):
        net(torch.rand(1, 1, 8, 8), torch.zeros(1, 1, 8, 8))
    with pytest.raises(InvalidArgument, match="levels"):
        build_model("inpaint", {"levels": 9})
