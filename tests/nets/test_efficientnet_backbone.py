"""The trainable EfficientNet-Lite0 trunk: stages, parity with the frozen extractor, ImageNet weights."""

from __future__ import annotations

import pytest
import torch

from atelier.nets import EfficientNetLite0
from atelier.nets.efficientnet_backbone import STAGE_NAMES, EfficientNetLite0Backbone
from atelier.nets.efficientnet_lite0 import default_weights_path, load_state_dict_file


@pytest.fixture(scope="module")
def trunk() -> EfficientNetLite0Backbone:
    return EfficientNetLite0Backbone(image_size=224).eval()


def test_stages_and_shapes():
    net = EfficientNetLite0Backbone(pretrained=False, image_size=64)
    assert len(net.stages()) == len(STAGE_NAMES) == 18
    assert all(p.requires_grad for p in net.parameters())  # trainable, unlike the extractor
    named = {name.split(".weight")[0].rsplit(".", 1)[0] for name, _ in net.named_parameters()}
    assert any(n.startswith("blocks.15") for n in named) and any(n.startswith("stem") for n in named)
    assert net(torch.rand(2, 1, 64, 64)).shape == (2, 1280, 2, 2)  # grey repeated to RGB
    assert net(torch.rand(1, 3, 96, 128)).shape == (1, 1280, 3, 4)


def test_pooled_features_equal_the_frozen_extractor(trunk):
    """The trunk is the same network as atelier.nets.EfficientNetLite0 (which the metrics use
    and whose ImageNet weights its own tests check on a cat photo): at 224 px, where the
    extractor does not resize, the pooled features agree to float precision."""
    x = torch.rand(2, 3, 224, 224)
    with torch.no_grad():
        ours = trunk(x).mean(dim=(2, 3))
        ref = EfficientNetLite0()(x)
    assert torch.allclose(ours, ref, atol=1e-5)


def test_imagenet_weights_classify_a_cat(trunk):
    """skimage.data.chelsea() is a tabby cat: with the shipped weights and the package's own
    1000-class layer on the pooled trunk, the top-1 ImageNet class is a domestic cat (281-285)."""
    import numpy as np
    from skimage import data

    fc = load_state_dict_file(default_weights_path(), "EfficientNet-Lite0 weights")
    img = torch.from_numpy(np.ascontiguousarray(data.chelsea())).permute(2, 0, 1)[None].float() / 255
    img = torch.nn.functional.interpolate(img, size=(224, 224), mode="bilinear", antialias=True)
    with torch.no_grad():
        logits = trunk(img).mean(dim=(2, 3)) @ fc["_fc.weight"].T + fc["_fc.bias"]
    assert 281 <= int(logits.argmax()) <= 285


def test_drop_connect_only_in_training():
    """Stochastic depth draws in train mode (two passes on one batch differ, BatchNorm being
    deterministic for a fixed batch) and is off in eval mode."""
    torch.manual_seed(0)
    net = EfficientNetLite0Backbone(pretrained=False, image_size=32)
    x = torch.rand(4, 3, 32, 32)
    with torch.no_grad():
        net.train()
        assert not torch.equal(net(x), net(x))
        net.eval()
        assert torch.equal(net(x), net(x))
