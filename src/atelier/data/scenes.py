"""``scenes``: procedural multi-object scenes with captions and a compositional split.

Each image holds 1 to 3 shapes of ``shapes`` (circle, square, triangle; small, medium,
large; eight colours), each in its own cell of the 3 x 3 grid (so they never overlap), on a
plain background whose colour differs from every shape's. Image ``i`` is a pure function of
``(seed, i)``; it is drawn by ``atelier.data.shapes.render_shapes`` at any resolution.

Caption grammar (``scene_caption``): the objects in reading order (row-major on the grid),
each ``"a SIZE COLOUR SHAPE POSITION"`` with the positions of ``shapes`` ("at the top left",
"on the left", "in the center", ...), joined as "A", "A and B" or "A, B and C", then
``" on a COLOUR background"``::

    a small red circle at the top left and a large blue square at the bottom right on a white background

``parse_scene_caption`` reads that grammar back (tolerantly, for generated captions) and
``scene_attribute_accuracy`` scores generated captions attribute by attribute.

Splits
------
Named attribute combinations are held out of training (``HELD_OUT``; the ``held_out``
option picks which):

- ``red-triangle``: a red triangle (shape x colour);
- ``large-bottom-row``: a large shape in the bottom row (size x position);
- ``blue-on-yellow``: a blue shape on a yellow background (colour x background).

Every part of the combination is seen in training (red shapes, triangles, large shapes, the
bottom row, blue shapes, yellow backgrounds), never the combination. ``split`` names a part:

- ``"compositional"``: the images holding at least one held-out combination;
- ``"train"``, ``"val"``, ``"test"``: the other images, divided by a hash of ``(seed, i)``
  (``test_fraction`` and ``val_fraction``, default 0.1 and 0.05; see
  ``atelier.data.captioned``): ``test`` is held-out images of seen combinations;
- ``"all"`` or None: every image; a numeric split (``(start, stop)``, ...) selects image ids.

With the three rules about 29 % of the images are ``compositional``. The parts are
disjoint, and ``length`` is the number of images of all parts together.

Example
-------
>>> ds = ScenesDataset(size=48, length=200, seed=0, split="train")
>>> item = ds[0]
>>> tuple(item.image.shape), item.text == scene_caption(ds.scene_objects(item.image_id))
((3, 48, 48), True)
>>> parse_scene_caption(item.text) == ds.scene_objects(item.image_id)
True
>>> scene_caption(Scene((SceneObject("circle", "red", "small", "top left"),
...                      SceneObject("square", "blue", "large", "bottom right")), "white"))
'a small red circle at the top left and a large blue square at the bottom right on a white background'
"""

from __future__ import annotations

import re
from typing import Callable, NamedTuple, Sequence

import numpy as np

from atelier.data.captioned import CaptionedDataset, _check_fractions, holdout_part
from atelier.data.registry import Split, register_dataset
from atelier.data.shapes import (
    ATTRIBUTES,
    COLORS,
    POSITIONS,
    SHAPES,
    SIZES,
    _PHRASES,
    ShapesDataset,
    render_shapes,
    shape_attributes,
    shape_caption,
)
from atelier.errors import InvalidArgument

__all__ = [
    "HELD_OUT",
    "Scene",
    "SceneObject",
    "ScenesDataset",
    "ShapesCaptionsDataset",
    "held_out_combinations",
    "make_scene",
    "match_scene_objects",
    "parse_scene_caption",
    "render_scene",
    "scene_attribute_accuracy",
    "scene_caption",
]

_COLOR_NAMES = tuple(COLORS)
#: The attributes of one object, in the order of ``SceneObject``.
OBJECT_ATTRIBUTES = ("shape", "color", "size", "position")


class SceneObject(NamedTuple):
    """One shape of a scene, by attribute names (None where a parsed caption lacks one)."""

    shape: str | None  #: circle, square or triangle
    color: str | None  #: a name of ``COLORS``
    size: str | None  #: small, medium or large
    position: str | None  #: a name of ``POSITIONS`` ("top left", ..., "bottom right")


class Scene(NamedTuple):
    """A scene: its objects in reading order and the background colour's name."""

    objects: tuple[SceneObject, ...]
    background: str | None


