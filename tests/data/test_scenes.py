"""Procedural scenes: determinism, drawing, caption grammar, compositional split, scoring."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from atelier.data import (
    HELD_OUT,
    CaptionedItem,
    Scene,
    SceneObject,
    ScenesDataset,
    ShapesCaptionsDataset,
    ShapesDataset,
    make_dataset,
    make_scene,
    parse_scene_caption,
    scene_attribute_accuracy,
    scene_caption,
)
from atelier.data.scenes import held_out_combinations, match_scene_objects
from atelier.data.shapes import COLORS, POSITIONS
from atelier.errors import InvalidArgument

N = 600


@pytest.fixture(scope="module")
def scenes() -> dict[str, ScenesDataset]:
    return {p: ScenesDataset(size=48, length=N, seed=3, split=p) for p in ScenesDataset.parts}


def test_contract_and_collate(scenes):
    ds = scenes["train"]
    item = ds[0]
    assert isinstance(item, CaptionedItem) and item.image.shape == (3, 48, 48)
    assert item.image.dtype == torch.float32 and item.label == -1
    assert len(ds) == len(ds.image_ids) and ds.num_images == N
    assert item.text == ds.captions(item.image_id)[0] == scene_caption(ds.scene_objects(item.image_id))
    assert ds.all_captions()[:2] == [ds[0].text, ds[1].text]
    batch = next(iter(DataLoader(ds, batch_size=5)))
    assert batch.image.shape == (5, 3, 48, 48) and len(batch.text) == 5
    assert batch.image_id.tolist() == ds.image_ids[:5].tolist()
    labelled = ScenesDataset(size=16, length=20, labels=True)
    assert labelled.num_classes == 3
    assert all(labelled[i].label == len(labelled.scene_objects(i).objects) - 1 for i in range(20))


def test_deterministic_pure_function_of_seed_and_index():
    a = ScenesDataset(size=32, length=40, seed=3)
    b = ScenesDataset(size=32, length=N, seed=3, split=(10, 20))
    c = ScenesDataset(size=32, length=40, seed=4)
    assert torch.equal(a.image_tensor(15), b.image_tensor(15)) and a.captions(15) == b.captions(15)
    assert b[0].image_id == 10 and torch.equal(b[0].image, a.image_tensor(10))
    assert any(a.captions(i) != c.captions(i) for i in range(40))
    assert ScenesDataset(size=16, length=N, seed=3).scene_objects(7) == make_scene(3, 7)


def test_scene_rules():
    """1-3 objects in distinct cells in reading order; the background is no object's colour."""
    counts = np.zeros(4, int)
    for i in range(2000):
        scene = make_scene(0, i)
        cells = [POSITIONS.index(o.position) for o in scene.objects]
        assert cells == sorted(set(cells)) and 1 <= len(cells) <= 3
        assert scene.background in COLORS
        assert scene.background not in {o.color for o in scene.objects}
        counts[len(cells)] += 1
    assert counts[1:].min() > 550  # each count about a third


def test_drawing_matches_the_scene():
    """Each object's cell centre has its colour; the image corners outside every object's
    cell have the background colour (palette values)."""
    ds = ScenesDataset(size=64, length=40, seed=1)
    for i in range(40):
        image = np.round(ds.image_tensor(i).numpy() * 255).astype(int)
        scene = ds.scene_objects(i)
        for o in scene.objects:
            row, col = divmod(POSITIONS.index(o.position), 3)
            cy, cx = int(64 * (2 * row + 1) / 6), int(64 * (2 * col + 1) / 6)
            assert np.abs(image[:, cy, cx] - COLORS[o.color]).max() <= 2, ds.captions(i)
        taken = {o.position for o in scene.objects}
        for (y, x), cell in [((0, 0), "top left"), ((0, 63), "top right"),
                             ((63, 0), "bottom left"), ((63, 63), "bottom right")]:
            if cell not in taken:
                assert image[:, y, x].tolist() == list(COLORS[scene.background])


def test_caption_grammar_round_trip():
    for i in range(3000):
        scene = make_scene(11, i)
        text = scene_caption(scene)
        assert parse_scene_caption(text) == scene, text
        assert parse_scene_caption(text.upper() + ".") == scene
        # the caption tokenizer drops punctuation: the objects still read apart
        assert parse_scene_caption(text.replace(",", "")) == scene, text
        n = len(scene.objects)
        assert text.count(" and ") == (n > 1) and text.count(",") == (n == 3)
        assert text.endswith(f" on a {scene.background} background")


def test_parse_is_tolerant():
    s = parse_scene_caption("Large RED square top-left; and a circle in the middle")
    assert s == Scene(
        (SceneObject("square", "red", "large", "top left"), SceneObject("circle", None, None, "center")),
        None,
    )
    s = parse_scene_caption("a small blue triangle on the right against a white background")
    assert s.background == "white" and s.objects[0].position == "right"
    assert parse_scene_caption("on a black background") == Scene((), "black")
    assert parse_scene_caption("on a grey background") is None  # not a palette colour
    assert parse_scene_caption("") is None and parse_scene_caption("a cat and a dog") is None
    with pytest.raises(InvalidArgument, match="must be a string"):
        parse_scene_caption(None)


