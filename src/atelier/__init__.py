"""atelier: deep-learning image generation and editing — train, sample, edit, measure, offline.

The public API, flat. Classic edits live in ``atelier.ops`` (one function per op, also
reachable by name through ``get_op``); fidelity metrics in ``atelier.metrics``.

Example
-------
>>> import numpy as np, atelier
>>> img = np.zeros((32, 32, 3), np.uint8)
>>> atelier.apply_pipeline(img, "pad top=2 bottom=2 | flip").shape
(36, 32, 3)
>>> atelier.psnr(img, img)
inf
"""

from atelier import ops
from atelier.errors import (
    AtelierError,
    CannotWrite,
    ImageTooLarge,
    InvalidArgument,
    InvalidImage,
    OutputExists,
    UnknownName,
    UnsupportedFormat,
)
from atelier.image import (
    from_tensor,
    image_info,
    load_image,
    save_image,
    to_tensor,
)
from atelier.metrics import ms_ssim, mse, psnr, ssim
from atelier.ops import Pipeline, apply_pipeline, get_op, list_ops

__version__ = "0.1.0"

__all__ = [
    "AtelierError",
    "CannotWrite",
    "ImageTooLarge",
    "InvalidArgument",
    "InvalidImage",
    "OutputExists",
    "Pipeline",
    "UnknownName",
    "UnsupportedFormat",
    "__version__",
    "apply_pipeline",
    "from_tensor",
    "get_op",
    "image_info",
    "list_ops",
    "load_image",
    "ms_ssim",
    "mse",
    "ops",
    "psnr",
    "save_image",
    "ssim",
    "to_tensor",
]
