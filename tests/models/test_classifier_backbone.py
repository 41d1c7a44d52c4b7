"""The classifier on a pretrained backbone: build, feature map / head split, freezing choices,
frozen BatchNorm, learning-rate groups, config errors."""

from __future__ import annotations

import pytest
import torch

from atelier.errors import InvalidArgument
from atelier.models import build_model, load_model, save_model
from atelier.models.classifier import backbone_stage_names
from atelier.tasks.training import backbone_freeze
from atelier.train.objectives import make_objective

CFG = {"backbone": "efficientnet-lite0", "pretrained": False, "resolution": 32, "channels": 3, "num_classes": 3}


class _Ctx:
    """The bits of the Trainer's StepContext a classifier step uses."""

    generator = torch.Generator().manual_seed(0)

    def __init__(self, objective):
        self.objective = objective

    def autocast(self):
        import contextlib

        return contextlib.nullcontext()

    def optimize(self, name, loss):
        opt = self.objective.optimizers()[name]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def _step(objective, model):
    torch.manual_seed(1)
    batch = (torch.rand(4, 3, 32, 32), torch.tensor([0, 1, 2, 0]))
    model.train()  # what the Trainer does before every step
    objective.step(batch, 0, _Ctx(objective))


def _snapshot(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _changed(before, model, prefix):
    """Whether any parameter under ``prefix`` differs from ``before``."""
    names = [n for n, _ in model.named_parameters() if n == prefix or n.startswith(prefix + ".")]
    assert names, prefix
    return any(not torch.equal(before[n], model.state_dict()[n]) for n in names)


def test_shapes_and_split():
    model = build_model("classifier", CFG).eval()
    x = torch.rand(2, 3, 32, 32)
    fmap = model.feature_map(x)
    assert fmap.shape == (2, 1280, 1, 1) and model.gap_linear and model.feature_dim == 1280
    assert torch.allclose(model.logits_from_map(fmap), model(x), atol=1e-6)
    assert model.features(x).shape == (2, 1280)
    assert model(torch.rand(2, 1, 32, 32)).shape == (2, 3)  # grey is repeated to RGB
    cnn = build_model("classifier", {"resolution": 16, "width": 8}).eval()
    x = torch.rand(2, 1, 16, 16)
    assert not cnn.gap_linear and cnn.feature_map(x).shape == (2, 32, 4, 4)
    assert torch.allclose(cnn.logits_from_map(cnn.feature_map(x)), cnn(x), atol=1e-6)


def test_save_load_round_trip_keeps_weights_and_class_names(tmp_path):
    model = build_model("classifier", {**CFG, "class_names": ["cat", "dog", "owl"]}).eval()
    save_model(model, tmp_path)
    back = load_model(tmp_path)
    assert back.config.class_names == ("cat", "dog", "owl")
    x = torch.rand(1, 3, 32, 32)
    assert torch.equal(back(x), model(x))


def test_linear_probe_trains_the_head_only_and_keeps_bn_statistics():
    model = build_model("classifier", CFG)
    obj = make_objective(model, freeze=("backbone",))
    before = _snapshot(model)
    _step(obj, model)
    assert not any(m.training for s in model.backbone.stages() for m in s.modules()) and model.head.training
    # frozen: weights and BatchNorm running statistics bit-identical
    for name, value in model.backbone.state_dict().items():
        assert torch.equal(before[f"backbone.{name}"], value), name
    assert _changed(before, model, "head")


@pytest.mark.parametrize("n", [1, 3])
def test_unfreeze_last_n_trains_exactly_the_last_n_blocks(n):
    model = build_model("classifier", CFG)
    spec = {"model": "classifier", "model_config": CFG}
    obj = make_objective(model, freeze=tuple(backbone_freeze(spec, unfreeze_last=n)))
    before = _snapshot(model)
    _step(obj, model)
    stages = backbone_stage_names("efficientnet-lite0")
    changed = [s for s in stages if _changed(before, model, s)]
    assert changed == list(stages[-n:])
    assert _changed(before, model, "head")
    frozen_bn = [m for m in model.backbone.stages()[0].modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert frozen_bn and not any(m.training for m in frozen_bn)  # frozen stages in eval mode
    assert all(m.training for m in model.backbone.stages()[-1].modules())


def test_default_fine_tunes_everything_with_a_lower_backbone_lr():
    model = build_model("classifier", CFG)
    obj = make_objective(model)
    head, backbone = obj.opt.param_groups
    assert (head["lr"], backbone["lr"]) == (1e-3, 1e-4)
    assert {id(p) for p in backbone["params"]} == {id(p) for p in model.backbone.parameters()}
    assert {id(p) for p in head["params"]} == {id(p) for p in model.head.parameters()}
    assert obj.hyper.augment and obj.hyper.label_smoothing == 0.1
    before = _snapshot(model)
    _step(obj, model)
    assert all(_changed(before, model, s) for s in backbone_stage_names("efficientnet-lite0"))


def test_small_cnn_recipe_is_unchanged():
    obj = make_objective(build_model("classifier", {"resolution": 16, "width": 8}))
    assert len(obj.opt.param_groups) == 1 and obj.opt.param_groups[0]["lr"] == 1e-3
    assert not obj.hyper.augment and obj.hyper.label_smoothing == 0.0


def test_freeze_choices_are_checked():
    spec = {"model": "classifier", "model_config": CFG}
    assert backbone_freeze(spec) == [] and backbone_freeze(spec, freeze_backbone=True) == ["backbone"]
    assert len(backbone_freeze(spec, unfreeze_last=18)) == 0
    with pytest.raises(InvalidArgument, match="from 1 to 18"):
        backbone_freeze(spec, unfreeze_last=19)
    with pytest.raises(InvalidArgument, match="exclude each other"):
        backbone_freeze(spec, freeze_backbone=True, unfreeze_last=2)
    with pytest.raises(InvalidArgument, match="pretrained backbone"):
        backbone_freeze({"model": "classifier", "model_config": {"backbone": "none"}}, freeze_backbone=True)


def test_config_errors():
    with pytest.raises(InvalidArgument, match="multiple of 32"):
        build_model("classifier", {**CFG, "resolution": 100})
    with pytest.raises(InvalidArgument, match="power of two"):
        build_model("classifier", {"resolution": 224})  # the small CNN keeps its sizes
    with pytest.raises(InvalidArgument, match="class_names"):
        build_model("classifier", {**CFG, "class_names": ["a", "b"]})
    with pytest.raises(InvalidArgument, match="backbone"):
        build_model("classifier", {**CFG, "backbone": "resnet50"})
