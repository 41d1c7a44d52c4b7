"""A training run: resolve its settings, build data, model and objective, train into a folder.

A run folder holds everything needed to continue, fine-tune, sample or evaluate:

    RUN/config.json       the resolved settings (model, data, model config, hyper, train)
    RUN/checkpoints/      step-NNNNNNNN.pt, the last few (exact resume)
    RUN/log.jsonl         one JSON record per log interval
    RUN/samples/          step-NNNNNNNN.png grids from fixed noise, one per checkpoint
    RUN/model.safetensors + RUN/model.json
                          the exported model (EMA generator weights where there are any),
                          rewritten at every checkpoint; for objectives that validate
                          (super-resolution, denoising) the best validated step's, rewritten
                          when the validation improves and from the best checkpoint at the end

Model aliases: ``sr`` is ``edsr``, ``denoise`` is ``dncnn``, ``caption`` is ``captioner``. An objective may bring its own
data (``build_data``: restoration trains on patches of a folder of photos) and its own
``data`` options (``data_fields``); it may prepare the run before its model is built (the
class method ``prepare_run(spec, run)``, whose result goes to ``objective.use_setup``: the
captioner trains its tokenizer there, which sets ``model.vocab_size``) and write files beside
the model (``save_files(run)``: the captioner's ``tokenizer.json``, diffusion's
``scheduler.json``). A family may fill model settings a new run leaves unset from its data
(the class method ``complete_model_config(data, data_options, model_config)``: diffusion picks
``cond``, ``channels`` and ``num_classes``), and hand over a sample grid it drew while
validating (``take_samples()``, written as ``samples/step-NNNNNNNN.png``).

Settings come from the defaults of each part, then ``--config FILE`` (JSON), then ``--set``
pairs, in that order. A ``--set`` key is ``section.field`` (sections: ``model``, ``hyper``,
``train``, ``data``) or a bare field name when only one section has it.

Example
-------
>>> import tempfile
>>> spec = resolve_run("vae", data="digits", overrides=["resolution=16", "width=8",
...                    "steps=4", "batch_size=8", "checkpoint_every=2", "log_every=2"])
>>> (spec["model_config"]["resolution"], spec["train"]["steps"])
(16, 4)
>>> run = train_run(spec, tempfile.mkdtemp())
>>> sorted(p.name for p in run.iterdir())[:3]
['checkpoints', 'config.json', 'log.jsonl']
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any, Callable, Sequence



from atelier.errors import AtelierError, InvalidArgument
from atelier.image import write_atomic

RUN_CONFIG = "config.json"
#: Task names that stand for a model family (``atelier train sr ...``).
MODEL_ALIASES = {"sr": "edsr", "denoise": "dncnn", "caption": "captioner"}
#: Data options a run accepts under ``data.``.
DATA_FIELDS = ("split", "labels", "seed", "crop", "clusters")  # channels follow model.channels
# Hyper fields that are recipe defaults of the Trainer's settings (the train section), not of the objective
TRAINER_SUGGESTIONS = ("batch_size", "ema_decay", "steps", "validate_every")
#: Train settings that ``--resume`` may change (the rest, like the model and the data, are
#: the run's: the checkpoint holds weights of that model, a sample order of that data and
#: batch size, and random states drawn from that seed). Every hyper setting may change too:
#: the objective reads them at each step, and the optimizers take the new learning rates.
RESUMABLE_TRAIN = (
    "steps", "log_every", "checkpoint_every", "keep_checkpoints", "validate_every",
    "num_workers", "device", "precision", "grad_clip", "ema_decay",
)
#: The sections of a run's config.json and the type of each.
_SPEC_SECTIONS = {
    "model": str, "data": str, "data_options": dict, "model_config": dict, "hyper": dict,
    "train": dict, "fine_tune": dict,
}


def _parse_value(text: str) -> Any:
    """``--set`` values: JSON when they parse (numbers, true/false, lists), else a string.
    ``a:b`` is a split range."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    if ":" in text:
        start, _, stop = text.partition(":")
        if start.strip().isdigit() and stop.strip().isdigit():
            return [int(start), int(stop)]
    return text


