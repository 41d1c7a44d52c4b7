"""tasks.caption_eval: evaluate_captioner on the tiny session captioner (scenes) and on a
small emoji-like caption folder: figures, perfect captions, the run's split, attributes,
base names, corrupt files and bad options."""

from __future__ import annotations

import json
import math
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

from atelier.data.captioned import CaptionFolderDataset, is_base_name
from atelier.data.folder import CorruptFileWarning
from atelier.data.scenes import ScenesDataset
from atelier.errors import InvalidArgument
from atelier.image import save_image
from atelier.tasks.caption import CaptionModel, load_caption_model
from atelier.tasks.caption_eval import TEXT_METRICS, evaluate_captioner, run_data_settings

ATTRIBUTES = {"shape", "color", "size", "position", "background", "attributes", "objects", "exact", "parsed", "n"}
NAMES = [  # emoji-like: skin-tone variants of a base name must stay on its side of the split
    "cat face", "dog face", "red apple", "rocket", "waving hand", "waving hand: light skin tone",
    "waving hand: dark skin tone", "woman scientist", "woman scientist: medium skin tone",
    "thumbs up", "thumbs up: medium-dark skin tone", "snowman",
]  # fmt: skip


@pytest.fixture(scope="module")
def loaded(caption_run):
    return load_caption_model(caption_run)


def _scenes(split: str) -> ScenesDataset:
    """The caption_run's data: scenes, length 16, at 32 px."""
    return ScenesDataset(size=32, length=16, split=split)


class _Echo:
    """A tokenizer whose decode gives the next reference: a captioner with perfect captions."""

    def __init__(self, captions):
        self.captions = iter(captions)

    def decode(self, tokens):
        return next(self.captions)


def test_figures_are_fractions_and_finite(caption_run):
    seen = []
    result = evaluate_captioner(caption_run, "scenes", split="all", batch_size=5,
                                progress=lambda done, total: seen.append((done, total)))
    assert result["n_images"] == 16 and result["split"] == "all" and result["skipped"] == 0
    for key in TEXT_METRICS:
        assert math.isfinite(result[key]) and result[key] >= 0
        assert key == "cider_d" or result[key] <= 1
    assert result["seconds"] > 0 and result["captions_per_second"] > 0
    assert seen == [(0, 16), (5, 16), (10, 16), (15, 16), (16, 16)]
    assert set(result["attributes"]) == ATTRIBUTES and result["attributes"]["n"] == 16
    assert all(0 <= v <= 1 for k, v in result["attributes"].items() if k != "n")
    assert "base" not in result and "captions" not in result
    json.dumps(result, allow_nan=False)  # JSON-ready


def test_perfect_captions_score_one(loaded):
    """Captions equal to the references: exact, BLEU, ROUGE-L, word F1 and every attribute 1."""
    truth = _scenes("all")
    echo = CaptionModel(loaded.model, _Echo(truth.captions(i)[0] for i in truth.image_ids), "cpu", loaded.source)
    result = evaluate_captioner(echo, "scenes", split="all")
    assert result["exact"] == 1.0 and result["word_f1"] == 1.0 and result["rouge_l"] == pytest.approx(1.0)
    assert result["bleu_4"] == pytest.approx(1.0) and result["cider_d"] > 1.0
    assert result["attributes"]["attributes"] == 1.0 and result["attributes"]["exact"] == 1.0


def test_split_is_the_part_the_run_never_saw(caption_run):
    """The run's data.length (16) applies, so 'test' is that scenes dataset's held-out part."""
    for part in ("test", "compositional"):
        result = evaluate_captioner(caption_run, "scenes", split=part, keep_captions=True)
        ids = [c["image_id"] for c in result["captions"]]
        assert ids == _scenes(part).image_ids.tolist() and result["n_images"] == len(ids)
        assert all(c["references"] == _scenes("all").captions(c["image_id"]) for c in result["captions"])
    assert evaluate_captioner(caption_run, "scenes")["split"] == "test"  # the default
    assert evaluate_captioner(caption_run, "scenes", split="all", limit=3)["n_images"] == 3
    assert evaluate_captioner(caption_run, "scenes", split=(2, 6))["n_images"] == 4
    assert run_data_settings(caption_run) == ("scenes", {"length": 16, "size": 32})


@pytest.fixture
def emoji(tmp_path: Path, caption_run) -> tuple[Path, Path]:
    """A caption folder of NAMES and a copy of caption_run that says it trained on it, with
    group_by=skin-tone and half of the groups held out for test."""
    folder = tmp_path / "emoji"
    rng = np.random.default_rng(0)
    for k, _ in enumerate(NAMES):
        save_image(folder / f"e{k:02d}.png", (rng.random((20, 20, 4)) * 255).astype(np.uint8))
    lines = [json.dumps({"file_name": f"e{k:02d}.png", "text": name}) for k, name in enumerate(NAMES)]
    (folder / "metadata.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    run = tmp_path / "run"
    shutil.copytree(caption_run, run)
    config = json.loads((run / "config.json").read_text())
    config.update(data=str(folder), data_options={"size": 32, "group_by": "skin-tone", "test_fraction": 0.5})
    (run / "config.json").write_text(json.dumps(config))
    return folder, run


def test_caption_folder_uses_the_runs_grouping_and_reports_base_names(emoji):
    folder, run = emoji
    held_out = CaptionFolderDataset(folder, size=32, group_by="skin-tone", test_fraction=0.5, split="test")
    assert 0 < len(held_out.image_ids) < len(NAMES)
    for data in (str(folder), f"captions:{folder}", str(folder / "metadata.jsonl")):
        result = evaluate_captioner(run, data, keep_captions=True)
        assert [c["image_id"] for c in result["captions"]] == held_out.image_ids.tolist()
    base = [i for i in held_out.image_ids if is_base_name(held_out.captions(int(i))[0])]
    assert result["base"]["n_images"] == len(base) > 0
    assert set(result["base"]) == {"n_images", *TEXT_METRICS} and "attributes" not in result
    assert all(0 <= result["base"][k] <= 1 for k in TEXT_METRICS if k != "cider_d")


def test_a_corrupt_image_is_skipped_and_counted(emoji):
    folder, run = emoji
    (folder / "e03.png").write_bytes(b"\x89PNG\r\n\x1a\nnot a png")
    with pytest.warns(CorruptFileWarning, match="e03.png"):
        result = evaluate_captioner(run, str(folder), split="all")
    assert result["n_images"] == len(NAMES) - 1 and result["skipped"] == 1


@pytest.mark.parametrize(
    "options, message",
    [
        ({"beam": 0}, "beam must be an integer >= 1"),
        ({"batch_size": 0}, "batch_size must be"),
        ({"limit": 0}, "limit must be"),
        ({"max_length": 1}, "max_length must be an integer >= 2"),
        ({"max_length": 99}, "at most the model's 8"),
        ({"split": "bogus"}, "split must be one of train, val, test, compositional"),
        ({"split": ""}, "split must name a part"),
        ({"data": "digits"}, "digits has no captions"),
        ({"model": "no-such-run"}, "no such run folder"),
    ],
)
def test_bad_options_are_one_line(caption_run, options, message):
    kwargs = {"model": caption_run, "data": "scenes", **options}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning on the way to the error
        with pytest.raises(InvalidArgument, match=message) as info:
            evaluate_captioner(kwargs.pop("model"), kwargs.pop("data"), **kwargs)
    assert "\n" not in str(info.value)
    assert "--" not in str(info.value)  # a task's messages name parameters, not command-line flags
