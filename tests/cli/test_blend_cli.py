"""`atelier blend`: latent blends and strips from the command line, the task, and its mistakes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from atelier.image import load_image, save_image
from atelier.models import build_model, save_model
from atelier.tasks.latent_blend import latent_blend, strip_image
from atelier.tasks.registry import get_task
from tests.cli.test_cli import atelier


@pytest.fixture
def setup(tmp_path):
    torch.manual_seed(0)
    save_model(build_model("vae", {"resolution": 16, "width": 8, "latent_dim": 4, "prior_components": 0}),
               tmp_path / "vae")
    save_model(build_model("dcgan", {"resolution": 16, "width": 8, "latent_dim": 4}), tmp_path / "gan")
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (16, 16), dtype=np.uint8) for _ in range(3)]
    paths = {"vae": tmp_path / "vae", "gan": tmp_path / "gan", "out": tmp_path / "out.png"}
    for i, image in enumerate(images):
        paths[f"i{i}"] = tmp_path / f"i{i}.png"
        save_image(paths[f"i{i}"], image)
    return paths, images


def test_weights_and_strip_match_the_api_and_the_task(setup):
    paths, images = setup
    assert atelier("blend", paths["i0"], paths["i1"], paths["i2"], "--model", paths["vae"], "--weights", "0.2,0.3,0.5",
                   "--device", "cpu", "-o", paths["out"]) == 0
    np.testing.assert_array_equal(load_image(paths["out"]), latent_blend(images, paths["vae"], weights=(0.2, 0.3, 0.5)))
    assert atelier("blend", paths["i0"], paths["i1"], "--model", paths["vae"], "--steps", 4, "-o", paths["out"],
                   "--overwrite") == 0
    strip = load_image(paths["out"])
    np.testing.assert_array_equal(strip, strip_image(latent_blend(images[:2], paths["vae"], steps=4)))
    task = get_task("blend").run({"image": images[0], "other": images[1]}, {"model": str(paths["vae"]), "steps": 4})
    np.testing.assert_array_equal(task.images["image"], strip)


@pytest.mark.parametrize(
    "args, message",
    [
        (("{i0}", "--model", "{vae}"), "two or more images"),
        (("{i0}", "{i1}", "--model", "{gan}"), "has no encoder"),
        (("{i0}", "{i1}", "--model", "{vae}", "--weights", "1,2,3"), "3 values for 2 images"),
        (("{i0}", "{i1}", "--model", "{vae}", "--weights", "a,b"), "--weights a,b"),
        (("{i0}", "{i1}", "--model", "{vae}", "--weights", "1,1", "--steps", "3"), "not both"),
        (("{i0}", "{i1}", "{i2}", "--model", "{vae}", "--steps", "3"), "between two images"),
        (("{i0}", "{i1}", "--model", "{vae}", "--label", "1"), "unconditional"),
    ],
)
def test_mistakes_are_one_line_and_write_nothing(setup, capsys, args, message):
    paths = setup[0]
    code = atelier("blend", *(a.format(**paths) for a in args), "-o", paths["out"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error:") and message in err and len(err.splitlines()) == 1
    assert not paths["out"].exists()
