"""Where a classifier looked: class-activation maps (CAM) and Grad-CAM, drawn over the image.

For a network whose head is global average pooling + one linear layer (a classifier on a
pretrained backbone), the class-activation map of class ``c`` is exact (Zhou et al. 2016):

    CAM_c(x, y) = sum_k w_k^c f_k(x, y)

over the last convolutional feature map ``f`` and the head's weights ``w^c``; its spatial
mean is the class logit minus the head's bias. Where the head is not of that form (the small
CNN pools to 2 x 2 and has a hidden layer) the map is Grad-CAM (Selvaraju et al. 2017):
``ReLU(sum_k a_k^c f_k)`` with ``a_k^c`` the spatial mean of ``d logit_c / d f_k``.

:func:`explain_image` runs the model on the image as :func:`atelier.tasks.classify.prepare`
makes it (the central square at the model's resolution), scales the map to [0, 1], upsamples
it (bilinear) over that square in the image's own pixels and blends a JET heat map onto it;
the parts of the image outside the square, which the model did not see, are dimmed.

Example
-------
>>> import numpy as np
>>> from atelier.models import build_model
>>> model = build_model("classifier", {"resolution": 16, "width": 8, "num_classes": 3}).eval()
>>> overlay, info = explain_image(np.zeros((24, 30, 3), np.uint8), model)
>>> overlay.shape, overlay.dtype, info["method"]
((24, 30, 3), dtype('uint8'), 'Grad-CAM')

References
----------
B. Zhou, A. Khosla, A. Lapedriza, A. Oliva and A. Torralba, "Learning Deep Features for
Discriminative Localization", CVPR 2016. R. R. Selvaraju et al., "Grad-CAM: Visual
Explanations from Deep Networks via Gradient-based Localization", ICCV 2017.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from atelier.errors import InvalidArgument

__all__ = ["cam", "class_activation_map", "explain_image", "grad_cam", "heatmap_overlay", "resolve_class"]


def cam(model: torch.nn.Module, images: torch.Tensor, target: int) -> torch.Tensor:
    """CAM of class ``target``: ``(B, h, w)`` = head weights of ``target`` . ``feature_map``.

    Valid for a GAP + linear head (``model.gap_linear``); its mean over ``(h, w)`` is the
    logit of ``target`` minus the head's bias (eval mode: no dropout).
    """
    if not getattr(model, "gap_linear", False):
        raise InvalidArgument("CAM needs a global-average-pooling + linear head; use grad_cam")
    with torch.no_grad():
        fmap = model.feature_map(images)
        return torch.einsum("k,bkhw->bhw", model.head.weight[target].to(fmap.dtype), fmap)


def grad_cam(model: torch.nn.Module, images: torch.Tensor, target: int) -> torch.Tensor:
    """Grad-CAM of class ``target``: ``(B, h, w)`` = ReLU(sum_k mean(d logit / d f_k) f_k)."""
    with torch.no_grad():
        fmap = model.feature_map(images)
    fmap = fmap.detach().requires_grad_(True)
    with torch.enable_grad():
        logits = model.logits_from_map(fmap)
        (grad,) = torch.autograd.grad(logits[:, target].sum(), fmap)
    weights = grad.mean(dim=(2, 3), keepdim=True)
    return torch.relu((weights * fmap.detach()).sum(dim=1))


def class_activation_map(model: torch.nn.Module, images: torch.Tensor, target: int) -> tuple[torch.Tensor, str]:
    """``(map (B, h, w), method)``: CAM where the head allows it, else Grad-CAM."""
    if getattr(model, "gap_linear", False):
        return cam(model, images, target), "CAM"
    return grad_cam(model, images, target), "Grad-CAM"


def heatmap_overlay(image: np.ndarray, heat: np.ndarray, *, alpha: float = 0.5,
                    box: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """Blend a JET heat map of ``heat`` (``h x w``, any range: scaled to [0, 1]) onto ``image``.

    The map is upsampled (bilinear) to ``box = (top, left, height, width)`` of the image
    (default: all of it); outside the box the image is dimmed to half. Returns ``H x W x 3``
    uint8 RGB.
    """
    import cv2

    from atelier.arrays import check_image, to_uint8
    from atelier.data.transforms import to_channels
    from atelier.image import composite_alpha

    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0.0 <= alpha <= 1.0:
        raise InvalidArgument(f"alpha must be a number in [0, 1], got {alpha!r}")
    rgb = to_channels(to_uint8(composite_alpha(check_image(image))), 3).astype(np.float32)
    top, left, h, w = box if box is not None else (0, 0, *rgb.shape[:2])
    heat = np.asarray(heat, np.float32)
    span = float(heat.max() - heat.min())
    unit = (heat - heat.min()) / span if span > 0 else np.zeros_like(heat)
    unit = cv2.resize(unit, (w, h), interpolation=cv2.INTER_LINEAR)
    colour = cv2.applyColorMap((np.clip(unit, 0, 1) * 255).astype(np.uint8), cv2.COLORMAP_JET)[..., ::-1]
    out = rgb * 0.5
    region = rgb[top:top + h, left:left + w]
    out[top:top + h, left:left + w] = region * (1 - alpha) + colour.astype(np.float32) * alpha
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def resolve_class(model: torch.nn.Module, name: str | None, probs: torch.Tensor) -> int:
    """The index of class ``name`` (None: the most probable in ``probs``); ``InvalidArgument``
    naming the model's classes for a name it does not have."""
    from atelier.tasks.classify import class_names

    names = class_names(model)
    if name is None or name == "":
        return int(probs.argmax())
    if name not in names:
        shown = ", ".join(names[:20]) + (f", ... ({len(names)} in all)" if len(names) > 20 else "")
        raise InvalidArgument(f"unknown class {name!r}; the model's classes: {shown}")
    return names.index(name)


def explain_image(image: np.ndarray, model: torch.nn.Module, *, class_name: str | None = None,
                  alpha: float = 0.5, device: str = "cpu") -> tuple[np.ndarray, dict[str, Any]]:
    """The class-activation map of ``class_name`` (default: the predicted class) over ``image``.

    Returns ``(overlay H x W x 3 uint8, info)`` with ``info`` = ``class``, ``probability`` (of
    that class), ``predicted`` and its ``predicted_probability``, ``method`` (``CAM`` or
    ``Grad-CAM``) and ``map`` (the raw map as nested lists, ``h x w``).
    """
    from atelier.arrays import check_image
    from atelier.tasks.classify import class_names, prepare

    image = check_image(image)
    model = model.to(device).eval()
    x = prepare(image, model)[None].to(device)
    with torch.no_grad():
        probs = model(x).float().softmax(dim=1)[0].cpu()
    target = resolve_class(model, class_name, probs)
    heat, method = class_activation_map(model, x, target)
    heat = heat[0].float().cpu().numpy()
    h, w = image.shape[:2]
    side = min(h, w)
    overlay = heatmap_overlay(image, heat, alpha=alpha, box=((h - side) // 2, (w - side) // 2, side, side))
    names = class_names(model)
    best = int(probs.argmax())
    info = {
        "class": names[target], "probability": float(probs[target]),
        "predicted": names[best], "predicted_probability": float(probs[best]),
        "method": method, "map": heat.round(5).tolist(),
    }
    return overlay, info
