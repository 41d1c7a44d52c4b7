"""EfficientNet-Lite0: shapes, frozen state, ImageNet weights verified on a bundled photo."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from atelier.errors import InvalidArgument, InvalidImage
from atelier.nets import EfficientNetLite0


@pytest.fixture(scope="module")
def net() -> EfficientNetLite0:
    return EfficientNetLite0()


def _photo(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255


def test_parameter_count(net):
    """4,652,008 parameters: EfficientNet-Lite0 as listed in d-li14/efficientnet-lite.pytorch
    (README, "4.652M") and counted for the TF-Lite model (1000-class head included)."""
    assert sum(p.numel() for p in net.parameters()) == 4_652_008


def test_shapes_and_grey(net):
    x = torch.rand(2, 3, 48, 64)
    feats, logits = net(x, logits=True)
    assert feats.shape == (2, 1280) and logits.shape == (2, 1000)
    assert torch.equal(net(x), feats)
    grey = torch.rand(1, 1, 40, 40)
    assert torch.allclose(net(grey), net(grey.expand(-1, 3, -1, -1)), atol=1e-6)


def test_frozen(net):
    net.train()
    assert not net.training and not net.net.training
    assert not any(p.requires_grad for p in net.parameters())


def test_classifies_chelsea_as_a_cat(net):
    """skimage.data.chelsea() is a tabby cat; ImageNet classes 281-285 are the domestic cats
    (tabby, tiger cat, Persian, Siamese, Egyptian cat). With the shipped weights the top-1
    class is one of them and the cat classes together get most of the probability; random
    weights would give ~0.5% to five classes."""
    from skimage import data

    _, logits = net(_photo(data.chelsea()), logits=True)
    probs = logits.softmax(1)[0]
    assert 281 <= int(probs.argmax()) <= 285
    assert float(probs[281:286].sum()) > 0.5
    _, logits = net(_photo(data.coffee()), logits=True)  # a cup of coffee: not a cat
    assert not 281 <= int(logits.argmax()) <= 285


def test_bad_input(net):
    with pytest.raises(InvalidImage, match="channels"):
        net(torch.rand(1, 4, 32, 32))
    with pytest.raises(InvalidImage, match=r"\(B, C, H, W\)"):
        net(torch.rand(3, 32, 32))


def test_bad_weights_file(tmp_path):
    with pytest.raises(InvalidArgument, match="not found"):
        EfficientNetLite0(tmp_path / "missing.pth")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(InvalidArgument, match="weights_only"):
        EfficientNetLite0(junk)
    wrong = tmp_path / "wrong.pth"
    torch.save({"fc.weight": torch.zeros(2, 2)}, wrong)
    with pytest.raises(InvalidArgument, match="does not match"):
        EfficientNetLite0(wrong)
