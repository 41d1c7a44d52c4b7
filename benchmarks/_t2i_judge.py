"""The scenes attribute judge of the text-to-image benchmark: a small CNN that reads a 48 px
``scenes`` image back into a ``Scene`` (objects per grid cell and background colour).

Scenes put each shape (circle, square, triangle; small, medium, large; eight colours) at the
centre of its own cell of a 3 x 3 grid on a plain background, so the judge is a convolution
stack whose 12 x 12 feature map is pooled per cell (the 4 x 4 block under each 16 px cell,
average and max) and read by one head shared by the nine cells: empty / circle / square /
triangle (4), colour (8), size (3); a global head reads the background colour (8).

It is a judge, not a model under test: it trains on *all* scenes images, the held-out
combinations of the ``compositional`` part included, drawn from seeds (``TRAIN_SEED``,
``EVAL_SEED``) that no benchmarked model trains on, with light augmentation so that it
tolerates generated images: jitter (+-1 px for most images, up to +-2 px for a quarter),
slight Gaussian blur, Gaussian noise and small brightness / contrast / per-channel shifts. Its accuracy on held-out real images of another
seed is reported beside the adherence it measures (the benchmark's target: >= 99 % per
attribute).

Trained once (about 3 minutes on a free CPU thread, 6 on a busy one) and cached in the
benchmark's work folder as ``scenes-judge-HASH.safetensors`` (weights only: safetensors holds
no code) with a JSON record of its settings and accuracy; ``HASH`` is of the settings, so a
change retrains it.

Example
-------
    judge, record = load_or_train(Path("runs/bench-t2i"))
    scenes = judge_images(judge, images)            # images (N, 3, H, W) float in [0, 1]
    s = score(scenes[0], target_scene)              # {"shape": 1.0, ..., "all": 1.0}
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from atelier.data.scenes import Scene, SceneObject, make_scene, render_scene
from atelier.data.shapes import COLORS, POSITIONS, SHAPES, SIZES

SIDE = 48
COLOR_NAMES = tuple(COLORS)
TRAIN_SEED, EVAL_SEED = 917_203, 917_204  # apart from every model's data seed (0 by default)
#: Attributes that ``score`` returns, "all" last.
ATTRIBUTES = ("shape", "color", "size", "position", "background", "all")
#: Training settings (the cache key): images rendered, steps, batch, learning rate, width.
#: ``jitter``, ``blur``, ``noise``: the augmentation's largest shift (px), blur sigma and noise std.
FULL = {"train_images": 16_000, "steps": 1_200, "batch": 64, "lr": 2e-3, "width": 16, "eval_images": 2_000,
        "jitter": 2, "blur": 1.5, "noise": 0.06}
QUICK = {**FULL, "train_images": 2_000, "steps": 150, "batch": 32, "eval_images": 200}


class SceneJudge(nn.Module):
    """(N, 3, 48, 48) in [0, 1] -> per-cell logits (N, 9, 15) and background logits (N, 8)."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        w = width

        def block(cin: int, cout: int) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

        self.features = nn.Sequential(
            *block(3, w), nn.MaxPool2d(2),  # 24 px
            *block(w, 2 * w), *block(2 * w, 2 * w), nn.MaxPool2d(2),  # 12 px
            *block(2 * w, 4 * w), *block(4 * w, 4 * w),
        )  # fmt: skip
        c = 4 * w
        self.cell = nn.Sequential(nn.Conv2d(2 * c, 128, 1), nn.ReLU(inplace=True), nn.Conv2d(128, 4 + 8 + 3, 1))
        self.background = nn.Sequential(nn.Linear(2 * c, 64), nn.ReLU(inplace=True), nn.Linear(64, 8))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.features(x * 2.0 - 1.0)
        cells = torch.cat([F.avg_pool2d(f, 4), F.max_pool2d(f, 4)], 1)  # (N, 2c, 3, 3)
        cell = self.cell(cells).flatten(2).transpose(1, 2)  # (N, 9, 15), reading order
        pooled = torch.cat([f.mean((2, 3)), f.amax((2, 3))], 1)
        return cell, self.background(pooled)


