"""``shapes``: a procedural dataset atelier draws itself, with labels and captions.

Each image is one filled shape (circle, square or triangle) of one of three sizes, in one of
eight named colours, centred in one cell of a 3 x 3 grid, on a plain background of another
colour of the palette (never the shape's). Image ``i`` is a pure function of ``(seed, i)``
(``numpy.random.default_rng([seed, i])``), so any item can be regenerated anywhere, at any
resolution. Shapes are drawn at 4x the output resolution and reduced with ``INTER_AREA``
(anti-aliased edges).

Geometry, in fractions of the image side ``s``: the cell of row ``r`` and column ``c`` is
centred at ``((2c + 1) s / 6, (2r + 1) s / 6)``; the half-extent ``h`` is 0.07 s (small),
0.11 s (medium) or 0.15 s (large), always < s / 6 so a shape stays inside its cell. A circle
has radius ``h``; a square has side ``2h``; a triangle points up, apex ``h`` above the centre
and base ``h`` below it, ``2h`` wide.

Each item has integer attributes (``attributes(i)``: shape, color, size, position,
background), a label (the ``label_attribute``, shape by default) and an English caption
(``caption(i)``: "a small red circle at the top left on a blue background").

Example
-------
>>> ds = ShapesDataset(size=64, length=100, seed=0)
>>> image, label = ds[3]
>>> tuple(image.shape), ds.class_names[label] == ds.names(3)["shape"]
((3, 64, 64), True)
>>> ds.caption(3) == ShapesDataset(size=16, length=100, seed=0).caption(3)
True
"""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from atelier.data.registry import ImageDataset, Split, register_dataset
from atelier.errors import InvalidArgument

__all__ = [
    "ATTRIBUTES",
    "COLORS",
    "POSITIONS",
    "SHAPES",
    "SIZES",
    "ShapesDataset",
    "shape_attributes",
    "shape_caption",
    "render_shape",
    "render_shapes",
]

SHAPES = ("circle", "square", "triangle")
SIZES = ("small", "medium", "large")
#: Named palette, RGB uint8.
COLORS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (30, 160, 50),
    "blue": (30, 70, 220),
    "yellow": (240, 210, 30),
    "purple": (140, 50, 170),
    "orange": (245, 130, 20),
    "white": (255, 255, 255),
    "black": (0, 0, 0),
}
#: Grid cells in reading order; index = 3 * row + column.
POSITIONS = (
    "top left", "top", "top right",
    "left", "center", "right",
    "bottom left", "bottom", "bottom right",
)  # fmt: skip
_PHRASES = {
    "top left": "at the top left",
    "top": "at the top",
    "top right": "at the top right",
    "left": "on the left",
    "center": "in the center",
    "right": "on the right",
    "bottom left": "at the bottom left",
    "bottom": "at the bottom",
    "bottom right": "at the bottom right",
}
_COLOR_NAMES = tuple(COLORS)
#: Every attribute and the names of its values (an attribute's value indexes this tuple).
ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "shape": SHAPES,
    "color": _COLOR_NAMES,
    "size": SIZES,
    "position": POSITIONS,
    "background": _COLOR_NAMES,
}
_HALF_EXTENT = (0.07, 0.11, 0.15)  # fraction of the side, per size; < 1/6
_SUPERSAMPLE = 4
_SHIFT = 4  # OpenCV fixed-point fractional bits for sub-pixel drawing


def shape_attributes(seed: int, index: int) -> dict[str, int]:
    """The attributes of image ``index`` for ``seed``: a pure function of the two.

    Example
    -------
    >>> sorted(shape_attributes(0, 0))
    ['background', 'color', 'position', 'shape', 'size']
    """
    rng = np.random.default_rng([seed, index])
    shape = int(rng.integers(len(SHAPES)))
    color = int(rng.integers(len(COLORS)))
    background = int(rng.integers(len(COLORS) - 1))
    background += background >= color  # any colour but the shape's
    size = int(rng.integers(len(SIZES)))
    position = int(rng.integers(len(POSITIONS)))
    return {
        "shape": shape,
        "color": color,
        "size": size,
        "position": position,
        "background": background,
    }


def shape_caption(attributes: dict[str, int]) -> str:
    """English caption, e.g. "a small red circle at the top left on a blue background"."""
    a = {k: ATTRIBUTES[k][v] for k, v in attributes.items()}
    return (
        f"a {a['size']} {a['color']} {a['shape']} {_PHRASES[a['position']]} "
        f"on a {a['background']} background"
    )


def render_shape(attributes: dict[str, int], size: int) -> np.ndarray:
    """Draw the image described by ``attributes``: ``size x size x 3`` RGB uint8.

    Example
    -------
    >>> a = dict(shape=1, color=0, size=2, position=4, background=2)
    >>> img = render_shape(a, 48)
    >>> img[24, 24].tolist(), img[0, 0].tolist()
    ([220, 30, 30], [30, 70, 220])
    """
    return render_shapes([attributes], attributes["background"], size)


