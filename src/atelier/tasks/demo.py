"""The demo: representative pipelines on bundled photos, as an HTML contact sheet.

Runs each pipeline on a photo that ships with scikit-image (nothing is downloaded), saves the
before/after images and writes ``index.html`` with each pipeline's text, its run time and its
PSNR / SSIM against the original.

Example
-------
>>> import tempfile
>>> cards = run_demo(tempfile.mkdtemp(), limit=1)
>>> cards[0].pipeline
'autocontrast cutoff=1 | unsharp radius=2 amount=1'
"""

from __future__ import annotations

import html
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from atelier.errors import OutputExists
from atelier.image import save_image, write_atomic
from atelier.metrics import psnr, ssim
from atelier.ops.pipeline import Pipeline

#: (photo name in skimage.data, pipeline, what it shows)
DEMO_PIPELINES: tuple[tuple[str, str, str], ...] = (
    ("astronaut", "autocontrast cutoff=1 | unsharp radius=2 amount=1", "Quick photo fix"),
    ("moon", "equalize", "Histogram equalization (grey)"),
    ("moon", "clahe clip_limit=3 tile_grid=8,8", "Contrast-limited adaptive equalization"),
    ("coffee", "white_balance method=white_patch percentile=99", "White-patch white balance"),
    ("chelsea", "saturation factor=1.6 | gamma gamma=0.8", "Richer colour, lifted shadows"),
    ("rocket", "hue shift=120", "Hue rotation"),
    ("astronaut", "grayscale keep_channels=true | contrast factor=1.3", "Black and white"),
    ("coffee", "bilateral diameter=9 sigma_color=40 sigma_space=9", "Edge-preserving smoothing"),
    ("chelsea", "nlm_denoise h=6", "Non-local means denoising"),
    ("astronaut", "gaussian_blur sigma=4", "Gaussian blur"),
    ("rocket", "laplacian_sharpen strength=0.6", "Laplacian sharpening"),
    ("coffee", "rotate angle=12 expand=false", "Rotation keeping the frame"),
    ("chelsea", "flip axis=horizontal | resize scale=0.5 method=area", "Mirror and half size"),
)


@dataclass(frozen=True)
class DemoCard:
    photo: str
    pipeline: str
    title: str
    before: str
    after: str
    seconds: float
    psnr: float | None
    ssim: float | None


def load_bundled_photo(name: str) -> np.ndarray:
    """A sample photo that ships inside scikit-image (no download)."""
    from skimage import data

    return np.ascontiguousarray(getattr(data, name)())


def run_demo(
    out_dir: str | Path,
    *,
    overwrite: bool = False,
    limit: int | None = None,
    on_card: Callable[[DemoCard], None] | None = None,
) -> list[DemoCard]:
    """Run the demo pipelines, write images and ``index.html`` into ``out_dir``."""
    out = Path(out_dir)
    index = out / "index.html"
    if index.exists() and not overwrite:
        raise OutputExists(f"{index} exists; pass --overwrite to replace the demo")
    cards = []
    saved: set[str] = set()
    for i, (photo, text, title) in enumerate(DEMO_PIPELINES[:limit]):
        image = load_bundled_photo(photo)
        before = f"{photo}.jpg"
        if before not in saved:
            save_image(out / before, image, quality=90, overwrite=True)
            saved.add(before)
        start = time.perf_counter()
        result = Pipeline.parse(text).apply(image)
        seconds = time.perf_counter() - start
        after = f"{i:02d}_{photo}.jpg"
        save_image(out / after, result, quality=90, overwrite=True)
        same = result.shape == image.shape
        card = DemoCard(
            photo=photo,
            pipeline=text,
            title=title,
            before=before,
            after=after,
            seconds=seconds,
            psnr=psnr(image, result) if same else None,
            ssim=ssim(image, result) if same else None,
        )
        cards.append(card)
        if on_card is not None:
            on_card(card)
    write_atomic(index, render_contact_sheet(cards).encode("utf-8"))
    return cards


def _score(card: DemoCard) -> str:
    if card.psnr is None:
        return "size changed: PSNR/SSIM not defined"
    db = "identical" if np.isinf(card.psnr) else f"{card.psnr:.2f} dB"
    return f"PSNR {db} · SSIM {card.ssim:.4f}"


def render_contact_sheet(cards: list[DemoCard]) -> str:
    """A self-contained HTML page: one card per pipeline, before and after side by side."""
    items = "\n".join(
        f"""<figure>
  <h2>{html.escape(c.title)}</h2>
  <div class="pair"><img src="{c.before}" alt="before: {c.photo}"><img src="{c.after}" alt="after"></div>
  <figcaption><code>{html.escape(c.pipeline)}</code><br>{_score(c)} · {c.seconds * 1000:.0f} ms</figcaption>
</figure>"""
        for c in cards
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>atelier demo</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; background: #fafafa; color: #222; }}
main {{ display: grid; grid-template-columns: repeat(auto-fill, minmax(520px, 1fr)); gap: 1.5rem; }}
figure {{ margin: 0; background: #fff; padding: 1rem; border-radius: 8px; box-shadow: 0 1px 3px #0002; }}
h2 {{ font-size: 1.05rem; margin: 0 0 .5rem; }}
.pair {{ display: grid; grid-template-columns: 1fr 1fr; gap: .5rem; }}
.pair img {{ width: 100%; height: auto; }}
code {{ background: #f0f0f0; padding: .1rem .3rem; }}
</style></head>
<body><h1>atelier — classic edits</h1>
<p>Before (left) and after (right). Each caption gives the pipeline, as you would pass it to
<code>atelier edit IMAGE -o OUT "PIPELINE"</code>, with PSNR and SSIM against the original.</p>
<main>
{items}
</main></body></html>
"""
