"""What every diffusion sampling task shares: the loaded model, its sampler, its condition.

A diffusion model folder (a training run or a shipped model) holds ``model.json`` +
``model.safetensors`` (the U-Net, EMA weights), ``scheduler.json`` (the noise schedule it was
trained with) and, for text-conditional models, ``tokenizer.json``.
:func:`load_diffusion` reads the three into one :class:`DiffusionModel` (a small cache keeps
the last two loaded, so a server or a notebook does not re-read them for each request);
:func:`make_sampler` builds a fresh scheduler of the chosen sampler (``ddim``, ``ddpm``,
``dpm``) on the saved schedule for each run; :func:`make_condition` turns prompts or labels
into the per-image condition, checking the prompts against the model's vocabulary; and
:func:`guided_output` is the model call of one timestep with classifier-free guidance (Ho &
Salimans 2022): the conditional and unconditional rows in one batched call, ``uncond + g *
(cond - uncond)`` on the model's output (noise or velocity alike).

Example
-------
>>> import torch
>>> from atelier.models import build_model
>>> from atelier.schedulers import get_scheduler
>>> net = build_model("diffusion", {"resolution": 16, "channels": 1, "width": 16, "channel_mults": [1, 2],
...                                 "attention_resolutions": [8], "cond": "label", "num_classes": 3})
>>> model = DiffusionModel(net.eval(), get_scheduler("ddpm", {"num_train_timesteps": 50}))
>>> cond = make_condition(model, labels=2, n=4)
>>> cond.labels.tolist()
[2, 2, 2, 2]
>>> make_sampler(model, "dpm").name
'dpm++2m'
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, NamedTuple, Sequence

import numpy as np
import torch

from atelier.devices import model_device, resolve_device
from atelier.errors import AtelierError, InvalidArgument, lookup

__all__ = [
    "DiffusionModel",
    "DiffusionWarning",
    "Condition",
    "SAMPLERS",
    "load_diffusion",
    "is_diffusion_source",
    "make_sampler",
    "make_condition",
    "check_prompt",
    "guided_output",
    "check_guidance",
    "check_steps",
    "clear_cache",
    "Sampling",
    "start_sampling",
    "sampling_mode",
]

#: Sampler names the tasks take -> registered scheduler names (``dpm`` is DPM-Solver++ 2M).
SAMPLERS = {"ddim": "ddim", "ddpm": "ddpm", "dpm": "dpm++2m", "dpm++2m": "dpm++2m"}
#: How many loaded models the cache keeps.
CACHE_SIZE = 2
#: The guidance scale of a model whose recipe names none (diffusers' pipelines default to 7.5
#: for large models; small ones trained here sit best lower).
DEFAULT_GUIDANCE = 3.0


class DiffusionWarning(UserWarning):
    """Sampling goes on, but not exactly as asked: a prompt with unknown words or cut to the
    model's length, an init image resized to the model's size."""


class ImageNet:
    """What a ready-to-sample model (``self.net``) tells about its images: ``resolution``,
    ``channels`` (from the net's config) and the ``device`` its weights are on. Shared by
    :class:`DiffusionModel` and :class:`atelier.tasks.text_gan.TextGANModel`."""

    net: torch.nn.Module

    @property
    def resolution(self) -> int:
        return int(self.net.config.resolution)

    @property
    def channels(self) -> int:
        return int(self.net.config.channels)

    @property
    def device(self) -> torch.device:
        return model_device(self.net)


@dataclass
class DiffusionModel(ImageNet):
    """A diffusion model ready to sample: the U-Net, the scheduler saved with it (its noise
    schedule and prediction type), the tokenizer of a text model, and a name for messages.

    Build one by hand for a model in memory: ``DiffusionModel(net, get_scheduler("ddpm",
    {...}), tokenizer)``; :func:`load_diffusion` builds it from a folder.
    """

    net: torch.nn.Module
    scheduler: Any  # atelier.schedulers.Scheduler: the training schedule, a template for samplers
    tokenizer: Any = None  # atelier.text.CaptionTokenizer for cond="text"
    name: str = "the diffusion model"
    guidance: float = DEFAULT_GUIDANCE  # used when a caller gives none; a recipe.json "guidance" sets it

    def __post_init__(self) -> None:
        from atelier.schedulers import Scheduler

        config = getattr(self.net, "config", None)
        if not isinstance(self.net, torch.nn.Module) or getattr(config, "cond", None) not in ("none", "label", "text"):
            raise InvalidArgument(f"{self.name}: net must be a diffusion U-Net (atelier model 'diffusion')")
        self.guidance = check_guidance(self.guidance)
        if not isinstance(self.scheduler, Scheduler):
            raise InvalidArgument(f"{self.name}: scheduler must be an atelier scheduler (atelier.schedulers.get_scheduler)")
        if config.cond == "text":
            if self.tokenizer is None:
                raise InvalidArgument(f"{self.name} is text-conditional but has no tokenizer (tokenizer.json)")
            if self.tokenizer.vocab_size > config.vocab_size:
                raise InvalidArgument(
                    f"{self.name}: the tokenizer has {self.tokenizer.vocab_size} ids but the model only "
                    f"{config.vocab_size}; they do not belong together"
                )

    @property
    def cond(self) -> str:
        """``"none"``, ``"label"`` or ``"text"``."""
        return self.net.config.cond



# ----------------------------------------------------------------------------- loading

_CACHE: OrderedDict[tuple, DiffusionModel] = OrderedDict()


def clear_cache() -> None:
    """Forget the loaded models."""
    _CACHE.clear()


def _model_name_of(folder: Path) -> str | None:
    """The ``model`` field of ``folder/model.json``, or None when it cannot be read."""
    try:
        return json.loads((folder / "model.json").read_text("utf-8"))["model"]
    except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError):
        return None


def is_diffusion_source(source: Any) -> bool:
    """True for a :class:`DiffusionModel`, a shipped diffusion name, or a folder (or its
    ``model.safetensors``) whose ``model.json`` names the ``diffusion`` model."""
    from atelier.pretrained import PRETRAINED

    if isinstance(source, DiffusionModel):
        return True
    if isinstance(source, str) and source in PRETRAINED:
        return PRETRAINED[source].task == "diffusion"
    if not isinstance(source, (str, os.PathLike)):
        return False
    path = Path(source).expanduser()
    if path.is_file() and path.name.endswith(".safetensors"):
        path = path.parent
    return path.is_dir() and _model_name_of(path) == "diffusion"


def _folder_of(source: str | os.PathLike) -> tuple[Path, str]:
    """The model folder of a shipped name or a path, and how to name it in messages."""
    from atelier.pretrained import PRETRAINED, is_installed, pretrained_dir

    if isinstance(source, str) and source in PRETRAINED:
        spec = PRETRAINED[source]
        if spec.task != "diffusion":
            raise InvalidArgument(f"{source!r} is a shipped {spec.task} model, not a diffusion model")
        if not is_installed(source):
            raise InvalidArgument(
                f"the shipped model {source!r} is not trained yet in this install; train it with "
                f"`{spec.train_command}` and use that run folder"
            )
        return pretrained_dir(source), f"the shipped model {source!r}"
    path = Path(source).expanduser()
    if path.is_file() and path.name.endswith(".safetensors"):
        path = path.parent
    shipped = sorted(n for n, p in PRETRAINED.items() if p.task == "diffusion")
    if not path.exists():
        import difflib

        close = difflib.get_close_matches(str(source), shipped, n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        raise InvalidArgument(
            f"{source}: no such run folder, and not a shipped diffusion model ({', '.join(shipped)}){hint}"
        )
    if not path.is_dir():
        raise InvalidArgument(f"{source} is a file; give a run folder (model.json, model.safetensors, scheduler.json)")
    return path, str(source)


def load_diffusion(source: Any, *, device: str | torch.device = "cpu") -> DiffusionModel:
    """A :class:`DiffusionModel` from a shipped name, a run folder (or its
    ``model.safetensors``), or a ``DiffusionModel`` (returned as it is, on ``device``).

    The last :data:`CACHE_SIZE` folders loaded are kept (by path, file times and device).
    Every failure (no such folder, a folder of another model, a missing ``scheduler.json`` or
    ``tokenizer.json``, a corrupt file, a shipped model not trained yet) is one
    ``InvalidArgument`` line.
    """
    dev = resolve_device(device)
    if isinstance(source, DiffusionModel):
        source.net.to(dev)
        return source
    if isinstance(source, torch.nn.Module):
        raise InvalidArgument(
            "a bare network has no noise schedule: give a run folder, a shipped name, or "
            "DiffusionModel(net, scheduler, tokenizer)"
        )
    if not isinstance(source, (str, os.PathLike)):
        raise InvalidArgument(f"a diffusion model is a run folder or a shipped name, got {type(source).__name__}")
    folder, what = _folder_of(source)
    kind = _model_name_of(folder)
    if kind is not None and kind != "diffusion":
        raise InvalidArgument(f"{what} holds a {kind} model, not a diffusion model")
    stamp = tuple(
        (folder / f).stat().st_mtime_ns if (folder / f).is_file() else 0
        for f in ("model.json", "model.safetensors", "scheduler.json", "tokenizer.json", "recipe.json")
    )
    key = (str(folder.resolve()), stamp, str(dev))
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    model = _read(folder, what, dev)
    _CACHE[key] = model
    while len(_CACHE) > CACHE_SIZE:
        _CACHE.popitem(last=False)
    return model


def _read(folder: Path, what: str, dev: torch.device) -> DiffusionModel:
    from atelier.models import load_model
    from atelier.schedulers import load_scheduler
    from atelier.text import TOKENIZER_FILE, CaptionTokenizer

    try:
        net = load_model(folder, device=str(dev))
        scheduler = load_scheduler(folder)
    except AtelierError as exc:
        raise InvalidArgument(" ".join(f"cannot load {what}: {exc}".split())) from None
    tokenizer = None
    if net.config.cond == "text":
        if not (folder / TOKENIZER_FILE).is_file():
            raise InvalidArgument(
                f"{what} is text-conditional but has no {TOKENIZER_FILE} (a training run writes it beside model.json)"
            )
        tokenizer = CaptionTokenizer.load(folder)
    return DiffusionModel(net.eval(), scheduler, tokenizer, what, _recipe_guidance(folder, what))


def _recipe_guidance(folder: Path, what: str) -> float:
    """The guidance scale a shipped model's ``recipe.json`` names (the one its benchmark
    measured best), else :data:`DEFAULT_GUIDANCE`."""
    path = folder / "recipe.json"
    if not path.is_file():
        return DEFAULT_GUIDANCE
    try:
        value = json.loads(path.read_text(encoding="utf-8")).get("guidance", DEFAULT_GUIDANCE)
    except (OSError, ValueError, AttributeError):
        raise InvalidArgument(f"cannot load {what}: recipe.json is not a JSON object") from None
    try:
        return check_guidance(value)
    except InvalidArgument as exc:
        raise InvalidArgument(f"cannot load {what}: recipe.json {exc}") from None


# ----------------------------------------------------------------------------- settings


def make_sampler(model: DiffusionModel, sampler: str = "ddim", eta: float = 0.0):
    """A fresh scheduler of ``sampler`` (``ddim``, ``ddpm``, ``dpm`` = ``dpm++2m``) on the
    model's saved schedule: the fields both configs declare are kept (schedule, prediction
    type, spacing, clipping), as ``load_scheduler(folder, as_=...)`` does. ``eta`` is DDIM's
    (0: deterministic, 1: DDPM's noise); another sampler refuses an ``eta`` other than 0."""
    from atelier.schedulers import get_scheduler, get_scheduler_spec

    name = lookup(SAMPLERS, sampler, "sampler")
    spec = get_scheduler_spec(name)
    fields = {f.name for f in dataclasses.fields(spec.config_class)}
    values = {k: v for k, v in dataclasses.asdict(model.scheduler.config).items() if k in fields}
    if isinstance(eta, bool) or not isinstance(eta, (int, float)) or not 0 <= eta <= 1:
        raise InvalidArgument(f"eta must be a number in [0, 1], got {eta!r}")
    if name == "ddim":
        values["eta"] = float(eta)
    elif eta != 0:
        raise InvalidArgument(f"eta is the ddim sampler's setting; the {sampler} sampler takes none (got {eta})")
    return get_scheduler(name, values)


def check_steps(steps: Any, model: DiffusionModel) -> int:
    """``steps`` as an int in 1 .. the model's training timesteps, or ``InvalidArgument``."""
    T = model.scheduler.config.num_train_timesteps
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or not 1 <= steps <= T:
        raise InvalidArgument(f"steps must be an integer from 1 to {T} (the model's training timesteps), got {steps!r}")
    return int(steps)


def check_guidance(guidance: Any) -> float:
    """``guidance`` as a float >= 0 (1: no guidance, 0: the unconditional model), or ``InvalidArgument``."""
    if isinstance(guidance, bool) or not isinstance(guidance, (int, float)) or not 0 <= guidance < math.inf:
        raise InvalidArgument(f"guidance must be a number >= 0 (1 = no guidance, 3 to 7 is usual), got {guidance!r}")
    return float(guidance)


# ----------------------------------------------------------------------------- conditions


@dataclass
class Condition:
    """The condition of ``n`` images: ``labels`` ``(n,)`` (label models), ``tokens`` and
    ``mask`` ``(n, L)`` (text models), or neither (unconditional); ``null`` True when every row
    takes the null condition (a conditional model sampled without one)."""

    kind: str
    labels: torch.Tensor | None = None
    tokens: torch.Tensor | None = None
    mask: torch.Tensor | None = None
    null: bool = False

    def rows(self, start: int, stop: int, model: DiffusionModel, device: torch.device) -> dict[str, Any]:
        """The model's keyword arguments for rows ``start:stop`` (the text encoded once here)."""
        if self.kind == "label":
            return {"labels": self.labels[start:stop].to(device)}
        if self.kind == "text":
            tokens, mask = self.tokens[start:stop].to(device), self.mask[start:stop].to(device)
            return {"text": model.net.encode_text(tokens, mask)}
        return {}


def check_prompt(prompt: Any, tokenizer: Any, max_length: int) -> list[int]:
    """The token ids of ``prompt`` (``[BOS] ... [EOS]``, cut to ``max_length``), checked.

    ``InvalidArgument`` for a prompt that is not text, is empty, or has no word the model's
    vocabulary knows (naming the unknown words and the share of the prompt the vocabulary
    covers). A :class:`DiffusionWarning` for a prompt with some unknown words (they are read
    as ``[UNK]``) or one longer than the model reads. Words are checked with word-level
    tokenizers; a byte-level BPE tokenizer reads any text, so only emptiness and length are.
    """
    from atelier.text import normalize

    if not isinstance(prompt, str):
        raise InvalidArgument(f"a prompt must be text, got {type(prompt).__name__}")
    words = normalize(prompt).split()
    if not words:
        raise InvalidArgument(f"the prompt {prompt!r} is empty: describe the image in words, e.g. 'a red circle'")
    if tokenizer.kind == "word":
        unknown = [w for w in words if tokenizer.token_to_id(w) is None]
        covered = 1 - len(unknown) / len(words)
        listed = ", ".join(dict.fromkeys(unknown))
        if len(unknown) == len(words):
            vocab = tokenizer.hf_tokenizer.get_vocab()
            known = [w for w, i in sorted(vocab.items(), key=lambda kv: kv[1]) if i >= len(tokenizer.special_ids)]
            raise InvalidArgument(
                f"the model never saw any word of the prompt {prompt!r} (unknown: {listed}; its vocabulary "
                f"covers 0 % of the prompt); it knows {len(known)} words, such as {', '.join(known[:8])}"
            )
        if unknown:
            warnings.warn(
                f"the model never saw {listed} in the prompt {prompt!r}: its vocabulary covers "
                f"{100 * covered:.0f} % of the prompt; unknown words are read as [UNK]",
                DiffusionWarning, stacklevel=3,
            )
    ids = tokenizer.encode(prompt)
    if len(ids) > max_length:
        warnings.warn(
            f"the prompt {prompt!r} is {len(ids)} tokens long; the model reads the first {max_length}",
            DiffusionWarning, stacklevel=3,
        )
        ids = ids[: max_length - 1] + [tokenizer.eos_id]
    return ids


def _cycle(values: Sequence[Any], n: int) -> list[Any]:
    return [values[i % len(values)] for i in range(n)]


def make_condition(model: DiffusionModel, *, prompts: Any = None, labels: Any = None, n: int) -> Condition:
    """The condition of ``n`` images.

    Text models take ``prompts``: one string for every image or a list cycled to ``n``
    (``None``: the null text, unconditional samples). Label models take ``labels``: one int,
    a list cycled to ``n``, or ``None`` to cycle through the classes. Unconditional models
    take neither. A prompt for a label model, a label for a text model and either for an
    unconditional model are ``InvalidArgument``.
    """
    cond = model.cond
    kinds = {"none": "unconditional", "label": "class-conditional", "text": "text-conditional"}
    if prompts is not None and cond != "text":
        takes = "a class label" if cond == "label" else "no condition"
        raise InvalidArgument(f"{model.name} is {kinds[cond]}: it takes {takes}, not a prompt")
    if labels is not None and cond != "label":
        takes = "a prompt" if cond == "text" else "no condition"
        raise InvalidArgument(f"{model.name} is {kinds[cond]}: it takes {takes}, not a label")
    if cond == "none":
        return Condition("none")
    if cond == "label":
        k = int(model.net.config.num_classes)
        if labels is None:
            values = list(range(k))
        elif isinstance(labels, (int, np.integer)) and not isinstance(labels, bool):
            values = [int(labels)]
        elif isinstance(labels, (list, tuple, np.ndarray, torch.Tensor)) and len(labels) > 0:
            values = [v.item() if hasattr(v, "item") else v for v in labels]
        else:
            values = []
        if not values or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
            raise InvalidArgument(f"labels must be one integer or a non-empty list of integers, got {labels!r}")
        bad = [int(v) for v in values if not 0 <= v < k]
        if bad:
            raise InvalidArgument(f"labels must be in 0..{k - 1} for {model.name}, got {bad[0]}")
        return Condition("label", labels=torch.tensor(_cycle(values, n), dtype=torch.long))
    max_length = int(model.net.config.text_max_length)
    tok = model.tokenizer
    if prompts is None:
        ids, null = [[tok.bos_id, tok.eos_id]], True
    else:
        texts = [prompts] if isinstance(prompts, str) else prompts
        if not isinstance(texts, (list, tuple)) or not texts:
            raise InvalidArgument(f"prompts must be a string or a non-empty list of strings, got {prompts!r:.60}")
        checked: dict[str, list[int]] = {}
        for text in texts:
            if not isinstance(text, str) or text not in checked:
                checked[text] = check_prompt(text, tok, max_length)
        ids, null = [checked[t] for t in texts], False
    rows = _cycle(ids, n)
    width = max(len(r) for r in rows)
    tokens = torch.full((n, width), tok.pad_id, dtype=torch.long)
    for i, r in enumerate(rows):
        tokens[i, : len(r)] = torch.tensor(r, dtype=torch.long)
    return Condition("text", tokens=tokens, mask=tokens != tok.pad_id, null=null)


# ----------------------------------------------------------------------------- the guided call


def _double(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The condition's keyword arguments for ``[cond rows; the same rows again]``."""
    out = {}
    for key, value in kwargs.items():
        if key == "text":
            out[key] = type(value)(*(torch.cat([part, part]) for part in value))
        else:
            out[key] = torch.cat([value, value])
    return out


def guided_output(net: torch.nn.Module, x: torch.Tensor, t: torch.Tensor, kwargs: dict[str, Any], *,
                  guidance: float, null: bool = False) -> torch.Tensor:
    """The model's output for ``x`` ``(B, C, H, W)`` at timestep ``t`` with classifier-free guidance.

    ``kwargs``: the condition (:meth:`Condition.rows`), empty for an unconditional model.
    With a condition and ``guidance`` g other than 0 and 1, one call on ``2B`` rows — the
    conditional rows, then the same rows with ``drop`` (the null condition) — and
    ``uncond + g * (cond - uncond)`` (Ho & Salimans 2022) on the model's output, which is
    linear in it whether the model predicts the noise or the velocity. ``g = 1`` is the
    conditional model alone and ``g = 0`` (or ``null``) the unconditional one: one call on
    ``B`` rows each.
    """
    b = x.shape[0]
    if not kwargs:
        return net(x, t)
    if null or guidance == 0:
        return net(x, t, drop=torch.ones(b, dtype=torch.bool, device=x.device), **kwargs)
    if guidance == 1:
        return net(x, t, **kwargs)
    drop = torch.cat([torch.zeros(b, dtype=torch.bool), torch.ones(b, dtype=torch.bool)]).to(x.device)
    out = net(torch.cat([x, x]), t, drop=drop, **_double(kwargs))
    cond, uncond = out[:b], out[b:]
    return uncond + guidance * (cond - uncond)


# ----------------------------------------------------------------------------- a sampling run


class Sampling(NamedTuple):
    """What a sampling task sets up before its loop (:func:`start_sampling`)."""

    device: torch.device
    model: DiffusionModel
    steps: int
    scheduler: Any  #: a fresh ``atelier.schedulers.Scheduler`` (:func:`make_sampler`)
    condition: Condition
    guidance: float  #: the scale asked for, else the model's default (``model.guidance``)


def start_sampling(model_or_run: Any, *, device: Any, steps: Any, sampler: str, eta: float,
                   prompts: Any, labels: Any, n: int, guidance: Any = None) -> Sampling:
    """The set-up of every sampling task, checked in this order (the first bad input is the
    one reported): ``guidance`` (:func:`check_guidance`; None: the model's default), the
    device (``None``: where a :class:`DiffusionModel` is, else the CPU), the model loaded
    there (:func:`load_diffusion`), ``steps`` (:func:`check_steps`), the sampler on the
    model's schedule (:func:`make_sampler`) and the condition of ``n`` images
    (:func:`make_condition`)."""
    asked = None if guidance is None else check_guidance(guidance)
    dev = resolve_device(device, model_or_run, fallback="cpu")
    model = load_diffusion(model_or_run, device=dev)
    steps = check_steps(steps, model)
    scheduler = make_sampler(model, sampler, eta)
    condition = make_condition(model, prompts=prompts, labels=labels, n=n)
    return Sampling(dev, model, steps, scheduler, condition, model.guidance if asked is None else asked)


@contextlib.contextmanager
def sampling_mode(net: torch.nn.Module) -> Iterator[None]:
    """``net`` in eval mode and ``torch.inference_mode`` for the block; ``net``'s own
    training flag is restored after, also on an error."""
    was_training = net.training
    net.eval()
    try:
        with torch.inference_mode():
            yield
    finally:
        net.train(was_training)
