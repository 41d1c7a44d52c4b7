"""The scheduler registry: name -> (config dataclass, scheduler class); build, save and load.

A run folder keeps its scheduler as ``scheduler.json`` (``{"scheduler": name, "config":
{...}}``) next to ``model.json``. Loading it ``as_`` another sampler keeps the fields both
configs declare — the noise schedule, the prediction type, the spacing, and e.g. clipping
between DDPM and DDIM — and gives the others the new sampler's defaults, so a model trained
with DDPM can be sampled with DDIM or DPM-Solver++ (what diffusers' ``from_config`` does).

Example
-------
>>> import tempfile
>>> from atelier.schedulers import get_scheduler, load_scheduler, save_scheduler
>>> folder = tempfile.mkdtemp()
>>> _ = save_scheduler(get_scheduler("ddpm", {"beta_schedule": "cosine"}), folder)
>>> s = load_scheduler(folder, as_="dpm++2m")
>>> s.name, s.config.beta_schedule
('dpm++2m', 'cosine')
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from atelier.errors import AtelierError, InvalidArgument
from atelier.registry import ClassRegistry, doc_summary
from atelier.schedulers.base import Scheduler, SchedulerConfig, make_config

__all__ = [
    "SCHEDULER_FILE",
    "SchedulerSpec",
    "register_scheduler",
    "get_scheduler_spec",
    "list_schedulers",
    "get_scheduler",
    "save_scheduler",
    "load_scheduler",
]

SCHEDULER_FILE = "scheduler.json"


@dataclass(frozen=True)
class SchedulerSpec:
    """A registered sampler: its name, config class, scheduler class and one-line summary.

    >>> spec = get_scheduler_spec("ddim")
    >>> spec.config_class.__name__, spec.scheduler_class.__name__
    ('DDIMConfig', 'DDIMScheduler')
    """

    name: str
    config_class: type
    scheduler_class: type
    summary: str


_REGISTRY: ClassRegistry[SchedulerSpec] = ClassRegistry("scheduler", "atelier.schedulers")  # importing it registers all


def register_scheduler(name: str, config_class: type) -> Callable[[type], type]:
    """Class decorator: register a :class:`Scheduler` subclass under ``name`` with its config
    dataclass (a subclass of :class:`SchedulerConfig`). The class gets ``name`` and
    ``config_class``.

    Example
    -------
    >>> from atelier.schedulers import DDIMScheduler
    >>> DDIMScheduler.name, DDIMScheduler.config_class.__name__
    ('ddim', 'DDIMConfig')
    """

    def deco(cls: type) -> type:
        if not (issubclass(cls, Scheduler) and issubclass(config_class, SchedulerConfig)):
            raise TypeError(f"{cls.__name__} must subclass Scheduler and its config SchedulerConfig")  # a bug
        _REGISTRY.add(name, cls, SchedulerSpec(name, config_class, cls, doc_summary(cls)))
        cls.name = name
        cls.config_class = config_class
        return cls

    return deco


def get_scheduler_spec(name: str) -> SchedulerSpec:
    """Look a sampler up by name; ``UnknownName`` (with close matches) if unknown.

    >>> get_scheduler_spec("dim")
    Traceback (most recent call last):
    ...
    atelier.errors.UnknownName: unknown scheduler 'dim'; did you mean ddim? (known: ddim, ddpm, dpm++2m)
    """
    return _REGISTRY.get(name)


def list_schedulers() -> list[SchedulerSpec]:
    """Every registered sampler, sorted by name.

    >>> [s.name for s in list_schedulers()]
    ['ddim', 'ddpm', 'dpm++2m']
    """
    return _REGISTRY.specs()


def get_scheduler(name: str, config: Mapping[str, Any] | SchedulerConfig | None = None) -> Scheduler:
    """Build sampler ``name`` from a config mapping (missing keys take defaults) or object.

    Raises ``UnknownName`` for an unknown sampler and ``InvalidArgument`` for an unknown key
    (listing the known ones) or a bad value.

    Example
    -------
    >>> s = get_scheduler("ddim", {"eta": 0.5, "beta_schedule": "cosine"})
    >>> type(s).__name__, s.config.eta
    ('DDIMScheduler', 0.5)
    >>> get_scheduler("ddim", {"etta": 0.5})
    Traceback (most recent call last):
    ...
    atelier.errors.InvalidArgument: unknown config key(s) for scheduler 'ddim': etta; known keys: num_train_timesteps, beta_schedule, beta_start, beta_end, prediction_type, timestep_spacing, eta, set_alpha_to_one, clip_sample, clip_sample_range
    """
    spec = get_scheduler_spec(name)
    return spec.scheduler_class(make_config(spec.config_class, config, spec.name))


def save_scheduler(scheduler: Scheduler, folder: str | Path) -> Path:
    """Write ``folder/scheduler.json`` atomically (a temporary name renamed into place, so a
    failure never leaves a half-written file); return its path. The folder is created.

    Example
    -------
    >>> import json, tempfile
    >>> path = save_scheduler(get_scheduler("ddpm"), tempfile.mkdtemp())
    >>> meta = json.loads(path.read_text())
    >>> meta["scheduler"], meta["config"]["num_train_timesteps"]
    ('ddpm', 1000)
    """
    from atelier.image import write_atomic  # the project's one atomic writer

    name = getattr(type(scheduler), "name", "")
    if not isinstance(scheduler, Scheduler) or not name:
        raise InvalidArgument(
            f"{type(scheduler).__name__} is not a registered atelier scheduler; "
            "build one with atelier.schedulers.get_scheduler"
        )
    path = Path(folder) / SCHEDULER_FILE
    meta = {"scheduler": name, "config": dataclasses.asdict(scheduler.config)}
    write_atomic(path, (json.dumps(meta, indent=2) + "\n").encode("utf-8"))
    return path


def load_scheduler(folder: str | Path, *, as_: str | None = None,
                   config: Mapping[str, Any] | None = None) -> Scheduler:
    """Rebuild the scheduler saved in ``folder/scheduler.json``, optionally as another sampler.

    Parameters
    ----------
    folder : str or Path
        A folder holding ``scheduler.json`` (a model or run folder).
    as_ : str, optional
        Another registered sampler (``"ddim"``, ``"dpm++2m"``, ...): the fields its config
        shares with the saved one are kept (the noise schedule and prediction type always are),
        the others take its defaults.
    config : mapping, optional
        Field values that override both (e.g. ``{"eta": 0.5}``).

    Raises
    ------
    AtelierError
        The file is missing or not a valid scheduler file.
    UnknownName, InvalidArgument
        An unknown sampler, an unknown or bad config value.

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> _ = save_scheduler(get_scheduler("ddpm", {"prediction_type": "v_prediction"}), folder)
    >>> s = load_scheduler(folder, as_="ddim", config={"eta": 1.0})
    >>> s.name, s.config.prediction_type, s.config.eta, s.config.clip_sample
    ('ddim', 'v_prediction', 1.0, True)
    """
    path = Path(folder) / SCHEDULER_FILE
    if not path.is_file():
        raise AtelierError(
            f"no {SCHEDULER_FILE} in {folder}: a diffusion model folder needs one "
            "(written by atelier.schedulers.save_scheduler or by a diffusion training run)"
        )
    try:
        meta = json.loads(path.read_text("utf-8"))
        name, saved = meta["scheduler"], meta["config"]
        if not isinstance(saved, dict):
            raise TypeError("config is not an object")
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as e:
        raise AtelierError(
            f"{path} is not a valid scheduler file ({e}); it must be JSON like "
            '{"scheduler": "ddpm", "config": {...}}'
        ) from None
    spec = get_scheduler_spec(name)
    saved_config = make_config(spec.config_class, saved, spec.name)  # checks what was saved
    target = spec if as_ is None else get_scheduler_spec(as_)
    target_fields = {f.name for f in dataclasses.fields(target.config_class)}
    values = {k: v for k, v in dataclasses.asdict(saved_config).items() if k in target_fields}
    if config is not None:
        if not isinstance(config, Mapping):
            raise InvalidArgument(f"config must be a mapping of field values, got {type(config).__name__}")
        values.update(config)
    return get_scheduler(target.name, values)
