"""Weights atelier ships inside the package, and loading a restoration model from a name or path.

``PRETRAINED`` names the shipped models; each lives in ``atelier/weights/<name>/`` as
``model.safetensors`` + ``model.json`` (what :func:`atelier.models.save_model` writes) and a
``recipe.json`` saying how it was trained (the command, the training time, a summary of the
validation curve). They are produced by atelier's own training recipes on ``photos80``
(``atelier train sr | denoise | style | inpaint ...``); an install without them gets a
clear error saying how to train one.

Example
-------
>>> sorted(PRETRAINED)  # doctest: +NORMALIZE_WHITESPACE
['adain', 'caption-emoji', 'caption-scenes', 'cgan-mnist', 'cvae-mnist', 'dcgan-mnist', 'denoise', 'denoise-real',
 'diffusion-mnist', 'inpaint', 'sr-x2', 'sr-x3', 'sr-x4', 'sr-x4-perceptual', 'sr-x4-real', 'style-monet', 'style-scream', 'style-starry', 't2i-emoji', 't2i-scenes', 'vae-mnist']
>>> PRETRAINED["sr-x4"].train_command
'atelier train sr --data DIR --scale 4 --out RUN'
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from atelier.errors import AtelierError, InvalidArgument, lookup

__all__ = [
    "PRETRAINED",
    "Pretrained",
    "WEIGHTS_ROOT",
    "RECIPE_FILE",
    "pretrained_dir",
    "is_installed",
    "load_pretrained",
    "pretrained_recipe",
    "run_recipe",
    "ship_run",
    "load_restoration_model",
    "describe_pretrained",
]

#: Where the shipped weights live (``atelier/weights``); tests point it elsewhere.
WEIGHTS_ROOT = Path(__file__).resolve().parent / "weights"
RECIPE_FILE = "recipe.json"


@dataclass(frozen=True)
class Pretrained:
    """A shipped model: its task, its scale (1 but for super-resolution) and the command that trains it."""

    name: str
    task: Literal["sr", "denoise", "style", "adain", "inpaint", "caption", "diffusion", "sample"]
    scale: int
    train_command: str
    summary: str
    use: str = ""


PRETRAINED: dict[str, Pretrained] = {
    f"sr-x{s}": Pretrained(
        f"sr-x{s}", "sr", s, f"atelier train sr --data DIR --scale {s} --out RUN",
        f"x{s} super-resolution (EDSR-style, trained on photos80)",
        f"atelier upscale PHOTO -o OUT.png --scale {s}",
    )
    for s in (2, 3, 4)
}
PRETRAINED["sr-x4-perceptual"] = Pretrained(
    "sr-x4-perceptual", "sr", 4,
    "atelier train sr --data DIR --scale 4 --set loss=perceptual --init-from sr-x4 --out RUN",
    "x4 perceptual super-resolution (ESRGAN-style: sr-x4 fine-tuned with L1 + VGG19 conv5_4 + RaGAN "
    "PatchGAN, blended 0.2/0.8 with sr-x4 by network interpolation); sharper texture, lower PSNR",
    "atelier upscale PHOTO --scale 4 --model sr-x4-perceptual -o OUT.png",
)
PRETRAINED["denoise"] = Pretrained(
    "denoise", "denoise", 1,
    "atelier train drunet --data DIR --sigma 0:50 --set width=32 --set max_width=128 --set steps=12000 --out RUN",
    "colour denoiser for Gaussian noise of sigma 0..50 (DRUNet: a U-Net of residual blocks with a "
    "noise-level map, 8-bit weights)",
    "atelier denoise PHOTO -o OUT.png [--sigma 25]",
)
PRETRAINED["denoise-real"] = Pretrained(
    "denoise-real", "denoise", 1,
    "atelier train denoise --data DIR --set noise_map=false --set degradation=real --out RUN",
    "blind colour denoiser for noise with JPEG artefacts and mild blur (DnCNN/FFDNet layout trained "
    "on Real-ESRGAN's degradations)",
    "atelier denoise PHOTO.jpg --jpeg -o OUT.png",
)
PRETRAINED["sr-x4-real"] = Pretrained(
    "sr-x4-real", "sr", 4,
    "atelier train sr --data DIR --scale 4 --set degradation=real --init-from sr-x4 --out RUN",
    "x4 super-resolution for real photos (blur, noise, JPEG): sr-x4 fine-tuned on Real-ESRGAN's "
    "second-order degradations",
    "atelier upscale PHOTO.jpg --scale 4 --model sr-x4-real -o OUT.png",
)

_LIGHT_STYLE = ("--set width=16 --set res_width=48 --set up_width=8 --set blocks=3 --set out_kernel=3 "
                "--set padding=reflect --set data.max_side=384 --set patch=128 --set style_size=384 "
                "--set content_weight=3000 --set steps=1200")
for _name, _painting, _what in (
    ("style-starry", "starry_night.jpg", "Van Gogh's The Starry Night (1889)"),
    ("style-scream", "the_scream.jpg", "Munch's The Scream (1893)"),
    ("style-monet", "monet-charing_cross_bridge.jpg", "Monet's Charing Cross Bridge (1899-1901)"),
):
    PRETRAINED[_name] = Pretrained(
        _name, "style", 1,
        f"atelier train style --style ../shared/data/styles/{_painting} --data ../shared/data/photos80 --out RUN "
        f"{_LIGHT_STYLE}",
        f"feed-forward style network: {_what}; light variant, 0.16 M parameters",
        f"atelier stylize PHOTO --model {_name} -o OUT.png",
    )
# Arbitrary style transfer (AdaIN): one model for any style image; the task ``adain`` routes
# ``atelier stylize --model adain --style S`` to it. Not in this install until a maintainer ships it.
PRETRAINED["adain"] = Pretrained(
    "adain", "adain", 1,
    "atelier train adain --data ../shared/data/photos80 --set styles=../shared/data/styles --out RUN",
    "arbitrary style transfer (AdaIN, Huang & Belongie 2017): any style image, style mixing, "
    "content-style trade-off, masks, colour preservation; VGG19 encoder + trained decoder",
    "atelier stylize PHOTO --model adain --style STYLE.jpg [--alpha 0.8] -o OUT.png",
)
PRETRAINED["inpaint"] = Pretrained(
    "inpaint", "inpaint", 1, "atelier train inpaint --data DIR --out RUN --set width=24 --set steps=1800 --set data.holdout=15",
    "inpainting: smooth pyramid fill corrected by a gated-convolution U-Net, trained on photos80",
    "atelier inpaint PHOTO --mask MASK.png --method inpaint -o OUT.png",
)

# Captioners (issue 12): not trained yet in this install until a maintainer ships them
# (``ship_run`` copies the run's tokenizer.json beside model.json).
PRETRAINED["caption-scenes"] = Pretrained(
    "caption-scenes", "caption", 1, "atelier train caption --data scenes --out RUN",
    "captioner of the synthetic scenes (EfficientNet-Lite0 grid + Transformer decoder)",
    "atelier caption IMAGE --model caption-scenes [--attention DIR]",
)
PRETRAINED["caption-emoji"] = Pretrained(
    "caption-emoji", "caption", 1,
    "atelier train caption --data ../shared/data/emoji72 --set group_by=skin-tone --out RUN",
    "emoji captioner (EfficientNet-Lite0 grid + Transformer decoder, skin tones held out)",
    "atelier caption IMAGE [--attention DIR]",
)

# Diffusion models (issue 13; ``ship_run`` copies the run's scheduler.json and tokenizer.json
# beside model.json).
PRETRAINED["t2i-scenes"] = Pretrained(
    "t2i-scenes", "diffusion", 1,
    "atelier train diffusion --data scenes --set cond=text --set resolution=48 --set patch_size=2 --set width=32 "
    "--set res_blocks=1 --set attention_resolutions=[12,6] --set text_dim=128 --set text_layers=2 "
    "--set text_max_length=40 --set position_embedding=true --set text_layout=12 --set lr=5e-4 --set dropout=0 "
    "--set batch_size=32 --set steps=4500 --out RUN",
    "text-to-image diffusion on the synthetic scenes (48 px U-Net, cross-attention to its own text encoder)",
    'atelier generate "a large red circle in the center on a white background" --model t2i-scenes -o grid.png',
)
PRETRAINED["t2i-emoji"] = Pretrained(
    "t2i-emoji", "diffusion", 1,
    "atelier train diffusion --data ../shared/data/emoji72 --set group_by=skin-tone --set cond=text "
    "--set resolution=48 --set patch_size=2 --set width=48 --set res_blocks=1 --set attention_resolutions=[6] "
    "--set text_dim=128 --set text_layers=2 --set text_max_length=16 --set batch_size=32 --set steps=4000 --out RUN",
    "text-to-image diffusion on emoji72 (U-Net with cross-attention to its own text encoder)",
    'atelier generate "smiling face with sunglasses" --model t2i-emoji -o grid.png',
)
PRETRAINED["diffusion-mnist"] = Pretrained(
    "diffusion-mnist", "diffusion", 1,
    "atelier train diffusion --data idx:../shared/data/mnist10k --set cond=label --set width=32 --set res_blocks=1 "
    "--set attention_resolutions=[8] --set steps=3000 --out RUN",
    "class-conditional diffusion of MNIST digits (U-Net with a class embedding, classifier-free guidance)",
    "atelier sample diffusion-mnist -n 64 --label 3 -o grid.png",
)

# The generative zoo (issue 15): MNIST digits at 32 px, images 0-7999 of ../shared/data/mnist10k,
# each the best recipe atelier has for its family; `atelier sample NAME` needs no training.
_MNIST = "--data idx:../shared/data/mnist10k --set data.split=0:8000"
for _name, _family, _sets, _what, _use in (
    ("dcgan-mnist", "cgan", "--set data.clusters=50 --set steps=2500",
     "unconditional; DCGAN layers conditioned on 50 k-means clusters of the digits (a self-conditioned "
     "GAN), drawn in proportion to the clusters", "-n 64"),
    ("cgan-mnist", "cgan", "--set steps=5000", "class-conditional GAN (projection discriminator, AC-GAN term)",
     "--label 7 -n 64"),
    ("vae-mnist", "vae", "", "VAE with a mixture prior fitted to its latents", "-n 64"),
    ("cvae-mnist", "cvae", "", "class-conditional VAE", "--label 7 -n 64"),
):
    PRETRAINED[_name] = Pretrained(
        _name, "sample", 1, f"atelier train {_family} {_MNIST} {_sets} --out RUN".replace("  ", " "),
        f"MNIST digits, 32 px: {_what}", f"atelier sample {_name} {_use} -o grid.png",
    )


def _root(root: str | os.PathLike | None) -> Path:
    return Path(root) if root is not None else WEIGHTS_ROOT


def pretrained_dir(name: str, *, root: str | os.PathLike | None = None) -> Path:
    """The folder of shipped model ``name`` (it may be missing from this install)."""
    lookup(PRETRAINED, name, "shipped model")
    return _root(root) / name


def is_installed(name: str, *, root: str | os.PathLike | None = None) -> bool:
    """True when this install holds the weights of shipped model ``name``."""
    from atelier.models.registry import CONFIG_FILE, WEIGHTS_FILE

    folder = pretrained_dir(name, root=root)
    return (folder / WEIGHTS_FILE).is_file() and (folder / CONFIG_FILE).is_file()


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _load_folder(folder: Path, what: str, device: str):
    """``load_model`` with every failure as one ``InvalidArgument`` line naming ``what``."""
    from atelier.devices import resolve_device
    from atelier.models import load_model

    device = str(resolve_device(device))  # an unknown or missing device is its own error, first
    try:
        return load_model(folder, device=device)
    except AtelierError as exc:
        raise InvalidArgument(_one_line(f"cannot load {what}: {exc}")) from None


def load_pretrained(name: str, *, root: str | os.PathLike | None = None, device: str = "cpu"):
    """Load shipped model ``name`` (eval mode, on ``device``).

    Raises ``UnknownName`` for a name not in ``PRETRAINED``, and ``InvalidArgument`` when
    this install does not hold the weights (saying how to train them) or a file is corrupt.
    """
    from atelier.devices import resolve_device

    spec = lookup(PRETRAINED, name, "shipped model")
    device = str(resolve_device(device))
    folder = pretrained_dir(name, root=root)
    if not is_installed(name, root=root):
        raise InvalidArgument(
            f"the shipped weights {name!r} are not in this install (no {folder}); train them "
            f"with `{spec.train_command}`, then pass model=RUN"
        )
    return _load_folder(folder, f"the shipped weights {name!r}", device)


def describe_pretrained(name: str, *, root: str | os.PathLike | None = None) -> dict[str, Any]:
    """What ``atelier weights`` lists for shipped model ``name``: task, files, size, parameters.

    ``size_mb`` is the size on disk of its folder (weights, config, recipe) in MB (10^6
    bytes); ``parameters`` counts the network's parameters (built from ``model.json``, no
    weights read); ``best`` is the best validation record of its recipe. A model missing
    from this install has ``installed: False`` and no size or parameters.

    Example
    -------
    >>> d = describe_pretrained("sr-x4")
    >>> d["task"], d["model"], d["parameters"] > 0
    ('sr', 'edsr', True)
    """
    from atelier.models import build_model
    from atelier.models.registry import CONFIG_FILE

    spec = lookup(PRETRAINED, name, "shipped model")
    folder = pretrained_dir(name, root=root)
    info: dict[str, Any] = {
        "name": name, "task": spec.task, "scale": spec.scale, "summary": spec.summary,
        "use": spec.use, "train_command": spec.train_command, "installed": is_installed(name, root=root),
        "model": None, "size_mb": None, "parameters": None, "best": None, "path": str(folder),
    }
    if not info["installed"]:
        return info
    info["size_mb"] = round(sum(f.stat().st_size for f in folder.iterdir() if f.is_file()) / 1e6, 2)
    try:
        config = json.loads((folder / CONFIG_FILE).read_text("utf-8"))
        net = build_model(config["model"], config.get("config", {}))
    except (ValueError, KeyError, TypeError, AtelierError) as exc:
        raise InvalidArgument(_one_line(f"{folder / CONFIG_FILE} cannot be read ({exc}); re-export it")) from None
    info["model"] = config["model"]
    info["parameters"] = sum(p.numel() for p in net.parameters())
    recipe = pretrained_recipe(name, root=root)
    if recipe is not None:
        info["best"] = recipe.get("best")
        info["minutes"] = recipe.get("minutes")
    return info


def pretrained_recipe(name: str, *, root: str | os.PathLike | None = None) -> dict[str, Any] | None:
    """The ``recipe.json`` of shipped model ``name`` (command, time, validation), or None."""
    path = pretrained_dir(name, root=root) / RECIPE_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidArgument(_one_line(f"{path} is not valid JSON ({exc})")) from None


def load_restoration_model(source: Any, *, device: str = "cpu", root: str | os.PathLike | None = None):
    """A model from a shipped name, a run folder, a ``model.safetensors`` path, or a module.

    A module is returned as it is; anything else is loaded in eval mode on ``device``. Every
    failure (no such path, a folder without the two model files, a corrupt file) is one
    ``InvalidArgument`` line.
    """
    import torch

    from atelier.devices import resolve_device

    if isinstance(source, torch.nn.Module):
        return source
    device = str(resolve_device(device))  # before any file is read
    if isinstance(source, str) and source in PRETRAINED:
        return load_pretrained(source, root=root, device=device)
    if not isinstance(source, (str, os.PathLike)):
        raise InvalidArgument(
            f"model must be a shipped name ({', '.join(sorted(PRETRAINED))}), a run folder, a "
            f"model.safetensors path or a loaded model, got {type(source).__name__}"
        )
    from atelier.models.registry import WEIGHTS_FILE

    path = Path(source).expanduser()
    if path.is_file() and path.name.endswith(".safetensors"):
        path = path.parent
    elif not path.exists():
        raise InvalidArgument(
            f"model {source}: no such run folder or file, and not a shipped model "
            f"({', '.join(sorted(PRETRAINED))})"
        )
    elif not path.is_dir():
        raise InvalidArgument(f"model {source}: give a run folder or its {WEIGHTS_FILE}")
    return _load_folder(path, f"model {source}", device)


_REFERENCES = ("val_bicubic", "val_noisy", "val_telea", "val_content", "val_style", "val_psnr")


def run_recipe(run: str | os.PathLike, command: str) -> dict[str, Any]:
    """How run folder ``run`` was trained, from its ``config.json`` and ``log.jsonl``.

    ``minutes`` is the wall time of the training steps as the log measured it (each record's
    ``images_per_s`` over its window, validation and checkpoints included); ``validation``
    lists every ``(step, metric)`` with the references the objective logs beside it
    (``val_bicubic`` for super-resolution, ``val_noisy`` for denoising, ``val_telea`` for
    inpainting; the metric is ``val_psnr``, higher is better, for captioners ``val_cider_d``,
    higher is better, for style networks ``val_loss``, lower is better, with its
    ``val_content`` and ``val_style`` terms, or whatever the log's ``best_*`` records say the
    run picked its export by: ``val_vgg``, lower is better, beside ``val_psnr`` for perceptual
    super-resolution).
    ``data`` and ``data_options`` are the run's data settings (``atelier evaluate caption``
    reads them to find the images a shipped captioner never saw).
    """
    folder = Path(run)
    spec = json.loads((folder / "config.json").read_text("utf-8"))
    records = [json.loads(line) for line in (folder / "log.jsonl").read_text("utf-8").splitlines() if line]
    batch = spec["train"]["batch_size"]
    seconds, last = 0.0, 0
    higher = ("val_psnr", "val_cider_d")  # higher is better; else val_loss, lower is better
    metric = next((m for m in higher if any(m in r for r in records)), "val_loss")
    chosen = [k[5:] for r in records for k in r if k.startswith("best_") and k != "best_step"]
    if chosen:  # the metric the Trainer picked the export by (val_vgg for a perceptual SR run)
        metric = chosen[-1]
    curve: list[dict[str, float]] = []
    for record in records:
        if "images_per_s" in record:
            if record["step"] > last:  # a resumed run repeats no step it had logged
                seconds += (record["step"] - last) * batch / max(record["images_per_s"], 1e-9)
                last = record["step"]
        elif record.get(metric) is not None:  # null: a non-finite figure
            curve = [c for c in curve if c["step"] < record["step"]]
            reference = {k: v for k, v in record.items() if k in _REFERENCES}
            curve.append({"step": record["step"], metric: record[metric], **reference})
    pick = max if metric in higher else min
    best = pick(curve, key=lambda c: c[metric]) if curve else None
    return {
        "command": command,
        "model": spec["model"],
        "data": spec.get("data"),  # what it trained on, so an evaluation can find its held-out part
        "data_options": spec.get("data_options") or {},
        "model_config": spec["model_config"],
        "hyper": spec["hyper"],
        "steps": spec["train"]["steps"],
        "batch_size": batch,
        "minutes": round(seconds / 60, 1),
        "best": best,
        "validation": curve,
    }


def ship_run(
    run: str | os.PathLike, name: str, command: str, *, root: str | os.PathLike | None = None, bits: int = 32,
    note: str | None = None,
) -> Path:
    """Copy run folder ``run``'s exported model into shipped model ``name``, with its recipe.

    Maintainers' step after training: ``python -c "from atelier.pretrained import ship_run;
    ship_run('runs/sr-x4', 'sr-x4', 'atelier train sr ...')"``. The files are written
    atomically; the model is loaded first, so a corrupt export is never shipped. ``bits``:
    32 copies the weights as they are; 16 stores float16; 8 stores 8-bit codes per output
    channel (:mod:`atelier.models.quantize`, a quarter of the size). Loading gives float32.
    ``note``: free text kept in the recipe (how the run was split, what shared the machine).
    """
    from atelier.image import write_atomic
    from atelier.models.registry import CONFIG_FILE, WEIGHTS_FILE

    spec = lookup(PRETRAINED, name, "shipped model")
    model = _load_folder(Path(run), f"run {run}", "cpu")
    scale = int(getattr(model, "scale", 1) or 1)
    if scale != spec.scale:
        raise InvalidArgument(f"{run} holds a x{scale} model; {name} is x{spec.scale}")
    recipe = run_recipe(run, command)
    if note:
        recipe["note"] = note
    folder = pretrained_dir(name, root=root)
    folder.mkdir(parents=True, exist_ok=True)
    write_atomic(folder / CONFIG_FILE, (Path(run) / CONFIG_FILE).read_bytes())
    if bits not in (8, 16, 32):
        raise InvalidArgument(f"bits must be 8, 16 or 32, got {bits}")
    if bits == 32:
        write_atomic(folder / WEIGHTS_FILE, (Path(run) / WEIGHTS_FILE).read_bytes())
    else:
        from safetensors.torch import save

        from atelier.models.quantize import quantize_state

        weights = model.state_dict()
        state = quantize_state(weights) if bits == 8 else {
            k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in weights.items()
        }
        write_atomic(folder / WEIGHTS_FILE, save(state, metadata={"model": spec.name, "bits": str(bits)}))
    from atelier.schedulers import SCHEDULER_FILE
    from atelier.text import TOKENIZER_FILE

    for extra in (TOKENIZER_FILE, SCHEDULER_FILE):  # a captioner's tokenizer, a diffusion model's schedule
        if (Path(run) / extra).is_file():
            write_atomic(folder / extra, (Path(run) / extra).read_bytes())
    write_atomic(folder / RECIPE_FILE, (json.dumps(recipe, indent=1) + "\n").encode())
    return folder
