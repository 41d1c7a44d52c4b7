"""AdaIN (Huang & Belongie 2017, one pass) against Gatys (300 L-BFGS steps) on one photo and
two paintings, timed in turn and both scored by Gatys' loss, its two terms apart.

The AdaIN model is loaded once before timing (``load_adain``: the shipped ``adain`` when
installed, else a run folder given with ``--adain-model``); without one the part is one row
that says why. For each style the two methods run once each, AdaIN first for the first style
and Gatys first for the second (after one untimed AdaIN call that warms it up). Both results
are then scored on the content resized to the result's size:

    content = 0.01 * mse(phi_relu4_2(y), phi_relu4_2(content))
    style   = sum_{l = relu1_1 .. relu5_1} 10 * mse(G_l(y), G_l(style))

``atelier.tasks.stylize.StyleProblem``'s terms (the style resized to the content's pixel
count, as Gatys' own run does), so Gatys is judged on the objective it minimised.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

STYLES = ("starry_night.jpg", "the_scream.jpg")


def load_adain(choice: str | None) -> tuple[Any, str]:
    """(loaded AdaIN model or None, status): ``choice`` is a run folder or shipped name (None:
    the shipped ``adain`` when installed)."""
    try:
        from atelier.tasks.adain import load_adain_model
    except ImportError as exc:
        return None, f"atelier.tasks.adain is missing ({exc})"
    from atelier.pretrained import PRETRAINED, is_installed

    source = choice or "adain"
    if choice is None and not ("adain" in PRETRAINED and is_installed("adain")):
        return None, "the shipped adain weights are not installed; give --adain-model RUN"
    try:
        return load_adain_model(source).eval(), f"{source} loaded"
    except Exception as exc:  # noqa: BLE001 - any failure is the row's text
        return None, f"{source}: {' '.join(str(exc).split())}"


def gatys_terms(vgg, image: np.ndarray, content: np.ndarray, style: np.ndarray) -> dict[str, float]:
    """Gatys' content and style terms of ``image`` (any size: the content is resized to it)."""
    import torch
    import torch.nn.functional as F

    from atelier.nets.feature_losses import gram_matrix
    from atelier.tasks.stylize import CONTENT_TAP, STYLE_TAPS, StyleProblem, resize_tensor, rgb_tensor

    y = rgb_tensor(image)
    c = resize_tensor(rgb_tensor(content), *y.shape[-2:])
    problem = StyleProblem(vgg, c, [rgb_tensor(style)], [1.0], content_weight=1.0, tv_weight=0.0)
    with torch.no_grad():
        feats = vgg(y, taps=(CONTENT_TAP, *STYLE_TAPS))
        content_loss = 0.01 * F.mse_loss(feats[CONTENT_TAP], problem.content_target[CONTENT_TAP])
        style_loss = sum(10.0 * F.mse_loss(gram_matrix(feats[t]), problem.style_target[t]) for t in STYLE_TAPS)
    return {"content": float(content_loss), "style": float(style_loss), "total": float(content_loss + style_loss)}


def adain_vs_gatys_part(content_file: Path, styles_dir: Path, size: int, steps: int,
                        adain_choice: str | None) -> dict[str, Any]:
    """Seconds and Gatys loss terms of AdaIN and Gatys for each style of :data:`STYLES`."""
    from atelier.image import load_image

    out: dict[str, Any] = {"content": str(content_file), "size": size, "steps": steps, "styles": {}}
    net, status = load_adain(adain_choice)
    out["adain_status"] = status
    if net is None:
        return out
    from atelier.nets.vgg19 import VGG19
    from atelier.tasks.adain import adain_stylize
    from atelier.tasks.stylize import CONTENT_TAP, STYLE_TAPS, stylize

    content = load_image(content_file, mode="rgb")
    out["adain_params"] = sum(p.numel() for p in net.parameters())
    styles = {name: load_image(styles_dir / name, mode="rgb") for name in STYLES}
    adain_stylize(content, [styles[STYLES[0]]], size=size, model=net)  # warm-up, untimed
    for k, (name, style) in enumerate(styles.items()):
        fns = {"adain": lambda style=style: adain_stylize(content, [style], size=size, model=net),
               "gatys": lambda style=style: stylize(content, [style], size=size, steps=steps)}
        order = list(fns)[k % 2 :] + list(fns)[: k % 2]
        seconds, images = {}, {}
        for method in order:
            t0 = time.perf_counter()
            images[method] = fns[method]()
            seconds[method] = time.perf_counter() - t0
        vgg = VGG19(taps=(CONTENT_TAP, *STYLE_TAPS))
        out["styles"][name] = {
            "order": order,
            "seconds": seconds,
            "shape": {m: list(im.shape) for m, im in images.items()},
            "loss": {m: gatys_terms(vgg, im, content, style) for m, im in images.items()},
            "time_ratio_gatys_over_adain": seconds["gatys"] / seconds["adain"],
        }
    return out


def adain_vs_gatys_rows(rows: list, r: dict[str, Any], judge: bool) -> None:
    from _texture_report import row, short

    if not r["styles"]:
        row(rows, f"adain-vs-gatys {r['size']}px", "AdaIN vs Gatys", "", f"SKIP: {short(r['adain_status'])}", None)
        return
    for name, e in r["styles"].items():
        part = f"adain-vs-gatys {Path(name).stem} {r['size']}px"
        for m, what in (("adain", "AdaIN (1 pass)"), ("gatys", f"Gatys x{r['steps']}")):
            loss = e["loss"][m]
            row(rows, part, f"{what}: seconds / content / style loss", "",
                f"{e['seconds'][m]:.2f} s / {loss['content']:.4g} / {loss['style']:.4g}", None, judge)
        row(rows, part, "speed AdaIN / Gatys (time ratio)", "", f"{e['time_ratio_gatys_over_adain']:.0f}x", None, judge)
