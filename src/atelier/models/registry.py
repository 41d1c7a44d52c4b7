"""The model registry: name -> (config dataclass, module class); build, save and load models.

Every model family is an ``nn.Module`` whose constructor takes one ``@dataclass`` config
(DESIGN.md convention 3). A checkpoint folder holds ``model.safetensors`` (the weights) and
``model.json`` (``{"model": name, "config": {...}}``), so a model is rebuilt from its files
alone; nothing is unpickled.

Example
-------
>>> import tempfile
>>> from atelier.models import build_model, load_model, save_model
>>> vae = build_model("vae", {"resolution": 16, "width": 8, "latent_dim": 4})
>>> folder = tempfile.mkdtemp()
>>> save_model(vae, folder)
>>> type(load_model(folder)).__name__
'VAE'
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from atelier.errors import AtelierError, InvalidArgument
from atelier.registry import ClassRegistry, doc_summary
from atelier.settings import CheckedConfig, check_range, check_setting, config_from  # re-exported

__all__ = [
    "ModelConfig",
    "ModelSpec",
    "register_model",
    "get_model_spec",
    "list_models",
    "build_model",
    "config_to_dict",
    "save_model",
    "load_model",
    "WEIGHTS_FILE",
    "CONFIG_FILE",
    "RESOLUTIONS",
    "MAX_LATENT_DIM",
    "MAX_PARAMETERS",
    "check_model_size",
    "count_parameters",
    "check_range",
    "check_setting",
]

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "model.json"
#: Supported training/sampling resolutions (square images).
RESOLUTIONS = (16, 32, 64, 128)
#: The largest ``latent_dim`` of the generative families (StyleGAN's is 512).
MAX_LATENT_DIM = 4096


@dataclass
class ModelConfig(CheckedConfig):
    """Base of every model config: type-checks each field, then calls ``check()``
    (:class:`atelier.settings.CheckedConfig`).

    Subclasses declare typed fields with defaults (``int``, ``float``, ``bool``, ``str``,
    ``Literal[...]``) and may override :meth:`check` for ranges. A wrong type or value raises
    ``InvalidArgument`` naming the field.
    """

    # Range helpers shared by the families (``check`` and ``_require`` come from CheckedConfig).
    def _check_image_fields(self, resolutions: tuple[int, ...] = RESOLUTIONS) -> None:
        kind = "a power of two" if resolutions == RESOLUTIONS else "one of the sizes"
        self._require(
            self.resolution in resolutions,  # type: ignore[attr-defined]
            "resolution",
            f"{kind} from 16 to 128 ({', '.join(map(str, resolutions))}); "
            "resize your data to one of these",
        )
        self._require(self.channels in (1, 3), "channels", "1 (grey) or 3 (RGB)")  # type: ignore[attr-defined]

    def _check_latent_fields(self) -> None:
        """``latent_dim`` and ``width`` of the generative families."""
        self._require(
            1 <= self.latent_dim <= MAX_LATENT_DIM,  # type: ignore[attr-defined]
            "latent_dim",
            f"an integer from 1 to {MAX_LATENT_DIM}",
        )
        self._require(1 <= self.width <= 1024, "width", "an integer from 1 to 1024")  # type: ignore[attr-defined]


@dataclass(frozen=True)
class ModelSpec:
    """A registered model family: its name, config class, module class and one-line summary."""

    name: str
    config_class: type
    module_class: type
    summary: str

    def config_fields(self) -> dict[str, Any]:
        """Field name -> default value of the family's config."""
        return {f.name: getattr(self.config_class(), f.name) for f in dataclasses.fields(self.config_class)}


_REGISTRY: ClassRegistry[ModelSpec] = ClassRegistry("model", "atelier.models")  # importing it registers all


def register_model(name: str, config_class: type) -> Callable[[type], type]:
    """Class decorator: register a module class under ``name`` with its config dataclass.

    The class gets ``model_name = name`` and ``config_class``; its constructor must take one
    instance of ``config_class`` and keep it as ``self.config``.
    """

    def deco(cls: type) -> type:
        _REGISTRY.add(name, cls, ModelSpec(name, config_class, cls, doc_summary(cls)))
        cls.model_name = name
        cls.config_class = config_class
        return cls

    return deco


def get_model_spec(name: str) -> ModelSpec:
    """Look a model family up by name; ``UnknownName`` (with close matches) if unknown."""
    return _REGISTRY.get(name)


def list_models() -> list[ModelSpec]:
    """Every registered model family, sorted by name."""
    return _REGISTRY.specs()


