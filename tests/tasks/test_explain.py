"""Class-activation maps: CAM identity for a GAP + linear head, Grad-CAM against a hook-based
reference on the small CNN, the overlay, class names."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from atelier.errors import InvalidArgument
from atelier.models import build_model
from atelier.tasks.explain import (
    cam,
    class_activation_map,
    explain_image,
    grad_cam,
    heatmap_overlay,
)

BACKBONE = {"backbone": "efficientnet-lite0", "pretrained": False, "resolution": 64, "channels": 3,
            "num_classes": 4, "class_names": ["a", "b", "c", "d"]}


@pytest.fixture(scope="module")
def tl_model():
    torch.manual_seed(0)
    model = build_model("classifier", BACKBONE).eval()
    torch.nn.init.normal_(model.head.bias)  # a non-zero bias, so the identity tests it
    return model


def test_cam_mean_is_the_logit_minus_the_bias(tl_model):
    """Zhou et al. 2016, section 2: with a GAP + linear head, logit_c = sum_k w_k^c mean_xy f_k
    + b_c = mean_xy CAM_c + b_c (eval mode: no dropout)."""
    x = torch.rand(3, 3, 64, 64)
    with torch.no_grad():
        logits = tl_model(x)
    for c in range(4):
        maps = cam(tl_model, x, c)
        assert maps.shape == (3, 2, 2)
        assert torch.allclose(maps.mean(dim=(1, 2)), logits[:, c] - tl_model.head.bias[c], atol=1e-4)


def test_grad_cam_matches_hooks_on_the_small_cnn():
    """Grad-CAM (Selvaraju et al. 2017, eq. 1-2) computed independently: a forward hook on the
    last conv block's ReLU keeps its activation A, the full forward's logit is back-propagated
    to A, alpha_k = mean(dlogit/dA_k), map = ReLU(sum_k alpha_k A_k)."""
    torch.manual_seed(0)
    model = build_model("classifier", {"resolution": 32, "width": 8, "num_classes": 5}).eval()
    x = torch.rand(2, 1, 32, 32)
    kept = {}
    handle = model.body[2][5].register_forward_hook(lambda m, i, o: kept.update(a=o))
    try:
        logits = model(x)
        act = kept["a"]
        grad = torch.autograd.grad(logits[:, 3].sum(), act)[0]
    finally:
        handle.remove()
    ref = torch.relu((grad.mean(dim=(2, 3), keepdim=True) * act).sum(1)).detach()
    ours = grad_cam(model, x, 3)
    assert ours.shape == (2, 8, 8) and torch.allclose(ours, ref, atol=1e-6)
    assert class_activation_map(model, x, 3)[1] == "Grad-CAM"
    with pytest.raises(InvalidArgument, match="grad_cam"):
        cam(model, x, 3)


def test_explain_image_covers_the_image_and_names_the_class(tl_model):
    rng = np.random.default_rng(0)
    image = (rng.random((48, 80, 3)) * 255).astype(np.uint8)
    overlay, info = explain_image(image, tl_model)
    assert overlay.shape == (48, 80, 3) and overlay.dtype == np.uint8
    assert info["method"] == "CAM" and info["class"] == info["predicted"]
    overlay, info = explain_image(image, tl_model, class_name="c", alpha=1.0)
    assert info["class"] == "c" and 0 < info["probability"] < 1
    assert np.array(info["map"]).shape == (2, 2)
    side = (80 - 48) // 2
    # outside the central square the model did not see: the image dimmed to half, no heat
    assert np.abs(overlay[:, :side].astype(int) - (image[:, :side] * 0.5 + 0.5).astype(int)).max() <= 1
    with pytest.raises(InvalidArgument, match="unknown class 'zebra'.*a, b, c, d"):
        explain_image(image, tl_model, class_name="zebra")


def test_overlay_puts_the_hot_end_where_the_map_is_high():
    heat = np.array([[0.0, 0.0], [0.0, 1.0]], np.float32)  # hot bottom-right
    grey = np.full((40, 40), 128, np.uint8)
    out = heatmap_overlay(grey, heat, alpha=1.0)
    assert out.shape == (40, 40, 3)
    # OpenCV's JET: dark red (128, 0, 0) at the top of the scale, dark blue (0, 0, 128) at the bottom
    assert abs(int(out[-1, -1, 0]) - 128) <= 2 and out[-1, -1, 1:].max() <= 2
    assert abs(int(out[0, 0, 2]) - 128) <= 2 and out[0, 0, :2].max() <= 2
    assert np.array_equal(heatmap_overlay(grey, heat, alpha=0.0), np.repeat(grey[..., None], 3, 2))
    with pytest.raises(InvalidArgument, match="alpha"):
        heatmap_overlay(grey, heat, alpha=1.5)