def test_compositional_split(scenes):
    """Parts are disjoint and cover everything; no held-out combination is in train, val or
    test; every compositional image holds one; each rule occurs in compositional, and each
    attribute of a rule occurs in train on its own."""
    ids = {p: set(ds.image_ids.tolist()) for p, ds in scenes.items()}
    assert sum(map(len, ids.values())) == N and set.union(*ids.values()) == set(range(N))
    assert all(ids.values())
    for part in ("train", "val", "test"):
        ds = scenes[part]
        assert all(not held_out_combinations(ds.scene_objects(i)) for i in ds.image_ids)
    comp = scenes["compositional"]
    seen_rules = {r for i in comp.image_ids for r in held_out_combinations(comp.scene_objects(i))}
    assert seen_rules == set(HELD_OUT)
    train = [scenes["train"].scene_objects(i) for i in scenes["train"].image_ids]
    objects = [o for s in train for o in s.objects]
    assert any(o.shape == "triangle" for o in objects) and any(o.color == "red" for o in objects)
    assert any(o.size == "large" for o in objects)
    assert any(o.position.startswith("bottom") for o in objects)
    assert any(s.background == "yellow" for s in train) and any(o.color == "blue" for o in objects)
    assert 0.2 < len(ids["compositional"]) / N < 0.4
    # fewer rules: fewer compositional images, the others keep their part
    fewer = ScenesDataset(size=16, length=N, seed=3, split="test", held_out=["red-triangle"])
    assert ids["test"] <= set(fewer.image_ids.tolist())
    with pytest.raises(InvalidArgument, match="'compositional' split of this dataset is empty"):
        ScenesDataset(size=16, length=50, split="compositional", held_out=())


def test_bad_options():
    with pytest.raises(InvalidArgument, match="unknown held-out combination 'red'"):
        ScenesDataset(size=16, length=10, held_out=["red"])
    with pytest.raises(InvalidArgument, match="length must be"):
        ScenesDataset(size=16, length=0)
    with pytest.raises(InvalidArgument, match="seed must be"):
        ScenesDataset(size=16, length=5, seed=-1)
    with pytest.raises(InvalidArgument, match="split must be one of train, val, test, compositional"):
        ScenesDataset(size=16, length=5, split="heldout")


def test_make_dataset():
    ds = make_dataset("scenes", size=32, length=100, split="compositional", seed=2)
    assert isinstance(ds, ScenesDataset) and ds.size == 32 and len(ds) > 0
    sc = make_dataset("shapes-captions", size=16, length=100, split="val")
    assert isinstance(sc, ShapesCaptionsDataset) and len(sc) > 0


def test_matching_and_accuracy():
    t = [SceneObject("circle", "red", "small", "top"), SceneObject("square", "blue", "large", "left")]
    # same cell first, then the leftovers in order, then missed / extra
    p = [SceneObject("square", "blue", "large", "right"), SceneObject("circle", "red", "small", "top"),
         SceneObject("circle", "green", "small", "bottom")]
    assert match_scene_objects(t, p) == ([(0, 1), (1, 0)], [], [2])
    assert match_scene_objects(t, p[1:2]) == ([(0, 0)], [1], [])

    class Truth:
        def scene_objects(self, image_id):
            return Scene(tuple(t), "white")

    texts = [
        scene_caption(Scene(tuple(t), "white")),  # all right
        "a small red circle at the top and a large blue square on the right on a black background",
        "a small red circle at the top on a white background",  # one missed
        "nonsense",  # every object missed
    ]
    acc = scene_attribute_accuracy(texts, [0, 1, 2, 3], Truth())
    # object slots: 2 + 2 + 2 + 2 = 8; shape/colour/size right in 2 + 2 + 1 + 0 = 5
    assert acc["shape"] == acc["color"] == acc["size"] == 5 / 8
    assert acc["position"] == 4 / 8 and acc["background"] == 2 / 4
    assert acc["objects"] == 2 / 4 and acc["exact"] == 1 / 4 and acc["parsed"] == 3 / 4
    assert acc["n"] == 4 and acc["attributes"] == pytest.approx((3 * 5 / 8 + 4 / 8 + 2 / 4) / 5)
    extra = scene_caption(Scene(tuple(t) + (SceneObject("circle", "red", "small", "center"),), "white"))
    assert scene_attribute_accuracy([extra], [0], Truth())["shape"] == 2 / 3
    with pytest.raises(InvalidArgument, match="2 captions for 1 image ids"):
        scene_attribute_accuracy(texts[:2], [0], Truth())


def test_scene_accuracy_on_a_dataset(scenes):
    ds = scenes["test"]
    ids = ds.image_ids[:30]
    perfect = scene_attribute_accuracy([ds.captions(i)[0] for i in ids], ids, ds)
    assert perfect["attributes"] == perfect["exact"] == 1.0


def test_shapes_captions():
    ds = ShapesCaptionsDataset(size=32, length=60, seed=2, split="all")
    ref = ShapesDataset(size=32, length=60, seed=2)
    for i in range(0, 60, 7):
        item = ds[i]
        image, label = ref[i]
        assert torch.equal(item.image, image) and item.label == label and item.image_id == i
        assert item.text == ref.caption(i) == scene_caption(ds.scene_objects(i))
        assert parse_scene_caption(item.text) == ds.scene_objects(i)
    parts = [set(ShapesCaptionsDataset(size=16, length=60, split=p).image_ids.tolist())
             for p in ("train", "val", "test")]
    assert sum(map(len, parts)) == 60 and set.union(*parts) == set(range(60))
