"""The shipped painting styles on a real photo: the content stays recognisable, the style
changes the image, and the border shows no artefact of padding
(:mod:`atelier.tasks.style_quality`).

The bounds are the ones the README states for every shipped style: layout similarity (SSIM
of the luminance at 128 px) at least 0.5, and a border step within 2 grey levels of the
photo's. Measured on the held-out photo below when the weights shipped: 0.75 / 0.85 / 0.76
and 2.4 / 1.9 / 1.2 (photo 3.5) for starry / scream / monet; the two styles these replaced
scored 0.34 and 0.10 (style-stain, style-hubble), and style-stain's border stepped 7.4.
"""

from __future__ import annotations

import numpy as np
import pytest

from atelier.image import load_image
from atelier.ops.geometry import resize
from atelier.pretrained import is_installed
from atelier.tasks.style_quality import BORDER_MARGIN, LAYOUT_BOUND, border_step, layout_similarity
from atelier.tasks.stylize import stylize_with_model

STYLES = ("style-starry", "style-scream", "style-monet")


@pytest.fixture
def photo(shared_data):
    """The last photos80 photo (held out of every style training), 384 px on its longer side."""
    from atelier.data.folder import list_images

    image = load_image(list(list_images(shared_data / "photos80"))[-1], mode="rgb")
    k = 384 / max(image.shape[:2])
    return resize(image, width=round(image.shape[1] * k), height=round(image.shape[0] * k), method="bicubic",
                  antialias=True)


@pytest.mark.parametrize("name", STYLES)
def test_style_keeps_the_content_and_the_border(name, photo):
    if not is_installed(name):
        pytest.skip(f"{name} is not in this install")
    out = stylize_with_model(photo, name)
    assert out.shape == photo.shape and out.dtype == np.uint8
    layout = layout_similarity(out, photo)
    assert layout >= LAYOUT_BOUND, f"{name}: the scene's layout is lost (SSIM {layout:.3f} at 128 px)"
    assert np.abs(out.astype(int) - photo.astype(int)).mean() > 10, f"{name} barely changes the photo"
    assert border_step(out) <= border_step(photo) + BORDER_MARGIN, f"{name}: the border differs from the inside"


def test_the_checks_catch_what_they_are_for(photo):
    """A photo replaced by noise loses its layout; a black frame makes the border step."""
    noise = np.random.default_rng(0).integers(0, 256, photo.shape, dtype=np.uint8)
    assert layout_similarity(noise, photo) < 0.2 and layout_similarity(photo, photo) == pytest.approx(1.0)
    framed = photo.copy()
    framed[:4], framed[-4:], framed[:, :4], framed[:, -4:] = 0, 0, 0, 0
    assert border_step(framed) > border_step(photo) + BORDER_MARGIN