def _field_names(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def resolve_run(
    model: str,
    *,
    data: str,
    overrides: Sequence[str] = (),
    config_file: str | Path | None = None,
    base: dict[str, Any] | None = None,
    flags: dict[str, Any] | None = None,
    check_device: bool = True,
) -> dict[str, Any]:
    """The full, checked settings of a run as a JSON-able dict.

    ``flags`` are command-line shortcuts as ``{"section.field": value}`` (``--scale`` is
    ``model.scale``, ``--sigma`` is ``hyper.sigma``, ``--val`` is ``data.val``), applied after
    ``--config`` and before ``--set``; one that the model does not have is an error naming it.

    Raises ``InvalidArgument`` for an unknown key (naming the known ones), a value of the
    wrong type or out of its range (one line naming the key and what it accepts), a model
    too large to build, or (with ``check_device``) a device this machine lacks.
    """
    from atelier.models import get_model_spec
    from atelier.models.registry import check_model_size
    from atelier.train import TrainConfig
    from atelier.train.objectives import get_objective

    model = MODEL_ALIASES.get(model, model)
    model_spec = get_model_spec(model)
    objective_cls = get_objective(model)
    spec: dict[str, Any] = base or {
        "model": model,
        "data": data,
        "data_options": {},
        "model_config": {},
        "hyper": {},
        "train": {},
        "fine_tune": {"init_from": None, "freeze_d": 0, "freeze": [], "lr_scale": 1.0},
    }
    spec = json.loads(json.dumps(spec))  # a private copy
    spec["data"] = data or spec["data"]
    sections = {
        "model": ("model_config", _field_names(model_spec.config_class)),
        # a recipe's batch size, EMA decay, length and validation period are train-section defaults
        "hyper": ("hyper", [f for f in _field_names(objective_cls.Hyper) if f not in TRAINER_SUGGESTIONS]),
        "train": ("train", _field_names(TrainConfig)),
        "data": ("data_options", list(getattr(objective_cls, "data_fields", DATA_FIELDS))),
    }
    pairs: list[tuple[str, Any]] = []
    if config_file is not None:
        try:
            loaded = json.loads(Path(config_file).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise InvalidArgument(f"config file {config_file}: cannot read it as JSON ({exc})") from None
        for section, values in loaded.items():
            if section not in sections or not isinstance(values, dict):
                raise InvalidArgument(
                    f"config file {config_file}: top-level keys must be {', '.join(sections)} "
                    f"holding objects; got {section!r}"
                )
            pairs += [(f"{section}.{k}", v) for k, v in values.items()]
    for key, value in (flags or {}).items():
        section, field = key.split(".", 1)
        if field not in sections[section][1]:
            raise InvalidArgument(f"{key} does not apply to {model}")
        pairs.append((key, value))
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidArgument(f"a setting is key=value, got {item!r}")
        pairs.append((key.strip(), _parse_value(value.strip())))
    for key, value in pairs:
        section, field = _locate(key, sections)
        spec[sections[section][0]][field] = value
    # build each part once to check every value now, not an hour into training
    from atelier.train.objectives import hyper_from_dict

    _check_known(spec["model_config"], _field_names(model_spec.config_class), "model")
    _check_known(spec["train"], _field_names(TrainConfig), "train")
    _check_data_options(spec["data_options"])
    clusters = spec["data_options"].get("clusters")
    if clusters is not None:
        if "label_prior" not in _field_names(model_spec.config_class):
            raise InvalidArgument(
                f"data.clusters trains a class-conditional GAN on k-means clusters; {model} takes no "
                "cluster labels: use cgan"
            )
        spec["model_config"].setdefault("num_classes", clusters)
    complete = getattr(objective_cls, "complete_model_config", None)
    if complete is not None and base is None:
        # a new run: the family may take settings left unset from its data (diffusion: cond,
        # channels and num_classes); what it chose is written to config.json like the rest
        complete(spec["data"], spec["data_options"], spec["model_config"])
    config = model_spec.config_class(**spec["model_config"])
    check_model_size(model, config)  # on the meta device: nothing is allocated
    spec["model_config"] = dataclasses.asdict(config)
    # the recipe may depend on the model (a GAN's follows its loss)
    hyper = hyper_from_dict(objective_cls.Hyper, spec["hyper"], base=objective_cls.default_hyper(config))
    check_values = getattr(objective_cls, "check_hyper_values", None)
    if check_values is not None:
        check_values(hyper)
    for field in TRAINER_SUGGESTIONS:
        if hasattr(hyper, field):
            spec["train"].setdefault(field, getattr(hyper, field))
    spec["train"].setdefault("batch_size", 64)
    spec["train"] = dataclasses.asdict(TrainConfig(**spec["train"]))
    if check_device:
        from atelier.devices import select_device

        try:
            select_device(spec["train"]["device"])
        except InvalidArgument as exc:
            raise InvalidArgument(f"train.device: {exc}") from None
    spec["hyper"] = {
        k: v for k, v in dataclasses.asdict(hyper).items() if k not in TRAINER_SUGGESTIONS
    }
    return spec


def _locate(key: str, sections: dict[str, tuple[str, list[str]]]) -> tuple[str, str]:
    if "." in key:
        section, field = key.split(".", 1)
        if section in sections and field in sections[section][1]:
            return section, field
    else:
        owners = [s for s, (_, fields) in sections.items() if key in fields]
        if len(owners) == 1:
            return owners[0], key
        if len(owners) > 1:
            raise InvalidArgument(
                f"setting {key} is ambiguous: write one of "
                + ", ".join(f"{s}.{key}" for s in owners)
            )
    known = sorted(f"{s}.{f}" for s, (_, fields) in sections.items() for f in fields)
    raise InvalidArgument(f"unknown setting {key!r}; known keys: {', '.join(known)}")


def _check_known(values: dict[str, Any], known: list[str], section: str) -> None:
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise InvalidArgument(
            f"unknown {section} setting(s) {', '.join(map(repr, unknown))}; known: {', '.join(known)}"
        )


def _check_data_options(options: dict[str, Any]) -> None:
    """Types of the generic data options (a family's own, like restoration's, are its own)."""
    from atelier.models.registry import check_range, check_setting

    if "seed" in options:
        check_setting("data.seed", options["seed"], int)
        check_range("data.seed", options["seed"], 0, 2**32 - 1)
    if "labels" in options:
        check_setting("data.labels", options["labels"], bool | None)
    if "crop" in options:
        check_setting("data.crop", options["crop"], str)
    if options.get("clusters") is not None:
        from atelier.data.clusters import MAX_CLUSTERS

        check_setting("data.clusters", options["clusters"], int)
        check_range("data.clusters", options["clusters"], 2, MAX_CLUSTERS)
        if options.get("labels"):
            raise InvalidArgument("data.clusters replaces the data's labels: drop data.labels")
    split = options.get("split")
    if split is not None:
        ok = isinstance(split, list) and len(split) == 2 and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for v in split
        )
        if not ok or not split[0] < split[1]:
            raise InvalidArgument(
                f"data.split must be start:stop with 0 <= start < stop (indices, or fractions "
                f"in [0, 1]), got {split!r}"
            )


def build_dataset(spec: dict[str, Any]):
    from atelier.data import make_dataset
    from atelier.data.registry import MODEL_SIZES
    from atelier.models import get_model_spec

    options = dict(spec["data_options"])
    config = spec["model_config"]
    options["channels"] = config.get("channels")
    clusters = options.pop("clusters", None)
    if clusters is not None:
        options["labels"] = False
    elif "num_classes" in config and "labels" not in options:
        options["labels"] = True
    split = options.pop("split", None)
    # a family with other sizes than the generative models' says so (a classifier backbone: 224)
    sizes = getattr(get_model_spec(spec["model"]).config_class, "data_sizes", MODEL_SIZES)
    try:
        dataset = make_dataset(
            spec["data"], size=config["resolution"], split=tuple(split) if split else None, sizes=sizes, **options
        )
    except TypeError as exc:  # an option the dataset does not take (crop= for digits)
        if "unexpected keyword argument" not in str(exc):
            raise
        name = str(exc).rsplit("argument", 1)[-1].strip(" '\"")
        raise InvalidArgument(f"data.{name} does not apply to the dataset {spec['data']}") from None
    if clusters is None:
        return dataset
    from atelier.data.clusters import ClusterLabelled

    return ClusterLabelled(dataset, clusters, seed=int(options.get("seed", 0)))


def _check_labels(spec: dict[str, Any], dataset) -> None:
    classes = spec["model_config"].get("num_classes")
    if classes is not None and dataset.num_classes != classes:
        raise InvalidArgument(
            f"{spec['model']} is set for {classes} classes but the data has "
            f"{dataset.num_classes}; set model.num_classes={dataset.num_classes}"
        )


def load_run_spec(run: str | Path) -> dict[str, Any]:
    """A run folder's ``config.json``, checked: its sections, then every value as
    ``resolve_run`` checks a new run's. A damaged or hand-broken file is one line:
    ``RUN/config.json is not a valid atelier run config: <cause>``."""
    path = Path(run) / RUN_CONFIG
    if not path.is_file():
        raise InvalidArgument(f"{run}: not a run folder (no {RUN_CONFIG})")

    def invalid(cause: str) -> InvalidArgument:
        return InvalidArgument(f"{path} is not a valid atelier run config: {cause}")

    try:
        spec = json.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise invalid(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None
    if not isinstance(spec, dict):
        raise invalid(f"it holds a {type(spec).__name__}, not an object")
    spec.setdefault("data_options", {})
    spec.setdefault("hyper", {})
    spec.setdefault("fine_tune", {"init_from": None, "freeze_d": 0, "freeze": [], "lr_scale": 1.0})
    for key, kind in _SPEC_SECTIONS.items():
        if key not in spec:
            raise invalid(f"no {key!r}")
        if not isinstance(spec[key], kind):
            raise invalid(f"{key!r} must be {'a string' if kind is str else 'an object'}, got {spec[key]!r}")
    unknown = sorted(set(spec) - set(_SPEC_SECTIONS))
    if unknown:
        raise invalid(f"unknown section(s) {', '.join(map(repr, unknown))}")
    tune = spec["fine_tune"]
    expected = {"init_from": (str, type(None)), "freeze_d": int, "freeze": list, "lr_scale": (int, float)}
    for key, kind in expected.items():
        if key not in tune or isinstance(tune[key], bool) or not isinstance(tune[key], kind):
            raise invalid(f"fine_tune.{key} is missing or of the wrong type")
    try:
        # the stored device may be one this machine lacks: --resume --set device=cpu moves it
        checked = resolve_run(spec["model"], data=spec["data"], base=spec, check_device=False)
    except AtelierError as exc:
        raise invalid(str(exc)) from None
    return json.loads(json.dumps(checked))  # as JSON has it (lists, not tuples)


def resume_spec(run: str | Path, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """The settings to continue ``run`` with: its own, with ``--set`` ``overrides`` applied
    where they can change (see ``check_resume``)."""
    stored = load_run_spec(run)
    spec = resolve_run(stored["model"], data=stored["data"], overrides=overrides, base=stored)
    check_resume(stored, spec, run)
    return spec


def run_step(run: str | Path) -> int:
    """The step of a run's newest checkpoint (0 when it has none)."""
    from atelier.train.checkpoint import latest_checkpoint, step_of

    latest = latest_checkpoint(Path(run) / "checkpoints")
    return 0 if latest is None else step_of(latest)


def check_resume(stored: dict[str, Any], spec: dict[str, Any], run: str | Path) -> None:
    """Refuse a setting that cannot change when a run continues (one line naming it and the
    run's value), and ``steps`` below the step the run has reached. What may change:
    ``RESUMABLE_TRAIN`` and every hyper setting (learning rates included) but those the
    family's ``check_resume_hyper(old, new)`` refuses (super-resolution's ``loss``)."""

    def refuse(key: str, value: Any) -> InvalidArgument:
        return InvalidArgument(
            f"{key} cannot change when a run continues (it is {json.dumps(value)} in the run); "
            "start a new run, or fine-tune one from it (init_from)"
        )

    # as config.json holds them: a resolved spec has tuples (channel_mults) where JSON has lists
    stored, spec = json.loads(json.dumps(stored)), json.loads(json.dumps(spec))
    for key in ("model", "data"):
        if spec[key] != stored[key]:
            raise refuse(key, stored[key])
    for section, name in (("model_config", "model"), ("data_options", "data"), ("fine_tune", "fine_tune")):
        for key in sorted(set(spec[section]) | set(stored[section])):
            if spec[section].get(key) != stored[section].get(key):
                raise refuse(f"{name}.{key}", stored[section].get(key))
    for key in sorted(set(spec["train"]) | set(stored["train"])):
        old, new = stored["train"].get(key), spec["train"].get(key)
        if old == new:
            continue
        if key not in RESUMABLE_TRAIN:
            raise refuse(f"train.{key}", old)
        if key == "ema_decay" and (old is None) != (new is None):
            raise InvalidArgument(
                f"train.ema_decay cannot be switched {'on' if old is None else 'off'} when a run continues "
                f"(it is {json.dumps(old)} in the run); change its value instead"
            )
    from atelier.train.objectives import get_objective

    # a hyper setting that decides which networks train (a critic or not) is the run's too
    check_family = getattr(get_objective(stored["model"]), "check_resume_hyper", None)
    if check_family is not None:
        check_family(stored["hyper"], spec["hyper"])
    reached = run_step(run)
    if spec["train"]["steps"] < reached:
        raise InvalidArgument(
            f"train.steps={spec['train']['steps']} is below the step the run has reached "
            f"({reached}); the run continues from there: set steps to {reached} or more"
        )


def check_run_folder(run: str | Path) -> None:
    """``InvalidArgument`` when ``run`` cannot be a run folder: it is a file, or one of its
    parents is."""
    run = Path(run)
    for path in (run, *run.parents):
        if path.exists() and not path.is_dir():
            where = "it is a file" if path == run else f"{path} is a file"
            raise InvalidArgument(f"cannot use {run} as a run folder: {where}, not a folder")


def fine_tune_spec(
    spec: dict[str, Any],
    *,
    init_from: str | Path | None = None,
    freeze_d: int = 0,
    freeze: Sequence[str] = (),
    lr_scale: float = 1.0,
    overrides: Sequence[str] = (),
    flags: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A new run's ``spec`` set up to fine-tune (``spec["fine_tune"]``, as ``train_run`` reads it).

    With ``init_from`` (a run folder, a ``model.safetensors`` of the same family, or the name of
    a shipped model such as ``sr-x4``: see :func:`init_folder`), the model
    settings become the source model's architecture, except those this run sets itself: a
    model field named in ``overrides`` (``"model.scale=3"`` or ``"scale=3"``) or ``flags``
    (``{"model.scale": 3}``) keeps this run's value (EDSR x3 from the x4 model: the shared
    layers carry over, see :func:`copy_matching_weights`).
    """
    spec = {**spec, "model_config": dict(spec["model_config"])}
    if init_from is not None:
        from atelier.models import load_model

        source = load_model(init_folder(init_from))
        keys = [*(flags or {}), *(item.split("=", 1)[0].strip() for item in overrides)]
        chosen = {k.removeprefix("model.") for k in keys} & set(spec["model_config"])
        spec["model_config"] = {
            **spec["model_config"],
            **dataclasses.asdict(source.config),
            **{k: spec["model_config"][k] for k in chosen},
        }
    spec["fine_tune"] = {
        "init_from": None if init_from is None else os.fspath(init_from),
        "freeze_d": freeze_d,
        "freeze": list(freeze),
        "lr_scale": lr_scale,
    }
    return spec


def init_folder(init_from: str | os.PathLike) -> Path:
    """The model folder of an ``init_from``: the path itself, or the folder of the shipped
    model of that name when no such path exists (``--init-from sr-x4``)."""
    from atelier.pretrained import PRETRAINED, pretrained_dir

    text = os.fspath(init_from)
    if text in PRETRAINED and not Path(text).exists():
        return pretrained_dir(text)
    return Path(text)


def backbone_freeze(spec: dict[str, Any], *, freeze_backbone: bool = False,
                    unfreeze_last: int | None = None) -> list[str]:
    """The ``freeze`` prefixes of a classifier on a pretrained backbone: ``["backbone"]`` for a
    linear probe (``freeze_backbone``), or the backbone's first stages so that only its last
    ``unfreeze_last`` stages (and the head) train. Neither: ``[]`` (everything trains, the
    backbone at its lower learning rate).

    >>> spec = {"model": "classifier", "model_config": {"backbone": "efficientnet-lite0"}}
    >>> frozen = backbone_freeze(spec, unfreeze_last=2)  # blocks.15 and the head conv train
    >>> len(frozen), frozen[0], frozen[-1]
    (16, 'backbone.stem', 'backbone.blocks.14')
    """
    if not freeze_backbone and unfreeze_last is None:
        return []
    from atelier.models.classifier import backbone_stage_names

    if freeze_backbone and unfreeze_last is not None:
        raise InvalidArgument("freeze_backbone and unfreeze_last exclude each other: "
                              "the first trains the head alone, the second the head and the last N blocks")
    stages = backbone_stage_names(spec["model_config"].get("backbone", "none"))
    if not stages:
        raise InvalidArgument(
            f"freeze_backbone and unfreeze_last apply to a classifier on a pretrained backbone "
            f"(backbone=efficientnet-lite0); {spec['model']} has none"
        )
    if freeze_backbone:
        return ["backbone"]
    if isinstance(unfreeze_last, bool) or not isinstance(unfreeze_last, int) or not 1 <= unfreeze_last <= len(stages):
        raise InvalidArgument(
            f"unfreeze_last must be from 1 to {len(stages)} (the backbone's stages: stem, "
            f"{len(stages) - 2} blocks, head), got {unfreeze_last!r}; for none use freeze_backbone"
        )
    return list(stages[: len(stages) - unfreeze_last])


def copy_matching_weights(source, target, *, source_name: str = "the source") -> list[str]:
    """Copy every tensor of ``source``'s state into ``target`` where name and shape agree.

    Used by ``--init-from`` across configurations of one family, as EDSR initialises its x3
    and x4 models from the x2 one (Lim et al. 2017): head and residual body carry over, the
    scale-specific upsampler starts fresh. Returns the copied names; none raises.
    """
    theirs = source.state_dict()
    mine = target.state_dict()
    copied = [k for k, v in mine.items() if k in theirs and theirs[k].shape == v.shape]
    if not copied:
        raise InvalidArgument(f"init_from {source_name}: no layer matches the new model's")
    target.load_state_dict({**mine, **{k: theirs[k] for k in copied}})
    return copied


def train_run(
    spec: dict[str, Any],
    run_dir: str | Path,
    *,
    on_log: Callable[[dict[str, Any]], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
    sample_count: int = 64,
) -> Path:
    """Train (or continue training) the run described by ``spec`` in ``run_dir``.

    Everything is built and checked before anything is written. Then the run folder is
    locked for the run's life (``atelier.train.lock``: a second process on it gets one
    line), a continued run's settings are checked against its ``config.json``
    (``check_resume``), stale temporary files of killed runs are removed, and the settings
    are written. ``on_log`` and ``on_progress`` are the Trainer's.
    """
    import torch

    from atelier.image import remove_stale_temp_files, save_image
    from atelier.models import build_model, load_model, save_model
    from atelier.tasks.generate import make_grid
    from atelier.train import TrainConfig, Trainer, TrainingDiverged
    from atelier.train.distributed import DistributedEnv
    from atelier.train.lock import RunLock
    from atelier.train.objectives import get_objective, make_objective
    from atelier.train.trainer import finite_weights

    run = Path(run_dir)
    check_run_folder(run)
    # a family that must see its data before its model exists prepares the run first: the
    # captioner's tokenizer, trained on the training captions, sets model.vocab_size
    prepare = getattr(get_objective(spec["model"]), "prepare_run", None)
    prepared = None
    if prepare is not None:
        spec = {**spec, "model_config": dict(spec["model_config"])}
        prepared = prepare(spec, run)
    tune = spec["fine_tune"]
    if tune["init_from"]:
        model = load_model(init_folder(tune["init_from"])).train()
        if model.model_name != spec["model"]:
            raise InvalidArgument(
                f"init_from {tune['init_from']} holds a {model.model_name}, not a {spec['model']}"
            )
        if dataclasses.asdict(model.config) != spec["model_config"]:
            # another configuration of the family (EDSR x2 from x4): the shared layers carry over
            torch.manual_seed(spec["train"]["seed"])
            target = build_model(spec["model"], spec["model_config"])
            copy_matching_weights(model, target, source_name=tune["init_from"])
            model = target.train()
    else:
        torch.manual_seed(spec["train"]["seed"])  # the initial weights follow the run's seed
        model = build_model(spec["model"], spec["model_config"])
    objective = make_objective(
        model,
        spec["hyper"],
        freeze_d=tune["freeze_d"],
        freeze=tuple(tune["freeze"]),
        lr_scale=tune["lr_scale"],
    )
    if prepared is not None:
        objective.use_setup(prepared)
    build_data = getattr(objective, "build_data", None)  # restoration: patches of photos
    if build_data is not None:
        dataset = build_data(spec)
    else:
        dataset = build_dataset(spec)
        _check_labels(spec, dataset)
        prior = getattr(dataset, "label_prior", None)
        if prior is not None and "label_prior" in spec["model_config"]:
            # clusters: sampling without labels follows their sizes (recorded in config.json too)
            spec = {**spec, "model_config": {**spec["model_config"], "label_prior": list(prior)}}
            model.config = dataclasses.replace(model.config, label_prior=tuple(prior))
    seed = spec["train"]["seed"]

    def export(trainer: Trainer) -> None:
        if trainer.best is not None and trainer.best["step"] != trainer.step:
            return  # the export stays the best validated step's
        exported = objective.export(trainer.ema).cpu().eval()
        if not finite_weights([exported]):  # never export a NaN model
            raise TrainingDiverged(
                f"the model's weights are non-finite (nan or inf) at step {trainer.step}; the "
                "export was not written: lower the learning rate or set grad_clip"
            )
        fit_latent_prior(exported, dataset, seed)
        save_model(exported, run)
        take_samples = getattr(objective, "take_samples", None)
        drawn = take_samples() if take_samples is not None else None
        if drawn is not None:  # a grid the objective drew at this step's validation (diffusion)
            save_image(run / "samples" / f"step-{trainer.step:08d}.png", make_grid(drawn, nrow=8), overwrite=True)
        elif hasattr(exported, "sample"):
            noise = torch.Generator(device="cpu").manual_seed(seed)
            images = exported.sample(sample_count, generator=noise, device=torch.device("cpu"))
            grid = make_grid(images.cpu(), nrow=8)
            save_image(run / "samples" / f"step-{trainer.step:08d}.png", grid, overwrite=True)

    trainer = Trainer(
        objective,
        dataset,
        TrainConfig(**spec["train"]),
        run,
        on_log=on_log,
        on_checkpoint=export,
        on_progress=on_progress,
    )
    main = DistributedEnv.from_environ().is_main  # under torchrun, rank 0 alone writes
    with RunLock(run, enabled=main):
        if main:
            if (run / RUN_CONFIG).is_file() and run_step(run) > 0:
                check_resume(load_run_spec(run), spec, run)
            for folder in (run, run / "checkpoints", run / "samples"):
                remove_stale_temp_files(folder)  # left by a run killed mid-write
            write_atomic(run / RUN_CONFIG, json.dumps(spec, indent=2).encode())
            save_files = getattr(objective, "save_files", None)
            if save_files is not None:
                save_files(run)  # the captioner's tokenizer.json, beside model.json
        trainer.fit()
        if trainer.best is not None and trainer.best["step"] != trainer.step and main:
            _export_checkpoint(objective, trainer, run)
    return run


def fit_latent_prior(model: Any, dataset: Any, seed: int, limit: int = 10_000) -> None:
    """Fit a model's latent prior (a VAE's ex-post mixture, ``model.fit_prior``) to up to
    ``limit`` training images drawn with ``seed``; models without one are left alone."""
    fit = getattr(model, "fit_prior", None)
    if fit is None:
        return
    import torch

    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))[:limit]
    items = [dataset[int(i)] for i in order]
    labelled = isinstance(items[0], (tuple, list)) and len(items[0]) > 1
    images = torch.stack([item[0] if isinstance(item, (tuple, list)) else item for item in items])
    labels = torch.tensor([int(item[1]) for item in items]) if labelled else None
    fit(images, labels, seed=seed)


def _export_checkpoint(objective: Any, trainer: Any, run: Path) -> None:
    """Export the best validated checkpoint as the run's model (after training: it loads
    that step's weights into the trainer's modules). Also repairs an export that a kill
    between a new best checkpoint and its export left stale."""
    from atelier.models import save_model
    from atelier.train import load_checkpoint

    state = load_checkpoint(trainer.best_checkpoint)
    for name, module in trainer.modules.items():
        module.load_state_dict(state["modules"][name])
    for name, ema in trainer.ema.items():
        ema.load_state_dict(state["ema"][name])
    save_model(objective.export(trainer.ema).cpu().eval(), run)