def _red_triangle(o: SceneObject, background: str | None) -> bool:
    return o.shape == "triangle" and o.color == "red"


def _large_bottom_row(o: SceneObject, background: str | None) -> bool:
    return o.size == "large" and (o.position or "").startswith("bottom")


def _blue_on_yellow(o: SceneObject, background: str | None) -> bool:
    return o.color == "blue" and background == "yellow"


#: Held-out attribute combinations: name -> (description, test on one object and background).
HELD_OUT: dict[str, tuple[str, Callable[[SceneObject, str | None], bool]]] = {
    "red-triangle": ("a red triangle (shape x colour)", _red_triangle),
    "large-bottom-row": ("a large shape in the bottom row (size x position)", _large_bottom_row),
    "blue-on-yellow": ("a blue shape on a yellow background (colour x background)", _blue_on_yellow),
}
_STREAM = 0x5CE7E5  # keeps the scene stream apart from shapes' default_rng([seed, i])


def held_out_combinations(scene: Scene, rules: Sequence[str] = tuple(HELD_OUT)) -> tuple[str, ...]:
    """The names of the ``rules`` (of ``HELD_OUT``) that some object of ``scene`` matches.

    Example
    -------
    >>> held_out_combinations(Scene((SceneObject("triangle", "red", "large", "bottom"),), "white"))
    ('red-triangle', 'large-bottom-row')
    """
    return tuple(
        name for name in rules if any(HELD_OUT[name][1](o, scene.background) for o in scene.objects)
    )


def make_scene(seed: int, index: int) -> Scene:
    """Scene ``index`` for ``seed``, a pure function of the two: 1-3 objects in distinct cells
    (reading order), each shape, colour and size uniform, and a background colour uniform
    among those no object has.

    Example
    -------
    >>> make_scene(0, 5) == make_scene(0, 5), 1 <= len(make_scene(0, 5).objects) <= 3
    (True, True)
    """
    rng = np.random.default_rng([int(seed), int(index), _STREAM])
    n = int(rng.integers(1, 4))
    cells = np.sort(rng.choice(len(POSITIONS), size=n, replace=False))
    objects = []
    for cell in cells:
        shape, color, size = (int(v) for v in rng.integers((3, len(COLORS), 3)))
        objects.append(SceneObject(SHAPES[shape], _COLOR_NAMES[color], SIZES[size], POSITIONS[cell]))
    free = [c for c in _COLOR_NAMES if c not in {o.color for o in objects}]
    return Scene(tuple(objects), free[int(rng.integers(len(free)))])


def scene_caption(scene: Scene) -> str:
    """The caption of ``scene`` (grammar in the module docstring); a one-object scene reads
    as its ``shapes`` caption.

    Example
    -------
    >>> scene_caption(Scene((SceneObject("circle", "red", "small", "top"),
    ...                      SceneObject("square", "green", "medium", "center"),
    ...                      SceneObject("triangle", "black", "large", "right")), "white"))
    'a small red circle at the top, a medium green square in the center and a large black triangle on the right on a white background'
    """
    phrases = [f"a {o.size} {o.color} {o.shape} {_PHRASES[o.position]}" for o in scene.objects]
    listed = phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " and " + phrases[-1]
    return f"{listed} on a {scene.background} background"


def _indices(scene: Scene) -> tuple[list[dict[str, int]], int]:
    objects = [
        {k: ATTRIBUTES[k].index(getattr(o, k)) for k in OBJECT_ATTRIBUTES} for o in scene.objects
    ]
    return objects, _COLOR_NAMES.index(scene.background)


def render_scene(scene: Scene, size: int) -> np.ndarray:
    """Draw ``scene``: ``size x size x 3`` RGB uint8 (``render_shapes``).

    Example
    -------
    >>> img = render_scene(Scene((SceneObject("square", "red", "large", "center"),), "black"), 30)
    >>> img[15, 15].tolist(), img[0, 0].tolist()
    ([220, 30, 30], [0, 0, 0])
    """
    objects, background = _indices(scene)
    return render_shapes(objects, background, size)


