"""Training AdaIN's decoder: the loss, the pairs of crops, the run end to end, exact resume and
its errors. A 1/16-width decoder on 16-32 px crops."""

from __future__ import annotations

import contextlib
import json

import numpy as np
import pytest
import torch

from atelier.data.style_pairs import StylePairDataset
from atelier.errors import InvalidArgument
from atelier.image import save_image
from atelier.models import build_model
from atelier.train.checkpoint import checkpoint_path, load_checkpoint
from atelier.train.objectives import make_objective
from atelier.train.objectives.adain import adain_loss_terms
from tests.cli.test_cli import atelier

TINY = {"width": 0.0625}


@pytest.fixture
def styles(tmp_path):
    """Two small 'paintings': stripes and blobs of colour."""
    root = tmp_path / "styles"
    yy, xx = np.mgrid[0:48, 0:40]
    stripes = np.stack([(xx % 8 < 4) * 220, (yy % 6 < 3) * 180, np.full_like(xx, 40)], -1).astype(np.uint8)
    rng = np.random.default_rng(0)
    blobs = np.repeat(np.repeat(rng.integers(0, 255, (6, 5, 3), dtype=np.uint8), 8, 0), 8, 1)
    save_image(root / "stripes.png", stripes)
    save_image(root / "blobs.png", blobs)
    return root


class _Ctx:
    """The Trainer's StepContext, reduced to what the objective uses."""

    def __init__(self, objective) -> None:
        self.objective = objective

    def autocast(self):
        return contextlib.nullcontext()

    def optimize(self, name, loss):
        opt = self.objective.optimizers()[name]
        opt.zero_grad()
        loss.backward()
        opt.step()


def test_the_loss_decreases_in_a_few_steps():
    torch.manual_seed(0)
    model = build_model("adain", {"width": 0.125})
    objective = make_objective(model, {"lr": 3e-3, "patch": 16})
    content, style = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32) ** 3
    ctx = _Ctx(objective)
    losses = [objective.step((content, style), k, ctx)["loss"] for k in range(10)]
    assert min(losses[-3:]) < 0.75 * losses[0], losses


def test_loss_terms_follow_the_paper():
    """The content term is the relu4_1 distance to the AdaIN target, the style term sums the
    mean and std distances of four layers; the weights scale them linearly."""
    torch.manual_seed(1)
    model = build_model("adain", TINY)
    content, style = torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        a = adain_loss_terms(model, content, style, content_weight=1.0, style_weight=1.0)
        b = adain_loss_terms(model, content, style, content_weight=2.0, style_weight=10.0)
    assert float(a["content"]) > 0 and float(a["style"]) > 0
    assert float(b["content"]) == pytest.approx(2 * float(a["content"]), rel=1e-5)
    assert float(b["style"]) == pytest.approx(10 * float(a["style"]), rel=1e-5)
    assert float(b["loss"]) == pytest.approx(float(b["content"] + b["style"]), rel=1e-6)


def test_identity_term_is_the_reconstruction_error():
    """SANet's identity loss (pixel term): the decoder's L1 error on the content's own
    features; absent at weight 0, in the total otherwise."""
    torch.manual_seed(2)
    model = build_model("adain", TINY)
    content, style = torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        plain = adain_loss_terms(model, content, style)
        both = adain_loss_terms(model, content, style, identity_weight=4.0)
        again = model.decode(model.encode(content)["relu4_1"])
    assert "identity" not in plain
    assert float(both["identity"]) == pytest.approx(4.0 * float((again - content).abs().mean()), rel=1e-5)
    assert float(both["loss"]) == pytest.approx(float(plain["loss"] + both["identity"]), rel=1e-5)
    with pytest.raises(InvalidArgument, match="identity_weight"):
        make_objective(model, {"identity_weight": -1.0})


def test_pairs_are_a_function_of_seed_epoch_and_index(photos, styles):
    ds = StylePairDataset(photos, styles, size=16, holdout=1, per_image=2)
    assert len(ds) == 6 and len(ds.held_out) == 1 and len(ds.styles) == 2
    c, s = ds[3]
    assert c.shape == s.shape == (3, 16, 16) and c.dtype == torch.float32
    again = StylePairDataset(photos, styles, size=16, holdout=1, per_image=2)
    assert all(torch.equal(a, b) for a, b in zip(ds[3], again[3]))
    ds.set_epoch(1)
    assert not torch.equal(ds[3][0], again[3][0])
    with pytest.raises(InvalidArgument, match="no such folder or file"):
        StylePairDataset(photos, styles / "nope", size=16)


def _train(run, photos, styles, *extra):
    return atelier("train", "adain", "--data", photos, "--style", styles, "--out", run, "--set", "width=0.0625",
                   "--set", "patch=16", "--set", "batch_size=2", "--set", "holdout=1", "--set", "per_image=2",
                   "--set", "val_crop=16", "--set", "checkpoint_every=2", "--set", "validate_every=2", *extra)


def test_a_run_trains_validates_exports_and_resumes_exactly(photos, styles, tmp_path):
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert _train(straight, photos, styles, "--set", "steps=4") == 0
    assert _train(split, photos, styles, "--set", "steps=2") == 0
    assert atelier("train", "--resume", split, "--set", "steps=4") == 0
    log = [json.loads(line) for line in (straight / "log.jsonl").read_text().splitlines()]
    vals = [r for r in log if "val_loss" in r]
    assert [r["step"] for r in vals] == [2, 4] and {"val_content", "val_style"} <= set(vals[0])
    assert vals[-1]["best_val_loss"] == min(r["val_loss"] for r in vals)
    assert json.loads((straight / "config.json").read_text())["data_options"]["styles"] == str(styles)
    a, b = (load_checkpoint(checkpoint_path(run / "checkpoints", 4)) for run in (straight, split))
    assert a["best"] == b["best"]
    for key, value in a["modules"]["model"].items():
        assert torch.equal(value, b["modules"]["model"][key]), key
    assert a["optimizers"]["model"]["param_groups"][0]["lr"] == b["optimizers"]["model"]["param_groups"][0]["lr"]
    from atelier.models import load_model

    exported = load_model(straight)
    assert exported.model_name == "adain" and set(exported.state_dict()) == set(a["modules"]["model"])


def test_run_errors(photos, styles, tmp_path, capsys):
    cases = [
        ((), "training adain needs style images"),
        (("--style", tmp_path / "nope"), "no such file or folder"),
        (("--style", styles, "--set", "patch=20"), "patch must be a multiple of 8"),
    ]
    for args, match in cases:
        assert atelier("train", "adain", "--data", photos, "--out", tmp_path / "r", "--set", "width=0.0625", *args) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and match in err[0], err