# ----------------------------------------------------------------------------- data


def _targets(scene: Scene) -> np.ndarray:
    """(9 * 3 + 1,) int64: per cell (shape 0 = empty, 1..3; colour or -1; size or -1), background."""
    t = np.full((9, 3), -1, np.int64)
    t[:, 0] = 0
    for o in scene.objects:
        cell = POSITIONS.index(o.position)
        t[cell] = (SHAPES.index(o.shape) + 1, COLOR_NAMES.index(o.color), SIZES.index(o.size))
    return np.concatenate([t.reshape(-1), [COLOR_NAMES.index(scene.background)]])


def render_set(seed: int, n: int) -> tuple[torch.Tensor, torch.Tensor, list[Scene]]:
    """``n`` scenes of ``seed`` (every part): uint8 images (n, 3, 48, 48), targets (n, 28), scenes."""
    scenes = [make_scene(seed, i) for i in range(n)]
    images = np.stack([render_scene(s, SIDE) for s in scenes]).transpose(0, 3, 1, 2)
    targets = np.stack([_targets(s) for s in scenes])
    return torch.from_numpy(np.ascontiguousarray(images)), torch.from_numpy(targets), scenes


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    k = torch.arange(-2, 3, dtype=torch.float32)
    k = torch.exp(-(k**2) / (2 * sigma**2))
    k = k / k.sum()
    c = x.shape[1]
    x = F.pad(x, (2, 2, 2, 2), mode="replicate")
    x = F.conv2d(x, k.view(1, 1, 1, 5).expand(c, 1, 1, 5).contiguous(), groups=c)
    return F.conv2d(x, k.view(1, 1, 5, 1).expand(c, 1, 5, 1).contiguous(), groups=c)


def augment(x: torch.Tensor, gen: torch.Generator, jitter: int = 2, blur: float = 1.5,
            noise: float = 0.06) -> torch.Tensor:
    """Light augmentation of a float batch in [0, 1]: a shift of up to ``jitter`` px (edges
    replicated; 0 or +-1 px for most images), Gaussian blur (half the batch, sigma from 0.3
    to ``blur``), noise (std up to ``noise``), brightness / contrast / per-channel shifts of a
    few percent."""
    n = x.shape[0]
    padded = F.pad(x, (jitter,) * 4, mode="replicate")
    # shifts: 3/4 of the images within +-1 px, the others up to +-jitter
    wide = torch.randint(0, 2 * jitter + 1, (n, 2), generator=gen)
    near = torch.randint(jitter - 1, jitter + 2, (n, 2), generator=gen) if jitter >= 1 else wide
    pick = torch.rand(n, 1, generator=gen) < 0.75
    shifts = torch.where(pick, near, wide).tolist()
    x = torch.stack([padded[i, :, dy : dy + SIDE, dx : dx + SIDE] for i, (dy, dx) in enumerate(shifts)])
    half = n // 2
    sigma = 0.3 + (blur - 0.3) * float(torch.rand((), generator=gen))
    x = torch.cat([_blur(x[:half], sigma), x[half:]])
    gain = 1 + 0.05 * (2 * torch.rand(n, 1, 1, 1, generator=gen) - 1)
    shift = 0.03 * (2 * torch.rand(n, 3, 1, 1, generator=gen) - 1)
    mean = x.mean((1, 2, 3), keepdim=True)
    x = (x - mean) * gain + mean + shift
    x = x + torch.randn(x.shape, generator=gen) * noise * torch.rand(n, 1, 1, 1, generator=gen)
    return x.clamp(0.0, 1.0)


