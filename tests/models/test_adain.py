"""AdaIN (Huang & Belongie 2017): the adain function, the decoder, the model's controls,
save/load, determinism and errors. Tiny decoders (width 1/16) and images of 16-40 px."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from atelier.errors import AtelierError, InvalidArgument, InvalidImage
from atelier.models import build_model, load_model, save_model
from atelier.models.adain import (
    CONTENT_TAP,
    STYLE_TAPS,
    AdaIN,
    adain,
    channel_stats,
    masked_adain,
    pad_to_multiple,
)
from atelier.models.registry import WEIGHTS_FILE, count_parameters

TINY = {"width": 0.0625}


@pytest.fixture(scope="module")
def net() -> AdaIN:
    torch.manual_seed(0)
    model = build_model("adain", TINY).eval()
    torch.nn.init.constant_(model.decoder[-1].bias, 0.5)  # an untrained output mid-range, not clamped to 0
    return model


def test_channel_stats_match_numpy():
    """Reference: numpy's mean and population std over the spatial axes (+ eps in the variance)."""
    x = torch.randn(2, 3, 5, 7, dtype=torch.float64)
    mean, std = channel_stats(x, eps=1e-5)
    ref = x.numpy()
    np.testing.assert_allclose(mean[..., 0, 0].numpy(), ref.mean(axis=(2, 3)), rtol=1e-12)
    np.testing.assert_allclose(std[..., 0, 0].numpy(), np.sqrt(ref.var(axis=(2, 3)) + 1e-5), rtol=1e-12)


def test_adain_gives_the_content_the_style_statistics():
    """Reference: eq. 8 of the paper. The output's per-channel mean equals the style's and its
    std equals the style's (up to eps, which scales it by sqrt((var_c) / (var_c + eps)))."""
    torch.manual_seed(1)
    content = torch.randn(2, 4, 6, 9, dtype=torch.float64) * 3 + 1
    style = torch.randn(2, 4, 5, 5, dtype=torch.float64) * torch.tensor([0.5, 2, 4, 8]).view(1, 4, 1, 1) - 2
    out = adain(content, style, eps=0.0)
    (m_out, s_out), (m_s, s_s) = channel_stats(out, eps=0.0), channel_stats(style, eps=0.0)
    torch.testing.assert_close(m_out, m_s)
    torch.testing.assert_close(s_out, s_s)
    # the normalised content is kept: AdaIN is an affine map of each channel
    flat_c, flat_o = content.flatten(2), out.flatten(2)
    corr = [torch.corrcoef(torch.stack([flat_c[b, c], flat_o[b, c]]))[0, 1] for b in range(2) for c in range(4)]
    assert min(corr) > 1 - 1e-9


def test_adain_gradcheck():
    content = torch.randn(1, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    style = torch.randn(1, 2, 4, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(adain, (content, style))
    mask = torch.rand(1, 1, 3, 3, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda c, s: masked_adain(c, s, mask), (content, style))


def test_masked_adain_takes_the_content_statistics_inside_the_mask():
    torch.manual_seed(2)
    content, style = torch.randn(1, 3, 4, 6), torch.randn(1, 3, 5, 5) * 2 + 1
    mask = torch.zeros(1, 1, 4, 6)
    mask[..., :3] = 1
    out = masked_adain(content, style, mask, eps=0.0)
    m, s = channel_stats(out[..., :3], eps=0.0)
    ms, ss = channel_stats(style, eps=0.0)
    torch.testing.assert_close(m, ms, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(s, ss, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(masked_adain(content, style, torch.ones(1, 1, 4, 6)), adain(content, style))


def test_parameter_counts():
    """Huang's decoder has 3,505,219 parameters (the paper's 3.5 M); width 0.5 about a third."""
    assert count_parameters("adain", {"width": 1.0}) == 3_505_219
    assert count_parameters("adain", {"width": 0.5}) == 1_172_003


def test_decoder_shapes_and_any_size(net):
    with torch.no_grad():
        assert net.decode(torch.rand(2, 512, 3, 5)).shape == (2, 3, 24, 40)
        for h, w in [(16, 16), (17, 23), (33, 40)]:
            out = net(torch.rand(1, 3, h, w), torch.rand(1, 3, 19, 21))
            assert out.shape == (1, 3, h, w) and 0 <= float(out.min()) and float(out.max()) <= 1
        feats = net.encode(torch.rand(1, 3, 24, 32), STYLE_TAPS)
        assert [tuple(f.shape[1:]) for f in feats.values()] == [(64, 24, 32), (128, 12, 16), (256, 6, 8), (512, 3, 4)]


def test_alpha_zero_decodes_the_content_features(net):
    torch.manual_seed(3)
    content, style = torch.rand(1, 3, 21, 27), torch.rand(1, 3, 24, 24)
    with torch.no_grad():
        own = net.decode(net.encode(pad_to_multiple(content))[CONTENT_TAP])[..., :21, :27].clamp(0, 1)
        torch.testing.assert_close(net(content, style, alpha=0.0), own)
        assert not torch.allclose(net(content, style, alpha=1.0), own)


def test_the_encoder_is_not_saved_and_a_round_trip_is_exact(net, tmp_path):
    keys = list(net.state_dict())
    assert keys and all(k.startswith("decoder.") for k in keys)
    save_model(net, tmp_path)
    from safetensors.torch import load_file

    assert set(load_file(str(tmp_path / WEIGHTS_FILE))) == set(keys)
    loaded = load_model(tmp_path)
    x, s = torch.rand(1, 3, 16, 24), torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x, s, alpha=0.7), net(x, s, alpha=0.7), rtol=0, atol=0)


def test_determinism():
    torch.manual_seed(5)
    a = build_model("adain", TINY)
    torch.manual_seed(5)
    b = build_model("adain", TINY)
    x, s = torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(a(x, s), b(x, s)) and torch.equal(a(x, s), a(x, s))


def test_errors(net):
    with pytest.raises(InvalidArgument, match="width"):
        build_model("adain", {"width": 4.0})
    for alpha in (-0.1, 1.5):
        with pytest.raises(InvalidArgument, match=r"alpha must be in \[0, 1\]"):
            net(torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16), alpha=alpha)
    with pytest.raises(InvalidImage, match="sides >= 16"):
        net.encode(torch.rand(1, 3, 8, 32))
    with pytest.raises(InvalidArgument, match="512"):
        net.decode(torch.rand(1, 256, 2, 2))
    with pytest.raises(InvalidArgument, match="as many channels"):
        adain(torch.rand(1, 3, 2, 2), torch.rand(1, 4, 2, 2))
    assert issubclass(InvalidImage, AtelierError)
