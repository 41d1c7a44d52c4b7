"""The cards of the demo: one per tool, each with the command lines that reproduce its images.

A card runs atelier's task functions on the example files (:mod:`atelier.tasks.demo_examples`)
and saves each result as PNG under ``cards/``; its ``commands``, run from inside the
examples folder, write the same pixels (the file names match). Inputs are shown from the
examples folder itself.

Cards: upscaling (``sr-x4`` beside bicubic, scored against the photo that was reduced),
denoising (noisy / OpenCV non-local means / atelier's network), the shipped feed-forward
styles, inpainting (mask / Telea / the shipped network), a sample grid from every shipped
generative model (none unless ``atelier/weights`` holds one) and a few classic edits.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from atelier.image import load_image, save_image
from atelier.metrics import psnr, ssim
from atelier.ops.pipeline import Pipeline
from atelier.tasks.demo_examples import NOISE_SIGMA, SMALL_PIPELINE

__all__ = ["CARDS", "DEMO_EDITS", "CardContext", "DemoCard", "Panel", "all_cards", "score", "shipped_generators"]

CARDS_DIR = "cards"


@dataclass(frozen=True)
class Panel:
    """One image of a card: a label, the file (relative to the demo folder), its size, a score."""

    label: str
    image: str
    width: int
    height: int
    score: str = ""


@dataclass(frozen=True)
class DemoCard:
    key: str
    title: str
    about: str
    panels: tuple[Panel, ...]
    commands: tuple[str, ...]
    seconds: float


@dataclass(frozen=True)
class CardContext:
    """Where a card reads its inputs (``examples``) and writes its images (``out/cards``)."""

    out: Path
    examples: Path

    def load(self, name: str) -> np.ndarray:
        return load_image(self.examples / name)

    def shown(self, label: str, name: str, score: str = "") -> Panel:
        """A panel showing example file ``name`` as it is."""
        image = self.load(name)
        rel = (self.examples / name).relative_to(self.out).as_posix()
        return Panel(label, rel, image.shape[1], image.shape[0], score)

    def saved(self, label: str, name: str, image: np.ndarray, score: str = "") -> Panel:
        """Save ``image`` as ``cards/NAME`` (PNG: the pixels a command writes) and show it."""
        save_image(self.out / CARDS_DIR / name, image, overwrite=True)
        return Panel(label, f"{CARDS_DIR}/{name}", image.shape[1], image.shape[0], score)


def score(reference: np.ndarray, image: np.ndarray, against: str) -> str:
    """``PSNR x dB · SSIM y vs NAME`` (RGB, no border crop: what ``atelier compare`` prints)."""
    p = psnr(reference, image)
    db = "identical" if np.isinf(p) else f"{p:.2f} dB"
    return f"PSNR {db} · SSIM {ssim(reference, image):.3f} vs {against}"


class _Timer:
    def __init__(self) -> None:
        self.seconds = 0.0

    def __call__(self, fn: Callable[[], np.ndarray]) -> np.ndarray:
        start = time.perf_counter()
        try:
            return fn()
        finally:
            self.seconds += time.perf_counter() - start


# ----------------------------------------------------------------------------- learned tools


def upscale_card(ctx: CardContext) -> DemoCard:
    from atelier.tasks.restore import upscale

    timer = _Timer()
    photo, small = ctx.load("photo.jpg"), ctx.load("small.png")
    bicubic = timer(lambda: upscale(small, scale=4, model="bicubic"))
    sr = timer(lambda: upscale(small, scale=4))
    return DemoCard(
        "upscale", "Upscale x4: the shipped sr-x4 network beside bicubic",
        f'small.png is photo.jpg reduced 4x (atelier edit photo.jpg -o small.png "{SMALL_PIPELINE}"); '
        "both enlarge it back to 256 x 256 and are scored against photo.jpg.",
        (
            ctx.shown("input small.png", "small.png"),
            ctx.saved("bicubic", "bicubic-x4.png", bicubic, score(photo, bicubic, "photo.jpg")),
            ctx.saved("atelier sr-x4", "sr-x4.png", sr, score(photo, sr, "photo.jpg")),
            ctx.shown("original photo.jpg", "photo.jpg"),
        ),
        (
            "atelier upscale small.png -o bicubic-x4.png --model bicubic",
            "atelier upscale small.png -o sr-x4.png",
            "atelier compare photo.jpg sr-x4.png --metrics psnr,ssim",
        ),
        timer.seconds,
    )


def denoise_card(ctx: CardContext) -> DemoCard:
    from atelier.tasks.restore import denoise

    timer = _Timer()
    photo, noisy = ctx.load("photo.jpg"), ctx.load("noisy.png")
    nlm = timer(lambda: denoise(noisy, sigma=NOISE_SIGMA, model="nlm"))
    net = timer(lambda: denoise(noisy))
    return DemoCard(
        "denoise", "Denoise: OpenCV non-local means and the shipped network",
        f"noisy.png is photo.jpg with Gaussian noise of sigma {NOISE_SIGMA}. Non-local means is "
        "told the sigma (and uses the best h for it); the network estimates the noise level itself.",
        (
            ctx.shown("noisy.png", "noisy.png", score(photo, noisy, "photo.jpg")),
            ctx.saved(f"OpenCV NL-means, sigma {NOISE_SIGMA}", "nlm.png", nlm, score(photo, nlm, "photo.jpg")),
            ctx.saved("atelier denoise", "denoised.png", net, score(photo, net, "photo.jpg")),
            ctx.shown("original photo.jpg", "photo.jpg"),
        ),
        (
            f"atelier denoise noisy.png -o nlm.png --model nlm --sigma {NOISE_SIGMA}",
            "atelier denoise noisy.png -o denoised.png",
            "atelier compare photo.jpg denoised.png --metrics psnr,ssim",
        ),
        timer.seconds,
    )


def stylize_card(ctx: CardContext) -> DemoCard:
    from atelier.tasks.stylize import stylize_with_model

    timer = _Timer()
    photo = ctx.load("photo.jpg")
    starry = timer(lambda: stylize_with_model(photo, "style-starry"))
    scream = timer(lambda: stylize_with_model(photo, "style-scream"))
    return DemoCard(
        "stylize", "Stylize: two of the shipped feed-forward style networks",
        "One pass of a small network (0.16 M parameters) per image, at any size. Each learned one "
        "painting: Van Gogh's The Starry Night and Munch's The Scream.",
        (
            ctx.shown("photo.jpg", "photo.jpg"),
            ctx.saved("style-starry", "starry.png", starry),
            ctx.saved("style-scream", "scream.png", scream),
        ),
        (
            "atelier stylize photo.jpg --model style-starry -o starry.png",
            "atelier stylize photo.jpg --model style-scream -o scream.png",
        ),
        timer.seconds,
    )


def _show_mask(photo: np.ndarray, mask: np.ndarray) -> np.ndarray:
    shown = photo.copy()
    shown[mask > 0] = (255, 40, 40)
    return shown


def inpaint_card(ctx: CardContext) -> DemoCard:
    from atelier.tasks.inpaint import inpaint

    timer = _Timer()
    photo, mask = ctx.load("photo.jpg"), ctx.load("scratches.png")
    telea = timer(lambda: inpaint(photo, mask, "telea"))
    learned = timer(lambda: inpaint(photo, mask, "inpaint"))
    return DemoCard(
        "inpaint", "Inpaint: classic Telea and the shipped network",
        "scratches.png is white where to fill (shown red over the photo); every other pixel is "
        "kept exactly. Scores compare with the photo before it was masked.",
        (
            ctx.saved("mask scratches.png over photo.jpg", "masked.png", _show_mask(photo, mask)),
            ctx.saved("OpenCV Telea", "telea.png", telea, score(photo, telea, "photo.jpg")),
            ctx.saved("atelier inpaint", "inpainted.png", learned, score(photo, learned, "photo.jpg")),
        ),
        (
            "atelier inpaint photo.jpg --mask scratches.png -o telea.png",
            "atelier inpaint photo.jpg --mask scratches.png --method inpaint -o inpainted.png",
        ),
        timer.seconds,
    )


# ----------------------------------------------------------------------------- generative models


def shipped_generators() -> list[tuple[str, Path]]:
    """``(name, folder)`` of every folder in ``atelier/weights`` whose ``model.json`` names a
    generative model family (one that can ``sample``); none in an install without them."""
    import atelier.pretrained as pretrained
    from atelier.errors import AtelierError
    from atelier.models import get_model_spec
    from atelier.models.registry import CONFIG_FILE, WEIGHTS_FILE

    found = []
    root = Path(pretrained.WEIGHTS_ROOT)
    for folder in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else ():
        if not ((folder / CONFIG_FILE).is_file() and (folder / WEIGHTS_FILE).is_file()):
            continue
        try:
            family = json.loads((folder / CONFIG_FILE).read_text("utf-8"))["model"]
            spec = get_model_spec(family)
        except (ValueError, KeyError, TypeError, AtelierError):
            continue  # not a model folder atelier can rebuild; the model loaders say why
        if callable(getattr(spec.module_class, "sample", None)):
            found.append((folder.name, folder))
    return found


def _sample_source(name: str, folder: Path) -> str:
    """What to pass to ``atelier sample``: the shipped name where ``load_generator`` (what the
    command calls) takes it, else the folder itself."""
    from atelier.errors import AtelierError
    from atelier.tasks.generate import load_generator

    try:
        load_generator(name)
    except (AtelierError, OSError):
        return str(folder)
    return name


def generator_card(ctx: CardContext, name: str, folder: Path) -> DemoCard:
    from atelier.tasks.generate import is_conditional, load_generator, make_grid, sample_images

    timer = _Timer()
    model = timer(lambda: load_generator(folder))
    classes = int(model.config.num_classes) if is_conditional(model) else 0
    nrow = classes if 2 <= classes <= 16 else 8
    n = nrow * 8
    grid = timer(lambda: make_grid(sample_images(model, n, seed=0), nrow=nrow))
    grid = grid[..., 0] if grid.shape[2] == 1 else grid
    family = getattr(type(model), "model_name", type(model).__name__)
    about = f"{n} samples (seed 0) from the shipped {family} model {name}"
    about += f"; labels cycle 0..{classes - 1}, so each column is one class." if classes else "."
    return DemoCard(
        f"sample-{name}", f"Generate: samples from {name}", about,
        (ctx.saved(name, f"{name}.png", grid),),
        (f"atelier sample {_sample_source(name, folder)} -n {n} --nrow {nrow} -o {name}.png",),
        timer.seconds,
    )


# ----------------------------------------------------------------------------- classic edits

#: (input example file, pipeline, title, output file)
DEMO_EDITS: tuple[tuple[str, str, str, str], ...] = (
    ("photo.jpg", "autocontrast cutoff=1 | unsharp radius=2 amount=1", "Quick photo fix", "quick-fix.png"),
    ("photos/grey/moon.png", "clahe clip_limit=3 tile_grid=8,8", "Contrast-limited adaptive equalization", "clahe.png"),
    ("photos/coffee.jpg", "white_balance method=white_patch percentile=99", "White-patch white balance", "white-balance.png"),
    ("photos/chelsea.jpg", "saturation factor=1.6 | gamma gamma=0.8", "Richer colour, lifted shadows", "colour.png"),
    ("photo.jpg", "grayscale keep_channels=true | contrast factor=1.3", "Black and white", "black-white.png"),
    ("photos/rocket.jpg", "rotate angle=12 expand=false", "Rotation keeping the frame", "rotate.png"),
    ("photos/chelsea.jpg", "flip axis=horizontal | resize scale=0.5 method=area", "Mirror and half size", "half-size.png"),
)


def edit_card(ctx: CardContext, source: str, text: str, title: str, output: str) -> DemoCard:
    timer = _Timer()
    image = ctx.load(source)
    result = timer(lambda: Pipeline.parse(text).apply(image))
    same = result.shape == image.shape
    h, w = image.shape[:2]
    about = "Scored against the input: how much the edit changed." if same else (
        f"{w} x {h} in, {result.shape[1]} x {result.shape[0]} out (shown at their true relative size)."
    )
    return DemoCard(
        f"edit-{output.removesuffix('.png')}", title, about,
        (
            ctx.shown(source, source),
            ctx.saved(output, output, result, score(image, result, source) if same else ""),
        ),
        (f'atelier edit {source} -o {output} "{text}"',),
        timer.seconds,
    )


#: The cards that always run, in page order (then generators, then the edits).
CARDS: tuple[Callable[[CardContext], DemoCard], ...] = (upscale_card, denoise_card, stylize_card, inpaint_card)


def all_cards(ctx: CardContext) -> Iterator[Callable[[], DemoCard]]:
    """Every card of the page as a thunk, in order (so a caller can count and time them)."""
    for make in CARDS:
        yield lambda make=make: make(ctx)
    for name, folder in shipped_generators():
        yield lambda name=name, folder=folder: generator_card(ctx, name, folder)
    for edit in DEMO_EDITS:
        yield lambda edit=edit: edit_card(ctx, *edit)
