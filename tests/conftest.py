"""Shared fixtures: small real photos from scikit-image and the optional ../shared/data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """scikit-image's astronaut (512x512 RGB uint8), reduced to 128x96 for speed."""
    import cv2
    from skimage import data

    return np.ascontiguousarray(cv2.resize(data.astronaut(), (128, 96), interpolation=cv2.INTER_AREA))


@pytest.fixture
def shared_data() -> Path:
    """``../shared/data`` beside the project; tests using it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared benchmark data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def caption_run(tmp_path_factory) -> Path:
    """A tiny captioner run folder (model.safetensors, model.json, tokenizer.json) trained
    for 2 steps on scenes: random encoder at 64 px, a 1-layer 16-wide decoder."""
    from atelier.tasks.training import resolve_run, train_run

    sets = ["pretrained=false", "image_size=64", "d_model=16", "layers=1", "heads=2", "max_length=8",
            "finetune_blocks=1", "data.length=16", "data.size=32", "steps=2", "batch_size=4",
            "checkpoint_every=2", "log_every=2", "warmup_steps=1", "val_images=2"]  # fmt: skip
    spec = resolve_run("caption", data="scenes", overrides=sets, check_device=False)
    spec["train"]["device"] = "cpu"
    return train_run(spec, tmp_path_factory.mktemp("caption") / "run")