def _make_config(spec: ModelSpec, config: Any) -> Any:
    if isinstance(config, spec.config_class):
        return config
    return config_from(spec.config_class, config, f"model {spec.name!r}")


def build_model(name: str, config: Mapping[str, Any] | Any = None):
    """Build model ``name`` from a config dict (missing keys take defaults) or config object.

    Raises ``UnknownName`` for an unknown model and ``InvalidArgument`` for an unknown key
    (listing the known ones) or a bad value (e.g. a resolution that is not 16, 32, 64, 128).
    """
    spec = get_model_spec(name)
    return spec.module_class(_make_config(spec, config))


#: The most parameters ``check_model_size`` lets a model have (4 GB of float32 weights;
#: training with Adam holds about four times that).
MAX_PARAMETERS = 1_000_000_000


def count_parameters(name: str, config: Mapping[str, Any] | Any = None) -> int:
    """The number of parameters model ``name`` would have, without allocating its weights
    (it is built on PyTorch's ``meta`` device)."""
    import torch

    with torch.device("meta"):
        model = build_model(name, config)
    return sum(p.numel() for p in model.parameters())


def check_model_size(name: str, config: Mapping[str, Any] | Any = None, limit: int = MAX_PARAMETERS) -> int:
    """``count_parameters``, or ``InvalidArgument`` when the model would be over ``limit``
    parameters (a typo such as ``width=10000`` fails here in a second, not in the allocator)."""
    count = count_parameters(name, config)
    if count > limit:
        raise InvalidArgument(
            f"{name} with these settings would have {count:,} parameters "
            f"({count * 4 / 2**30:.1f} GiB of weights), over the limit of {limit:,}; "
            "lower width, latent_dim or the number of blocks"
        )
    return count


def config_to_dict(config: Any) -> dict[str, Any]:
    """A config dataclass as a plain JSON-ready dict."""
    return dataclasses.asdict(config)


def _model_name(module: Any) -> str:
    name = getattr(type(module), "model_name", None)
    if name is None or getattr(module, "config", None) is None:
        raise InvalidArgument(
            f"{type(module).__name__} is not a registered atelier model; "
            "build one with atelier.models.build_model"
        )
    return name


def save_model(module: Any, folder: str | Path) -> None:
    """Write ``folder/model.safetensors`` and ``folder/model.json``, each atomically.

    Each file goes to a temporary name in ``folder`` and is renamed into place, so a failure
    never leaves a half-written file (DESIGN.md convention 7).
    """
    from safetensors.torch import save

    from atelier.image import write_atomic

    name = _model_name(module)
    folder = Path(folder)
    state = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    meta = {"model": name, "config": config_to_dict(module.config)}
    write_atomic(folder / WEIGHTS_FILE, save(state, metadata={"model": name}))
    write_atomic(folder / CONFIG_FILE, (json.dumps(meta, indent=2) + "\n").encode("utf-8"))


def load_model(folder: str | Path, *, device: str = "cpu"):
    """Rebuild a model from ``folder/model.json`` and ``folder/model.safetensors``.

    The weights must match the config exactly (strict load). The model is returned in eval
    mode on ``device``. A missing or corrupt file raises ``AtelierError`` saying which.
    """
    from safetensors.torch import load_file

    folder = Path(folder)
    cfg_path, w_path = folder / CONFIG_FILE, folder / WEIGHTS_FILE
    for p in (cfg_path, w_path):
        if not p.is_file():
            raise AtelierError(
                f"no {p.name} in {folder}: a model folder needs {CONFIG_FILE} and {WEIGHTS_FILE} "
                "(written by atelier.models.save_model or exported by a training run)"
            )
    try:
        meta = json.loads(cfg_path.read_text("utf-8"))
        name, config = meta["model"], meta["config"]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as e:
        raise AtelierError(
            f"{cfg_path} is not a valid model config ({e}); it must be JSON like "
            '{"model": "dcgan", "config": {...}}'
        ) from None
    module = build_model(name, config)
    try:
        state = load_file(str(w_path), device=device)
    except Exception as e:  # safetensors raises its own SafetensorError / OSError
        raise AtelierError(f"{w_path} is not a readable safetensors file ({e}); re-export it") from None
    from atelier.models.quantize import dequantize_state, is_quantized

    if is_quantized(state):  # shipped 8-bit weights (atelier.models.quantize)
        state = dequantize_state(state)
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as e:
        first = str(e).splitlines()[0]
        raise AtelierError(
            f"weights in {w_path} do not match the {name!r} config in {cfg_path} ({first}...)"
        ) from None
    return module.to(device).eval()
