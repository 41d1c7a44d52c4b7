"""Classify images with a trained classifier: the top-k class names and their probabilities.

A classifier run (``atelier train classifier``, small CNN or fine-tuned backbone) is loaded
from its folder (``model.json`` + ``model.safetensors``); its ``class_names`` name the classes
(a run whose model has none names them by index). Each image is prepared as the training
data was: alpha composited over white, the shorter side resized to the model's resolution,
the central square cropped (:func:`prepare`), converted to the model's channels (grey is
repeated to RGB, RGB converted to grey for a grey model).

Example
-------
>>> import numpy as np, tempfile
>>> from atelier.models import build_model, save_model
>>> folder = tempfile.mkdtemp()
>>> save_model(build_model("classifier", {"resolution": 16, "width": 8, "num_classes": 3,
...                                       "class_names": ["a", "b", "c"]}), folder)
>>> model = load_classifier(folder)
>>> top = classify_images([np.zeros((20, 30), np.uint8)], model, top=2)[0]
>>> len(top), {name for name, _ in top} <= {"a", "b", "c"}
(2, True)
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch

from atelier.errors import InvalidArgument

__all__ = ["BATCH", "class_names", "classify_images", "load_classifier", "prepare", "probabilities"]

#: Images per forward pass.
BATCH = 32


def load_classifier(source: str | os.PathLike, *, device: str = "cpu") -> torch.nn.Module:
    """The ``classifier`` model of a run folder (or a folder with its ``model.json``), in eval mode."""
    from atelier.models import load_model

    model = load_model(source, device=device)
    if getattr(model, "model_name", None) != "classifier":
        raise InvalidArgument(
            f"{source} holds a {getattr(model, 'model_name', type(model).__name__)} model, not a "
            "classifier; train one with `atelier train classifier --data FOLDER --out RUN`"
        )
    return model


def class_names(model: torch.nn.Module) -> list[str]:
    """The names of the model's classes: its ``class_names``, or ``"0"``, ``"1"``, ... without."""
    config = model.config
    return list(config.class_names) or [str(k) for k in range(config.num_classes)]


def prepare(image: np.ndarray, model: torch.nn.Module) -> torch.Tensor:
    """``H x W [x C]`` image (uint8, uint16 or float in [0, 1]) -> ``(C, R, R)`` float tensor in
    [0, 1], as the model's training data was made: alpha over white, shorter side to ``R``,
    central square, the model's channels."""
    from atelier.arrays import check_image
    from atelier.data.transforms import resize_crop, to_channels, to_tensor
    from atelier.image import composite_alpha

    image = composite_alpha(check_image(image))
    size, channels = model.config.resolution, model.config.channels
    return to_tensor(to_channels(resize_crop(image, size, "center"), channels))


def probabilities(images: Sequence[np.ndarray], model: torch.nn.Module, *, device: str = "cpu") -> torch.Tensor:
    """``(N, num_classes)`` softmax probabilities of ``images`` (batches of :data:`BATCH`)."""
    out = []
    model = model.to(device).eval()
    with torch.no_grad():
        for start in range(0, len(images), BATCH):
            batch = torch.stack([prepare(im, model) for im in images[start:start + BATCH]]).to(device)
            out.append(model(batch).float().softmax(dim=1).cpu())
    return torch.cat(out) if out else torch.empty(0, model.config.num_classes)


def classify_images(
    images: Sequence[np.ndarray], model: torch.nn.Module, *, top: int = 5, device: str = "cpu"
) -> list[list[tuple[str, float]]]:
    """For each image, the ``top`` most probable ``(class name, probability)`` pairs, most
    probable first (all classes when the model has fewer than ``top``)."""
    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise InvalidArgument(f"top must be an integer >= 1, got {top!r}")
    names = class_names(model)
    probs = probabilities(images, model, device=device)
    k = min(top, len(names))
    values, indices = probs.topk(k, dim=1)
    return [
        [(names[int(i)], float(v)) for v, i in zip(row_v, row_i)]
        for row_v, row_i in zip(values, indices)
    ]