# --- reading captions back ----------------------------------------------------------------
_BACKGROUND = re.compile(r"\b(?:on|with|against) (?:an? |the )?([a-z]+) background\b")
_POSITION_RULES = (
    (re.compile(r"\b(top|bottom)[ -](left|right)\b"), lambda m: f"{m[1]} {m[2]}"),
    (re.compile(r"\b(top|bottom)\b"), lambda m: m[1]),
    (re.compile(r"\b(left|right)\b"), lambda m: m[1]),
    (re.compile(r"\b(center|centre|middle)\b"), lambda m: "center"),
)


def _find(words: list[str], names: Sequence[str]) -> str | None:
    return next((w for w in words if w in names), None)


def _parse_object(chunk: str) -> SceneObject | None:
    words = chunk.split()
    position = None
    for pattern, name in _POSITION_RULES:
        match = pattern.search(chunk)
        if match:
            position = name(match)
            break
    found = SceneObject(_find(words, SHAPES), _find(words, _COLOR_NAMES), _find(words, SIZES), position)
    return found if any(v is not None for v in found) else None


def parse_scene_caption(text: str) -> Scene | None:
    """Read a scene caption back into a ``Scene``: the inverse of ``scene_caption``.

    Tolerant, for generated captions: case and punctuation are ignored; objects are the
    pieces between ",", "and", the article "a"/"an" that opens each object (so a caption
    whose commas a tokenizer dropped still reads as its objects) and the background phrase
    ("on a COLOUR background"); in each,
    the first size, colour and shape word and a position ("top left", "top-left", "top",
    "left", "center"/"centre"/"middle", ...) are read, and an attribute not found is None. A
    piece with no attribute word is not an object. Anything after the background phrase is
    ignored. Returns None when the text names neither an object nor a background.

    Example
    -------
    >>> s = parse_scene_caption("A small red circle at the top-left and a blue square.")
    >>> s.objects[1], s.background
    (SceneObject(shape='square', color='blue', size=None, position=None), None)
    >>> parse_scene_caption("a cat on a sofa") is None
    True
    >>> len(parse_scene_caption("a red circle on the left a blue square at the top and a green triangle").objects)
    3
    """
    if not isinstance(text, str):
        raise InvalidArgument(f"a caption must be a string, got {type(text).__name__}")
    clean = " ".join(re.sub(r"[^a-z,\- ]", " ", text.lower()).split())
    background = None
    match = _BACKGROUND.search(clean)
    if match:
        background = match[1] if match[1] in COLORS else None
        clean = clean[: match.start()]
    objects = tuple(
        o for o in map(_parse_object, re.split(r",|\band\b|\ban?\b", clean)) if o is not None
    )
    if not objects and background is None:
        return None
    return Scene(objects, background)


def match_scene_objects(
    truth: Sequence[SceneObject], predicted: Sequence[SceneObject]
) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """Pair ground-truth and predicted objects: ``(pairs, missed, extra)`` as indices.

    First each ground-truth object is paired with the first unpaired predicted object in the
    same grid cell; then the objects left on both sides are paired in order (reading order
    for the truth, written order for the prediction). What is left then is ``missed``
    (ground truth) or ``extra`` (predicted).

    Example
    -------
    >>> t = [SceneObject("circle", "red", "small", "top"), SceneObject("square", "red", "small", "left")]
    >>> p = [SceneObject("square", "red", "small", "left"), SceneObject("circle", "red", "small", "right")]
    >>> match_scene_objects(t, p)
    ([(0, 1), (1, 0)], [], [])
    """
    pairs: list[tuple[int, int]] = []
    free_truth, free_pred = [], list(range(len(predicted)))
    for t, obj in enumerate(truth):
        same = [p for p in free_pred if predicted[p].position == obj.position]
        if same:
            pairs.append((t, same[0]))
            free_pred.remove(same[0])
        else:
            free_truth.append(t)
    k = min(len(free_truth), len(free_pred))
    pairs += list(zip(free_truth[:k], free_pred[:k]))
    return sorted(pairs), free_truth[k:], free_pred[k:]


