"""Classic edits on numpy images: colour, filters, geometry, compositing, inpainting, texture
(and procedural noise, :func:`noise_image`, drawn from a seed alone).

Every op is a plain function (numpy in, numpy out, dtype preserved) registered by name, so the
command line and pipelines can find it: ``get_op("equalize")``, ``list_ops()``.

Example
-------
>>> import numpy as np
>>> from atelier import ops
>>> ops.apply_pipeline(np.zeros((8, 8, 3), np.uint8), "flip axis=vertical").shape
(8, 8, 3)
"""

from atelier.ops import (  # noqa: F401  (registers the ops)
    color,
    color_spaces,
    composite,
    filters,
    geometry,
    histogram,
    inpaint,
    noise,
    texture,
)
from atelier.ops.color import *  # noqa: F401,F403
from atelier.ops.color_spaces import *  # noqa: F401,F403
from atelier.ops.composite import *  # noqa: F401,F403
from atelier.ops.filters import *  # noqa: F401,F403
from atelier.ops.geometry import *  # noqa: F401,F403
from atelier.ops.histogram import *  # noqa: F401,F403
from atelier.ops.inpaint import *  # noqa: F401,F403
from atelier.ops.noise import *  # noqa: F401,F403
from atelier.ops.texture import *  # noqa: F401,F403
from atelier.ops.pipeline import Pipeline, Stage, apply_pipeline
from atelier.ops.registry import OpSpec, ParamSpec, Range, get_op, list_ops, register