def _loss(cell: torch.Tensor, background: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    cells = t[:, :27].view(-1, 9, 3)
    shape_loss = F.cross_entropy(cell[..., :4].reshape(-1, 4), cells[..., 0].reshape(-1))
    full = cells[..., 0] > 0
    color_loss = F.cross_entropy(cell[..., 4:12][full], cells[..., 1][full])
    size_loss = F.cross_entropy(cell[..., 12:][full], cells[..., 2][full])
    return shape_loss + color_loss + size_loss + F.cross_entropy(background, t[:, 27])


# ----------------------------------------------------------------------------- reading and scoring


def _prepare(images: Any) -> torch.Tensor:
    x = torch.as_tensor(images, dtype=torch.float32)
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"judge_images takes (N, 3, H, W) images, got {tuple(x.shape)}")
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    if x.shape[-2:] != (SIDE, SIDE):
        shrink = x.shape[-1] > SIDE
        x = F.interpolate(x, size=(SIDE, SIDE), mode="area" if shrink else "bilinear",
                          align_corners=None if shrink else False)
    return x.clamp(0.0, 1.0).contiguous()


@torch.no_grad()
def judge_images(judge: SceneJudge, images: Any, batch: int = 256) -> list[Scene]:
    """Read images ``(N, 3, H, W)`` float in [0, 1] (any ``H``, resized to 48 px) back into
    ``Scene``s: an object in each cell whose most likely class is a shape, in reading order."""
    judge.eval()
    x = _prepare(images)
    out: list[Scene] = []
    for start in range(0, x.shape[0], batch):
        cell, background = judge(x[start : start + batch])
        shape = cell[..., :4].argmax(-1)
        color = cell[..., 4:12].argmax(-1)
        size = cell[..., 12:].argmax(-1)
        bg = background.argmax(-1)
        for i in range(shape.shape[0]):
            objects = tuple(
                SceneObject(SHAPES[int(shape[i, c]) - 1], COLOR_NAMES[int(color[i, c])], SIZES[int(size[i, c])],
                            POSITIONS[c])
                for c in range(9) if int(shape[i, c]) > 0
            )  # fmt: skip
            out.append(Scene(objects, COLOR_NAMES[int(bg[i])]))
    return out


def score(pred: Scene, target: Scene) -> dict[str, float]:
    """Per-attribute correctness of a judged image against the scene its prompt asked for.

    Objects are compared cell by cell. ``shape``, ``color``, ``size``: the fraction of the
    asked objects that the image holds at the stated cell with that attribute (an absent
    object is wrong on all three); ``position``: the asked objects present at their cells
    over the asked objects plus the objects drawn in cells where none was asked (each extra
    one is a position error); ``background``: 1 or 0; ``all``: 1 when the image is exactly
    the asked scene (every object and attribute, nothing extra, the background).
    """
    asked = {o.position: o for o in target.objects}
    drawn = {o.position: o for o in pred.objects}
    n = max(len(asked), 1)
    right = dict.fromkeys(("shape", "color", "size"), 0)
    present = 0
    for cell, o in asked.items():
        got = drawn.get(cell)
        if got is None:
            continue
        present += 1
        for k in right:
            right[k] += getattr(got, k) == getattr(o, k)
    extra = sum(1 for cell in drawn if cell not in asked)
    out = {k: v / n for k, v in right.items()}
    out["position"] = present / (len(asked) + extra) if asked or extra else 1.0
    out["background"] = float(pred.background == target.background)
    exact = pred.background == target.background and extra == 0 and present == len(asked)
    exact = exact and all(right[k] == len(asked) for k in right)
    out["all"] = float(exact)
    return out


def mean_scores(preds: Sequence[Scene], targets: Sequence[Scene]) -> dict[str, float]:
    """``score`` averaged over images (each image counts once), with ``n``."""
    rows = [score(p, t) for p, t in zip(preds, targets)]
    out = {k: float(np.mean([r[k] for r in rows])) if rows else float("nan") for k in ATTRIBUTES}
    out["n"] = len(rows)
    return out


# ----------------------------------------------------------------------------- training and cache