def scene_attribute_accuracy(
    predicted_texts: Sequence[str], image_ids: Sequence[int], dataset
) -> dict[str, float]:
    """Per-attribute accuracy of generated captions against a dataset's scenes.

    Each caption is read with ``parse_scene_caption`` and its objects are paired with the
    true ones by ``match_scene_objects``. For shape, colour, size and position the accuracy
    is the number of pairs that agree on that attribute over the number of objects counted,
    ``max(true, predicted)`` per image: a missed or extra object is wrong on every attribute
    (a caption that does not parse: every object missed). Background is per image.

    Parameters
    ----------
    predicted_texts : sequence of str
        One generated caption per image.
    image_ids : sequence of int
        The image each caption describes.
    dataset
        Anything with ``scene_objects(image_id) -> Scene`` (``ScenesDataset``,
        ``ShapesCaptionsDataset``).

    Returns
    -------
    dict
        ``shape``, ``color``, ``size``, ``position``, ``background`` (fractions in [0, 1]);
        ``attributes`` (their mean); ``objects`` (fraction of captions with the right number
        of objects); ``exact`` (fraction whose parsed scene equals the truth); ``parsed``
        (fraction that parse); ``n`` (number of captions).

    Example
    -------
    >>> ds = ScenesDataset(size=16, length=20, split="all")
    >>> texts = [ds.captions(i)[0] for i in range(20)]
    >>> scene_attribute_accuracy(texts, range(20), ds)["attributes"]
    1.0
    >>> texts[0] = texts[0].replace("background", "")  # background not read
    >>> round(scene_attribute_accuracy(texts, range(20), ds)["background"], 2)
    0.95
    """
    image_ids = [int(i) for i in image_ids]
    if len(predicted_texts) != len(image_ids):
        raise InvalidArgument(
            f"{len(predicted_texts)} captions for {len(image_ids)} image ids; give one each"
        )
    if not image_ids:
        raise InvalidArgument("no captions to score")
    right = dict.fromkeys(OBJECT_ATTRIBUTES, 0)
    counted = background = count = exact = parsed = 0
    for text, image_id in zip(predicted_texts, image_ids):
        truth = dataset.scene_objects(image_id)
        guess = parse_scene_caption(text)
        if guess is None:
            counted += len(truth.objects)
            continue
        parsed += 1
        pairs, missed, extra = match_scene_objects(truth.objects, guess.objects)
        counted += len(pairs) + len(missed) + len(extra)
        for t, p in pairs:
            for name in OBJECT_ATTRIBUTES:
                right[name] += getattr(truth.objects[t], name) == getattr(guess.objects[p], name)
        background += guess.background == truth.background
        count += len(guess.objects) == len(truth.objects)
        exact += guess == truth
    n = len(image_ids)
    scores = {name: right[name] / counted for name in OBJECT_ATTRIBUTES}
    scores["background"] = background / n
    scores["attributes"] = float(np.mean(list(scores.values())))
    scores.update(objects=count / n, exact=exact / n, parsed=parsed / n, n=n)
    return scores


def _check_seed_length(seed: object, length: object) -> None:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InvalidArgument(f"seed must be a non-negative integer, got {seed!r}")
    if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 1:
        raise InvalidArgument(f"length must be a positive integer, got {length!r}")


