"""What the studio lists: its training runs, and which tasks each model serves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from atelier.errors import AtelierError, InvalidArgument
from atelier.server.app import _error
from atelier.server.storage import Storage
from atelier.tasks.registry import is_safe_name

__all__ = ["list_runs", "run_folder", "tasks_of"]


#: The tasks that use a model of each kind (a shipped model's task or a run's model family).
_TASKS_OF_KIND = {"sr": ["upscale"], "edsr": ["upscale"], "espcn": ["upscale"], "denoise": ["denoise"],
                  "dncnn": ["denoise"], "drunet": ["denoise"], "style": ["stylize"], "adain": ["stylize"],
                  "inpaint": ["inpaint"], "caption": ["caption"],
                  "captioner": ["caption"], "text-gan": ["generate"], "dcgan": ["sample"], "cgan": ["sample"],
                  "vae": ["sample"], "cvae": ["sample"], "vaegan": ["sample"], "sample": ["sample"]}


def tasks_of(kind: str, name: str, storage: Storage | None = None) -> list[str]:
    """The tasks a model serves; a diffusion model's depend on its conditioning (text: generate
    and inpaint; otherwise sample and inpaint)."""
    if kind != "diffusion":
        return _TASKS_OF_KIND.get(kind, [])
    try:
        source = name if storage is None else str(storage.runs / name)
        cond = _diffusion_cond(source)
    except AtelierError:
        return []
    return ["generate", "inpaint"] if cond == "text" else ["sample", "inpaint"]


def _diffusion_cond(source: str) -> str:
    """A diffusion model's conditioning (``text``, ``label`` or ``none``) from its model.json."""
    from atelier.pretrained import PRETRAINED, pretrained_dir

    folder = pretrained_dir(source) if source in PRETRAINED else Path(source)
    try:
        config = json.loads((folder / "model.json").read_text())["config"]
    except (OSError, KeyError, json.JSONDecodeError):
        raise InvalidArgument(f"{source}: no readable model.json") from None
    return str(config.get("cond", "none"))


def run_folder(storage: Storage, name: str) -> Path:
    """The folder of the run ``name``; 404 when there is none."""
    if not is_safe_name(name) or not (storage.runs / name / "config.json").is_file():
        raise _error(404, f"no run {name!r}")
    return storage.runs / name


def list_runs(storage: Storage) -> list[dict[str, Any]]:
    """The training runs under the home: name, model, data, steps, step reached, sample grids."""
    from atelier.tasks.training import run_step

    out = []
    if not storage.runs.is_dir():
        return out
    for folder in sorted(storage.runs.iterdir()):
        config = folder / "config.json"
        if not (is_safe_name(folder.name) and config.is_file()):
            continue
        try:
            spec = json.loads(config.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        samples = sorted(p.name for p in (folder / "samples").glob("step-*.png"))
        out.append({"name": folder.name, "model": spec.get("model"), "data": Path(str(spec.get("data"))).name,
                    "steps": spec.get("train", {}).get("steps"), "step": run_step(folder),
                    "samples": samples, "exported": (folder / "model.json").is_file()})
    return out
