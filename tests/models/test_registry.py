"""Tests for atelier.models.registry: config validation, build, and save/load round trips."""

from __future__ import annotations

import json

import pytest
import torch

from atelier.errors import AtelierError, InvalidArgument, UnknownName
from atelier.models import build_model, get_model_spec, list_models, load_model, save_model
from atelier.models.registry import CONFIG_FILE, WEIGHTS_FILE

NAMES = ["cgan", "classifier", "cvae", "dcgan", "vae", "vaegan"]
TINY = {
    "dcgan": {"width": 8, "latent_dim": 8},
    "cgan": {"width": 8, "latent_dim": 8, "num_classes": 3, "embed_dim": 4},
    "vae": {"width": 8, "latent_dim": 4},
    "cvae": {"width": 8, "latent_dim": 4, "num_classes": 3},
    "vaegan": {"width": 8, "latent_dim": 4},
    "classifier": {"width": 8, "num_classes": 3, "feature_dim": 16},
}
#: Default parameter counts, printed in the issue report; a change here should be deliberate.
DEFAULT_PARAMS = {
    "cgan": 1_868_555, "classifier": 353_834, "cvae": 547_361,
    "dcgan": 1_728_194, "vae": 526_241, "vaegan": 693_058,
}  # fmt: skip


def test_list_models():
    restoration = ["adain", "captioner", "diffusion", "dncnn", "drunet", "edsr", "espcn", "inpaint", "style", "text-gan"]  # own test files
    assert [s.name for s in list_models()] == sorted(NAMES + restoration)
    assert all(s.summary for s in list_models())


def test_unknown_model_suggests():
    with pytest.raises(UnknownName, match="dcgan"):
        build_model("dcgam", {})


@pytest.mark.parametrize("name", NAMES)
def test_default_param_counts(name):
    model = build_model(name)
    assert sum(p.numel() for p in model.parameters()) == DEFAULT_PARAMS[name]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    "bad, match",
    [
        ({"resolution": 48}, "power of two"),
        ({"resolution": 256}, "power of two"),
        ({"resolution": 8}, "power of two"),
        ({"channels": 2}, "channels"),
        ({"colour": True}, "known keys: resolution, channels"),
        ({"resolution": "32"}, "integer"),
        ({"resolution": 32.0}, "integer"),
        ({"width": 0}, "width"),
    ],
)
def test_config_errors(name, bad, match):
    with pytest.raises(InvalidArgument, match=match):
        build_model(name, bad)


def test_literal_and_bool_fields_checked():
    with pytest.raises(InvalidArgument, match="'nonsaturating', 'hinge', 'wgan-gp'"):
        build_model("dcgan", {"loss": "wgan"})
    with pytest.raises(InvalidArgument, match="true or false"):
        build_model("dcgan", {"spectral_norm": 1})
    with pytest.raises(InvalidArgument, match="bernoulli"):
        build_model("vae", {"recon": "l2"})
    assert build_model("vae", {"beta": 2}).config.beta == 2.0  # int widened to float


def test_config_object_accepted():
    spec = get_model_spec("vae")
    cfg = spec.config_class(resolution=16, width=8)
    assert build_model("vae", cfg).config is cfg
    with pytest.raises(InvalidArgument, match="mapping"):
        build_model("vae", [("width", 8)])


def _outputs(model, name):
    """A deterministic output of each family (eval mode, seeded noise)."""
    torch.manual_seed(0)
    c = model.config
    x = torch.rand(3, c.channels, c.resolution, c.resolution)
    g = torch.Generator().manual_seed(1)
    model.eval()
    with torch.no_grad():
        if name == "classifier":
            return [model(x), model.features(x)]
        if name == "cgan":
            return [model.sample(3, generator=g), model.discriminator(x, torch.tensor([0, 1, 2]))]
        if name == "cvae":
            return [model.sample(3, generator=g), *model(x, torch.tensor([0, 1, 2]), generator=g)]
        outs = [model.sample(3, generator=g)]
        if name != "vae":
            outs.append(model.discriminator(x))
        if name != "dcgan":
            outs += list(model(x, generator=g))
        return outs


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("resolution, channels", [(16, 1), (32, 3)])
def test_save_load_round_trip(tmp_path, name, resolution, channels):
    """The reloaded model gives bit-identical outputs; BN statistics are moved off their
    defaults by a training-mode forward first, so a lost buffer would show."""
    model = build_model(name, {**TINY[name], "resolution": resolution, "channels": channels})
    model.train()
    with torch.no_grad():  # update BatchNorm running stats and spectral-norm vectors
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.add_(torch.rand_like(m.running_mean))
        _ = model.sample(4) if hasattr(model, "sample") else model(torch.rand(4, channels, resolution, resolution))
    save_model(model, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [CONFIG_FILE, WEIGHTS_FILE]  # no temp left
    meta = json.loads((tmp_path / CONFIG_FILE).read_text())
    assert meta["model"] == name and meta["config"]["resolution"] == resolution
    loaded = load_model(tmp_path)
    assert type(loaded) is type(model) and not loaded.training
    for a, b in zip(_outputs(model, name), _outputs(loaded, name)):
        assert torch.equal(a, b)
    sa, sb = model.state_dict(), loaded.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_load_errors(tmp_path):
    with pytest.raises(AtelierError, match="no model.json"):
        load_model(tmp_path / "missing")
    save_model(build_model("vae", TINY["vae"] | {"resolution": 16}), tmp_path)
    # weights that do not match the config
    meta = json.loads((tmp_path / CONFIG_FILE).read_text())
    meta["config"]["width"] = 16
    (tmp_path / CONFIG_FILE).write_text(json.dumps(meta))
    with pytest.raises(AtelierError, match="do not match"):
        load_model(tmp_path)
    # corrupt JSON, unknown model, truncated weights, missing weights
    (tmp_path / CONFIG_FILE).write_text("{not json")
    with pytest.raises(AtelierError, match="not a valid model config"):
        load_model(tmp_path)
    (tmp_path / CONFIG_FILE).write_text(json.dumps({"model": "nope", "config": {}}))
    with pytest.raises(UnknownName):
        load_model(tmp_path)
    meta["config"]["width"] = 8
    (tmp_path / CONFIG_FILE).write_text(json.dumps(meta))
    data = (tmp_path / WEIGHTS_FILE).read_bytes()
    (tmp_path / WEIGHTS_FILE).write_bytes(data[: len(data) // 2])
    with pytest.raises(AtelierError, match="not a readable safetensors"):
        load_model(tmp_path)
    (tmp_path / WEIGHTS_FILE).unlink()
    with pytest.raises(AtelierError, match="no model.safetensors"):
        load_model(tmp_path)


def test_save_unregistered_module(tmp_path):
    with pytest.raises(InvalidArgument, match="not a registered"):
        save_model(torch.nn.Linear(2, 2), tmp_path)
    assert not any(tmp_path.iterdir())