@register_dataset("scenes")
class ScenesDataset(CaptionedDataset):
    """Procedural scenes of 1-3 shapes with captions and a compositional split.

    Parameters
    ----------
    size : int
        Output side (>= 8), any resolution.
    channels : {1, 3} or None
        3 (default) or 1 (BT.601 grey).
    split : str or numeric split
        ``train``, ``val``, ``test``, ``compositional``, ``all`` (see the module docstring),
        or image ids.
    seed : int
        Non-negative; image ``i`` depends only on ``(seed, i)``.
    labels : bool
        Label each image by its number of objects (classes "1 object", "2 objects",
        "3 objects"); -1 when False (default).
    length : int
        Number of images of all parts together (default 10,000).
    held_out : sequence of str
        Names of ``HELD_OUT`` rules kept out of train, val and test (default: all three;
        ``()`` makes ``compositional`` empty).
    test_fraction, val_fraction : float
        Shares of the other images in ``test`` and ``val`` (default 0.1 and 0.05).

    Items are ``CaptionedItem(image (channels, size, size), label, caption, image_id)``, one
    caption per image; ``scene_objects(image_id)`` is the ground truth.
    """

    parts = ("train", "val", "test", "compositional")

    def __init__(
        self,
        *,
        size: int,
        channels: int | None = None,
        split: Split | str = None,
        seed: int = 0,
        labels: bool = False,
        length: int = 10_000,
        held_out: Sequence[str] = tuple(HELD_OUT),
        test_fraction: float = 0.1,
        val_fraction: float = 0.05,
    ) -> None:
        _check_seed_length(seed, length)
        held_out = (held_out,) if isinstance(held_out, str) else tuple(held_out)
        unknown = [name for name in held_out if name not in HELD_OUT]
        if unknown:
            raise InvalidArgument(
                f"unknown held-out combination {unknown[0]!r}; known: {', '.join(HELD_OUT)}"
            )
        test_fraction, val_fraction = _check_fractions(test_fraction, val_fraction)
        super().__init__(
            size=size,
            channels=channels,
            labels=labels,
            class_names=("1 object", "2 objects", "3 objects"),
        )
        self.seed, self.length, self.held_out = int(seed), int(length), held_out
        self._scenes = [make_scene(self.seed, i) for i in range(self.length)]
        parts = [
            "compositional"
            if held_out_combinations(scene, held_out)
            else holdout_part(f"scenes/{self.seed}/{i}", test_fraction, val_fraction)
            for i, scene in enumerate(self._scenes)
        ]
        self._use_split(split, parts, np.ones(self.length, np.int64))

    def scene_objects(self, image_id: int) -> Scene:
        """The ground truth of image ``image_id``: its objects (reading order) and background."""
        return self._scenes[self._check_id(image_id)]

    def captions(self, image_id: int) -> list[str]:
        """The one caption of image ``image_id``."""
        return [scene_caption(self.scene_objects(image_id))]

    def _load(self, image_id: int) -> tuple[np.ndarray, int]:
        scene = self._scenes[image_id]
        return render_scene(scene, self.size), len(scene.objects) - 1


@register_dataset("shapes-captions")
class ShapesCaptionsDataset(CaptionedDataset):
    """The shapes dataset as (image, caption) pairs, with train/val/test parts.

    The images, labels and captions of ``ShapesDataset`` with the same ``seed`` and
    ``length``; a one-object scene, so ``scene_objects``, ``parse_scene_caption`` and
    ``scene_attribute_accuracy`` work as for ``scenes``. ``split``: ``train``, ``val``,
    ``test`` (a hash of ``(seed, i)``, ``test_fraction`` and ``val_fraction``), ``all``, or
    image ids. ``labels`` (default True) and ``label_attribute`` as for ``shapes``.

    Example
    -------
    >>> ds = ShapesCaptionsDataset(size=16, length=50, split="test")
    >>> item = ds[0]
    >>> item.text == ShapesDataset(size=16, length=50).caption(item.image_id)
    True
    """

    def __init__(
        self,
        *,
        size: int,
        channels: int | None = None,
        split: Split | str = None,
        seed: int = 0,
        labels: bool = True,
        length: int = 10_000,
        label_attribute: str = "shape",
        test_fraction: float = 0.1,
        val_fraction: float = 0.05,
    ) -> None:
        _check_seed_length(seed, length)
        test_fraction, val_fraction = _check_fractions(test_fraction, val_fraction)
        self._shapes = ShapesDataset(
            size=size, seed=seed, labels=labels, length=length, label_attribute=label_attribute
        )
        super().__init__(
            size=size, channels=channels, labels=labels, class_names=ATTRIBUTES[label_attribute]
        )
        self.seed, self.length, self.label_attribute = int(seed), int(length), label_attribute
        parts = [
            holdout_part(f"shapes/{self.seed}/{i}", test_fraction, val_fraction)
            for i in range(self.length)
        ]
        self._use_split(split, parts, np.ones(self.length, np.int64))

    def scene_objects(self, image_id: int) -> Scene:
        """Image ``image_id`` as a one-object ``Scene``."""
        a = shape_attributes(self.seed, self._check_id(image_id))
        obj = SceneObject(*(ATTRIBUTES[k][a[k]] for k in OBJECT_ATTRIBUTES))
        return Scene((obj,), ATTRIBUTES["background"][a["background"]])

    def captions(self, image_id: int) -> list[str]:
        """The one caption of image ``image_id`` (``shape_caption``)."""
        return [shape_caption(shape_attributes(self.seed, self._check_id(image_id)))]

    def _load(self, image_id: int) -> tuple[np.ndarray, int]:
        return self._shapes._load(image_id)
