"""atelier.tasks.generate: sampling, labels, interpolation, grids and files (tiny models)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from atelier.errors import AtelierError, InvalidArgument, OutputExists
from atelier.image import load_image
from atelier.models import build_model, save_model
from atelier.tasks.generate import (
    interpolate,
    load_generator,
    make_grid,
    sample_images,
    save_each,
    save_grid,
    slerp,
)

TINY = {"resolution": 16, "width": 8, "latent_dim": 8}


def tiny(name: str, **extra):
    torch.manual_seed(0)
    cfg = dict(TINY, **extra)
    if name in ("cgan", "cvae"):
        cfg.setdefault("num_classes", 4)
    return build_model(name, cfg)


@pytest.mark.parametrize("name", ["dcgan", "cgan", "vae", "cvae", "vaegan"])
def test_sample_shape_range_and_determinism(name):
    model = tiny(name)
    a = sample_images(model, 5, seed=1, batch_size=2)
    assert a.shape == (5, 1, 16, 16) and a.dtype == torch.float32
    assert 0.0 <= float(a.min()) and float(a.max()) <= 1.0
    assert torch.equal(a, sample_images(model, 5, seed=1, batch_size=2))
    assert not torch.equal(a, sample_images(model, 5, seed=2, batch_size=2))


def test_sample_from_saved_run_matches_model(tmp_path):
    model = tiny("dcgan")
    save_model(model, tmp_path)
    loaded = load_generator(tmp_path)
    torch.testing.assert_close(sample_images(loaded, 4, seed=3), sample_images(model, 4, seed=3))


@pytest.mark.parametrize("name", ["cgan", "cvae"])
def test_labels_are_passed_to_conditional_models(name, monkeypatch):
    model = tiny(name)
    seen = []
    original = type(model).sample

    def spy(self, n, *, labels=None, generator=None, device=None):
        seen.append(torch.as_tensor(labels).tolist())
        return original(self, n, labels=labels, generator=generator, device=device)

    monkeypatch.setattr(type(model), "sample", spy)
    sample_images(model, 3, seed=0, labels=2)
    sample_images(model, 5, seed=0, labels=[0, 1], batch_size=3)
    sample_images(model, 6, seed=0)
    assert seen == [[2, 2, 2], [0, 1, 0], [1, 0], [0, 1, 2, 3, 0, 1]]


def test_cgan_labels_change_the_images():
    model = tiny("cgan")
    assert not torch.equal(sample_images(model, 2, seed=0, labels=0),
                           sample_images(model, 2, seed=0, labels=1))


@pytest.mark.parametrize("name", ["dcgan", "vae", "vaegan"])
def test_labels_refused_by_unconditional_models(name):
    with pytest.raises(InvalidArgument, match="unconditional"):
        sample_images(tiny(name), 2, seed=0, labels=1)


def test_bad_labels_and_counts():
    model = tiny("cgan")
    with pytest.raises(InvalidArgument, match="0..3"):
        sample_images(model, 2, seed=0, labels=4)
    with pytest.raises(InvalidArgument):
        sample_images(model, 0, seed=0)
    with pytest.raises(InvalidArgument, match="not a generator"):
        sample_images(build_model("classifier", {"resolution": 16, "width": 8}), 2, seed=0)


def test_slerp_reference():
    """Hand-computed: halfway between orthogonal unit vectors is (1/sqrt2, 1/sqrt2); the
    endpoints are reproduced; parallel endpoints fall back to a straight line."""
    z0, z1 = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 2.0]])
    out = slerp(z0, z1, torch.tensor([0.0, 0.5, 1.0]))
    torch.testing.assert_close(out[0, 0], z0[0])
    torch.testing.assert_close(out[0, 2], z1[0])
    # sin(pi/4)/sin(pi/2) * z0 + sin(pi/4)/sin(pi/2) * z1
    torch.testing.assert_close(out[0, 1], torch.tensor([0.5**0.5, 2 * 0.5**0.5]))
    par = slerp(torch.tensor([[1.0, 1.0]]), torch.tensor([[2.0, 2.0]]), torch.tensor([0.5]))
    torch.testing.assert_close(par[0, 0], torch.tensor([1.5, 1.5]))


@pytest.mark.parametrize("name", ["dcgan", "cvae"])
def test_interpolation_grid(name):
    model = tiny(name)
    images = interpolate(model, 5, seed=0, rows=3)
    assert images.shape == (15, 1, 16, 16)
    assert torch.equal(images, interpolate(model, 5, seed=0, rows=3))
    grid = make_grid(images, nrow=5)
    assert grid.shape == (3 * 18 + 2, 5 * 18 + 2, 1) and grid.dtype == np.uint8


def test_interpolation_endpoints_are_decoded_latents():
    """Row ends are plain generator outputs of the two endpoint latents (slerp at t=0, 1)."""
    model = tiny("dcgan")
    images = interpolate(model, 4, seed=5, rows=2)
    ends = torch.randn(2, 2, 8, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        model.eval()
        torch.testing.assert_close(images[0], model.generator(ends[0, :1])[0], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(images[7], model.generator(ends[1, 1:])[0], atol=1e-5, rtol=1e-5)


def test_make_grid_layout():
    """Hand-built: 3 tiles of values 0, 0.5, 1 in 2 columns with padding 1."""
    images = torch.stack([torch.full((3, 2, 2), v) for v in (0.0, 0.5, 1.0)])
    grid = make_grid(images, nrow=2, padding=1, pad_value=7)
    assert grid.shape == (7, 7, 3)
    assert (grid[1:3, 1:3] == 0).all() and (grid[1:3, 4:6] == 128).all()
    assert (grid[4:6, 1:3] == 255).all() and (grid[4:6, 4:6] == 7).all()
    assert (grid[0] == 7).all() and (grid[:, 3] == 7).all()


def test_save_grid_refuses_overwrite(tmp_path):
    grid = make_grid(torch.rand(4, 3, 8, 8), nrow=2)
    path = tmp_path / "g.png"
    save_grid(path, grid)
    np.testing.assert_array_equal(load_image(path), grid)
    with pytest.raises(OutputExists):
        save_grid(path, grid)
    save_grid(path, grid, overwrite=True)


def test_save_each(tmp_path):
    images = torch.rand(3, 1, 16, 16)
    paths = save_each(tmp_path / "each", images)
    assert [p.name for p in paths] == ["sample_00000.png", "sample_00001.png", "sample_00002.png"]
    assert load_image(paths[1]).shape == (16, 16)
    with pytest.raises(OutputExists):
        save_each(tmp_path / "each", images)


def test_load_generator_errors(tmp_path):
    with pytest.raises(AtelierError, match="no such run folder"):
        load_generator(tmp_path / "missing")
    (tmp_path / "checkpoints").mkdir()
    with pytest.raises(AtelierError, match="no model.json"):
        load_generator(tmp_path)