def _key(settings: dict[str, Any]) -> str:
    blob = json.dumps({**settings, "train_seed": TRAIN_SEED, "eval_seed": EVAL_SEED, "version": 2}, sort_keys=True)
    return hashlib.sha1(blob.encode()).hexdigest()[:8]


def train_judge(settings: dict[str, Any], log: Any = print) -> tuple[SceneJudge, dict[str, Any]]:
    """Train a judge with ``settings`` (``FULL`` or ``QUICK``) on ``TRAIN_SEED`` scenes and
    measure it on ``EVAL_SEED`` scenes; returns it and its record (settings, seconds, accuracy)."""
    t0 = time.perf_counter()
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    images, targets, _ = render_set(TRAIN_SEED, settings["train_images"])
    judge = SceneJudge(settings["width"])
    opt = torch.optim.AdamW(judge.parameters(), lr=settings["lr"], weight_decay=1e-4)
    steps, batch = settings["steps"], settings["batch"]
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=settings["lr"], total_steps=steps, pct_start=0.15)
    judge.train()
    for step in range(steps):
        idx = torch.randint(0, images.shape[0], (batch,), generator=gen)
        x = augment(images[idx].float() / 255.0, gen, settings["jitter"], settings["blur"], settings["noise"])
        cell, background = judge(x)
        loss = _loss(cell, background, targets[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if log is not None and (step + 1) % max(steps // 6, 1) == 0:
            log(f"  judge step {step + 1}/{steps}: loss {loss.item():.4f} ({time.perf_counter() - t0:.0f} s)")
    train_seconds = time.perf_counter() - t0
    record = {"settings": settings, "train_seed": TRAIN_SEED, "eval_seed": EVAL_SEED,
              "train_seconds": round(train_seconds, 1), "accuracy": evaluate_judge(judge, settings)}
    return judge, record


def evaluate_judge(judge: SceneJudge, settings: dict[str, Any]) -> dict[str, dict[str, float]]:
    """The judge on ``settings["eval_images"]`` real held-out scenes (``EVAL_SEED``): clean,
    and with the training augmentation (a fixed draw) as a stand-in for generated images' flaws."""
    images, _, scenes = render_set(EVAL_SEED, settings["eval_images"])
    x = images.float() / 255.0
    out = {"clean": mean_scores(judge_images(judge, x), scenes)}
    flawed = augment(x, torch.Generator().manual_seed(1), settings["jitter"], settings["blur"], settings["noise"])
    out["augmented"] = mean_scores(judge_images(judge, flawed), scenes)
    return out


def load_or_train(work: Path, quick: bool = False, log: Any = print) -> tuple[SceneJudge, dict[str, Any]]:
    """The judge cached in ``work`` (the full one, also for ``quick`` when present), else one
    trained now (``QUICK`` settings for ``quick``) and cached there."""
    from safetensors.torch import load_file, save_file

    work.mkdir(parents=True, exist_ok=True)
    for settings in ((FULL,) if not quick else (FULL, QUICK)):
        path = work / f"scenes-judge-{_key(settings)}.safetensors"
        meta = path.with_suffix(".json")
        if path.is_file() and meta.is_file():
            record = json.loads(meta.read_text())
            judge = SceneJudge(settings["width"])
            judge.load_state_dict(load_file(str(path)))  # safetensors: tensors only, no pickle
            judge.eval()
            record["reused"] = str(path)
            return judge, record
    settings = QUICK if quick else FULL
    path = work / f"scenes-judge-{_key(settings)}.safetensors"
    if log is not None:
        log(f"training the scenes judge ({settings['steps']} steps, {settings['train_images']} images, "
            f"cached as {path})...")
    judge, record = train_judge(settings, log)
    save_file({k: v.contiguous() for k, v in judge.state_dict().items()}, str(path))
    path.with_suffix(".json").write_text(json.dumps(record, indent=1))
    judge.eval()
    record["reused"] = None
    return judge, record
