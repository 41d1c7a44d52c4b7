"""Latent blending with the VAE families: reconstructions at the ends, shapes, errors, and the
shipped vae-mnist on two real digits."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from atelier.errors import InvalidArgument
from atelier.models import build_model, save_model
from atelier.tasks.latent_blend import latent_blend, load_vae, strip_image

TINY = {"resolution": 16, "width": 8, "latent_dim": 4, "prior_components": 0}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("vaes")
    torch.manual_seed(0)
    for name, extra in (("vae", {}), ("cvae", {"num_classes": 3}), ("dcgan", {})):
        config = {k: v for k, v in {**TINY, **extra}.items() if name != "dcgan" or k != "prior_components"}
        save_model(build_model(name, config), root / name)
    return root


@pytest.fixture(scope="module")
def pair():
    rng = np.random.default_rng(0)
    return [rng.random((16, 16), dtype=np.float32), rng.random((16, 16), dtype=np.float32)]


def _reconstruction(model, image, label=None):
    """The decode of the posterior mean, straight from the model (an independent path)."""
    x = torch.from_numpy(image)[None, None]
    with torch.no_grad():
        if label is None:
            return model.decode(model.encode(x)[0])[0, 0].numpy()
        y = torch.tensor([label])
        return model.decode(model.encode(x, y)[0], y)[0, 0].numpy()


def test_weights_one_zero_is_the_reconstruction(runs, pair):
    vae = load_vae(runs / "vae")
    out = latent_blend(pair, runs / "vae", weights=(1, 0))
    assert out.shape == (16, 16) and out.dtype == np.float32
    np.testing.assert_allclose(out, _reconstruction(vae, pair[0]), atol=1e-6)
    np.testing.assert_allclose(latent_blend(pair, vae, weights=(0, 3)), _reconstruction(vae, pair[1]), atol=1e-6)


def test_strip_ends_are_reconstructions_and_middle_is_the_even_blend(runs, pair):
    vae = load_vae(runs / "vae")
    strip = latent_blend(pair, vae, steps=5)
    assert strip.shape == (5, 16, 16)
    np.testing.assert_allclose(strip[0], _reconstruction(vae, pair[0]), atol=1e-6)
    np.testing.assert_allclose(strip[-1], _reconstruction(vae, pair[1]), atol=1e-6)
    np.testing.assert_allclose(strip[2], latent_blend(pair, vae), atol=1e-6)  # default: equal weights
    assert strip_image((strip * 255).astype(np.uint8)).shape == (20, 5 * 18 + 2)


def test_any_image_is_brought_to_the_model(runs):
    rgb = np.random.default_rng(1).integers(0, 256, (40, 30, 3), dtype=np.uint8)
    out = latent_blend([rgb, rgb[::-1], rgb[:, ::-1]], runs / "vae", weights=(0.2, 0.3, 0.5))
    assert out.shape == (16, 16) and out.dtype == np.uint8


def test_conditional_vae_needs_its_label(runs, pair):
    cvae = load_vae(runs / "cvae")
    out = latent_blend(pair, cvae, weights=(1, 0), label=2)
    np.testing.assert_allclose(out, _reconstruction(cvae, pair[0], label=2), atol=1e-6)
    with pytest.raises(InvalidArgument, match="conditional VAE: give the class"):
        latent_blend(pair, cvae)
    with pytest.raises(InvalidArgument, match="0..2"):
        latent_blend(pair, cvae, label=3)


@pytest.mark.parametrize(
    "model, kwargs, count, message",
    [
        ("dcgan", {}, 2, "has no encoder"),
        ("vae", {"weights": (1, 2, 3)}, 2, "one weight per image"),
        ("vae", {"weights": (-1, 2)}, 2, ">= 0"),
        ("vae", {}, 1, "two or more images"),
        ("vae", {"steps": 4}, 3, "between two images"),
        ("vae", {"steps": 1}, 2, "steps must be"),
        ("vae", {"steps": 3, "weights": (1, 1)}, 2, "not both"),
        ("vae", {"label": 1}, 2, "unconditional"),
    ],
)
def test_mistakes_are_clear(runs, pair, model, kwargs, count, message):
    with pytest.raises(InvalidArgument, match=message):
        latent_blend((pair * 2)[:count], runs / model, **kwargs)


def test_shipped_vae_midpoint_lies_between_two_digits(shared_data):
    """vae-mnist on two MNIST test digits (a 7 and a 2, LeCun et al.): the decode of the
    midpoint code is closer, in pixels, to each digit's reconstruction than the two are to
    each other (the path through the latent space passes between them)."""
    from atelier.data.idx import read_idx
    from atelier.pretrained import is_installed

    if not is_installed("vae-mnist"):
        pytest.skip("the shipped vae-mnist is not in this install")
    images = read_idx(shared_data / "mnist10k" / "t10k-images-idx3-ubyte.gz")[:2]
    strip = latent_blend(list(images), "vae-mnist", steps=3).astype(np.float32) / 255
    a, mid, b = strip
    far = np.abs(a - b).mean()
    assert far > 0.05  # the two reconstructions differ
    assert np.abs(mid - a).mean() < far and np.abs(mid - b).mean() < far
