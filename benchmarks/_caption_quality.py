"""Quality parts of the captioning benchmark: scenes (seen and compositional) and emoji72
with its two baselines.

Every captioner is scored by ``atelier.tasks.caption_eval.evaluate_captioner`` (greedy
decoding) on the data it trained on, which applies the run's own data settings (data size,
scenes' seed and length, emoji72's ``group_by``), so part ``test`` is the held-out part the
run never saw. The benchmark builds the same dataset (``CaptionObjective.build_dataset`` with
the run's settings) and checks that ``evaluate_captioner`` captioned its first images of the
part; the nearest-neighbour baseline (``_caption_nn``) captions exactly the images the
captioner was scored on and retrieves from the run's ``train`` part.

The benchmark runs from the repository root: a recipe names its data relative to it
(``../shared/data/emoji72``), and ``evaluate_captioner`` recognises the run's data by path.
"""

from __future__ import annotations

from typing import Any

SKIN_TONE = "skin-tone"  # emoji72's group_by: all skin-tone variants of an emoji on one side


def dataset(spec: dict[str, Any], split: str):
    """The captioned dataset of ``spec`` (a resolved run) for ``split``, as the run reads it."""
    from atelier.train.objectives.caption import CaptionObjective

    return CaptionObjective.build_dataset(spec["data"], spec["data_options"], split)


def evaluate(loaded: Any, spec: dict[str, Any], split: str, limit: int | None) -> dict[str, Any]:
    """``evaluate_captioner`` of ``loaded`` on ``spec``'s data, checked against the benchmark's
    own dataset of that part (the same first images)."""
    from atelier.tasks.caption_eval import evaluate_captioner

    r = evaluate_captioner(loaded, spec["data"], split=split, limit=limit, keep_captions=True)
    ds = dataset(spec, split)
    expect = [int(i) for i in ds.image_ids[: r["n_images"]]]
    if [c["image_id"] for c in r["captions"]] != expect and not r.get("skipped"):
        raise SystemExit(f"evaluate_captioner captioned other {split!r} images of {spec['data']} than the run's "
                         f"own split (data settings {spec['data_options']}): run the benchmark from the repository "
                         "root, and check that the model's config.json / recipe.json holds its data settings")
    r["part_images"] = int(len(ds.image_ids))
    return r


def scenes_part(loaded: Any, spec: dict[str, Any], limit: int | None) -> dict[str, Any]:
    """The captioner on scenes' ``test`` (held-out images of seen combinations) and
    ``compositional`` (held-out attribute combinations) parts."""
    out: dict[str, Any] = {"data": spec["data"], "data_options": spec["data_options"]}
    for part in ("test", "compositional"):
        print(f"scenes: captioning the {part} part...", flush=True)
        out[part] = evaluate(loaded, spec, part, limit)
    return out


def _split_warning(spec: dict[str, Any], emoji_data: str) -> str | None:
    """Why the run's ``test`` part may not be the benchmark's emoji72 protocol."""
    from pathlib import Path

    data = spec["data"].split(":", 1)[1] if spec["data"].startswith("captions:") else spec["data"]
    if Path(data).resolve() != Path(emoji_data).resolve():
        return f"the model was trained on {spec['data']}, not {emoji_data}"
    options = spec["data_options"]
    if options.get("group_by") != SKIN_TONE:
        return (f"the model was trained with group_by={options.get('group_by', 'file')!r}, not {SKIN_TONE}: "
                "skin-tone variants of the test emoji were in its training data")
    return None


def emoji_part(models: dict[str, tuple[Any, dict[str, Any]] | None], spec: dict[str, Any], emoji_data: str,
               limit: int | None, train_limit: int | None) -> dict[str, Any]:
    """emoji72 ``test`` of ``spec`` (the emoji captioner's run): each loaded captioner of
    ``models`` (``{"model": (loaded, info), "random": ...}``; None where absent) and the
    nearest-neighbour retrieval baseline on the same images."""
    from _caption_nn import retrieval_scores

    out: dict[str, Any] = {"data": spec["data"], "data_options": spec["data_options"],
                           "split_warning": _split_warning(spec, emoji_data)}
    ids = None
    for key, entry in models.items():
        if entry is None:
            continue
        loaded, info = entry
        print(f"emoji72: captioning the test part with {key} ({info['model']})...", flush=True)
        out[key] = r = evaluate(loaded, info["spec"], "test", limit)
        got = [c["image_id"] for c in r["captions"]]
        if ids is not None and got != ids:
            raise SystemExit(f"emoji72: the {key} run holds out other test images than the model "
                             f"({len(got)} vs {len(ids)} images): train it with the model's data settings")
        ids = got
    test = dataset(spec, "test")
    out["part_images"] = int(len(test.image_ids))
    if ids is None:
        ids = [i for i, _ in test.valid_images(limit)]
    print("emoji72: nearest-neighbour retrieval on EfficientNet-Lite0 features...", flush=True)
    out["nn"] = retrieval_scores(dataset(spec, "train"), test, ids, spec["model_config"]["image_size"], train_limit)
    return out