def render_shapes(objects: Sequence[dict[str, int]], background: int, size: int) -> np.ndarray:
    """Draw several shapes (each in its own grid cell) on one background: ``size x size x 3``
    RGB uint8.

    ``objects`` hold integer ``shape``, ``color``, ``size`` and ``position`` (as in
    ``shape_attributes``); ``background`` indexes ``COLORS``. Shapes in distinct cells never
    overlap (a shape stays inside its cell).

    Example
    -------
    >>> img = render_shapes([dict(shape=0, color=0, size=1, position=0),
    ...                      dict(shape=1, color=2, size=2, position=8)], 6, 48)
    >>> img[8, 8].tolist(), img[40, 40].tolist(), img[24, 24].tolist()
    ([220, 30, 30], [30, 70, 220], [255, 255, 255])
    """
    s = _SUPERSAMPLE
    big = size * s
    canvas = np.empty((big, big, 3), np.uint8)
    canvas[:] = COLORS[_COLOR_NAMES[background]]

    def fixed(x: float, y: float) -> tuple[int, int]:
        # output coordinate x (pixel k covers [k, k+1)) -> canvas pixel-centre coordinate
        return round((x * s - 0.5) * (1 << _SHIFT)), round((y * s - 0.5) * (1 << _SHIFT))

    for attributes in objects:
        color = COLORS[_COLOR_NAMES[attributes["color"]]]
        row, col = divmod(attributes["position"], 3)
        cx, cy = size * (2 * col + 1) / 6, size * (2 * row + 1) / 6
        h = _HALF_EXTENT[attributes["size"]] * size
        kind = SHAPES[attributes["shape"]]
        if kind == "circle":
            radius = round(h * s * (1 << _SHIFT))
            cv2.circle(canvas, fixed(cx, cy), radius, color, -1, cv2.LINE_8, _SHIFT)
        else:
            if kind == "square":
                corners = [(cx - h, cy - h), (cx + h, cy - h), (cx + h, cy + h), (cx - h, cy + h)]
            else:
                corners = [(cx, cy - h), (cx + h, cy + h), (cx - h, cy + h)]
            points = np.array([fixed(x, y) for x, y in corners], np.int32)
            cv2.fillPoly(canvas, [points], color, cv2.LINE_8, _SHIFT)
    return cv2.resize(canvas, (size, size), interpolation=cv2.INTER_AREA)


@register_dataset("shapes")
class ShapesDataset(ImageDataset):
    """Procedural coloured circles, squares and triangles with attribute labels and captions.

    Parameters
    ----------
    size : int
        Output side (>= 8), any resolution.
    channels : {1, 3}
        3 (default) or 1 (BT.601 grey).
    split : optional
        Part of ``range(length)``; see ``atelier.data.resolve_split``.
    seed : int
        Non-negative; image ``i`` depends only on ``(seed, i)``.
    labels : bool
        Yield the ``label_attribute`` value (default) or -1.
    length : int
        Number of images (default 10,000).
    label_attribute : {"shape", "color", "size", "position", "background"}
        The attribute used as label; ``class_names`` are its value names.

    Items are ``(tensor (channels, size, size) float32 in [0, 1], label or -1)``.
    """

    def __init__(
        self,
        *,
        size: int,
        channels: int | None = None,
        split: Split = None,
        seed: int = 0,
        labels: bool = True,
        length: int = 10_000,
        label_attribute: str = "shape",
    ) -> None:
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise InvalidArgument(f"seed must be a non-negative integer, got {seed!r}")
        if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 1:
            raise InvalidArgument(f"length must be a positive integer, got {length!r}")
        if label_attribute not in ATTRIBUTES:
            raise InvalidArgument(
                f"label_attribute must be one of {', '.join(ATTRIBUTES)}; got {label_attribute!r}"
            )
        self.seed = int(seed)
        self.length = int(length)
        self.label_attribute = label_attribute
        super().__init__(
            length=self.length,
            size=size,
            channels=channels,
            native_channels=3,
            split=split,
            labels=labels,
            class_names=ATTRIBUTES[label_attribute],
        )

    def attributes(self, i: int) -> dict[str, int]:
        """Integer attributes of item ``i``: shape, color, size, position, background."""
        return shape_attributes(self.seed, self.raw_index(i))

    def names(self, i: int) -> dict[str, str]:
        """Attributes of item ``i`` as names, e.g. ``{"shape": "circle", "color": "red", ...}``."""
        return {k: ATTRIBUTES[k][v] for k, v in self.attributes(i).items()}

    def caption(self, i: int) -> str:
        """English caption of item ``i``."""
        return shape_caption(self.attributes(i))

    def _load(self, j: int) -> tuple[np.ndarray, int]:
        attributes = shape_attributes(self.seed, j)
        return render_shape(attributes, self.size), attributes[self.label_attribute]
