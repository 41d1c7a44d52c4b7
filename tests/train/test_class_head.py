"""The conditional GAN's auxiliary classifier (AC-GAN term, Odena et al. 2017): the
discriminator's class head learns real labels, the generator is pushed towards fakes the head
assigns to their label, and with ``class_weight`` 0 the head takes no part."""

from __future__ import annotations

import torch

from atelier.models import build_model
from atelier.train.objectives import make_objective
from tests.train.test_objectives import MODEL, FakeCtx, _batch, _changed, _snapshot


def _head(obj):
    return obj.model.discriminator.classify_head


def test_head_gives_class_logits():
    gan = build_model("cgan", {**MODEL, "num_classes": 7})
    h = gan.discriminator.features(torch.rand(3, 1, 16, 16))
    assert gan.discriminator.classify(h).shape == (3, 7)


def test_term_trains_the_head_and_reports_both_losses():
    torch.manual_seed(0)
    obj = make_objective(build_model("cgan", MODEL), {"class_weight": 1.0})
    before = _snapshot(_head(obj))
    losses = obj.step(_batch(n=8), 0, FakeCtx(obj.optimizers()))
    assert {"d_cls", "g_cls"} <= set(losses)
    assert all(torch.isfinite(torch.tensor(losses[k])) for k in ("d_cls", "g_cls"))
    assert _changed(before, _head(obj)) == set(before)


def test_weight_zero_leaves_the_head_alone():
    torch.manual_seed(0)
    obj = make_objective(build_model("cgan", MODEL), {"class_weight": 0.0})
    before = _snapshot(_head(obj))
    losses = obj.step(_batch(n=8), 0, FakeCtx(obj.optimizers()))
    assert "d_cls" not in losses and "g_cls" not in losses
    assert _changed(before, _head(obj)) == set()


def test_head_learns_real_labels():
    """Real images of two kinds (dark and bright) get their labels from the head after a
    few discriminator steps: the cross-entropy falls."""
    torch.manual_seed(0)
    obj = make_objective(build_model("cgan", {**MODEL, "num_classes": 2}), {"class_weight": 1.0, "lr_d": 2e-3})
    ctx = FakeCtx(obj.optimizers())
    y = torch.tensor([0, 1] * 8)
    x = torch.where(y[:, None, None, None] == 1, 0.9, 0.1) + 0.05 * torch.rand(16, 1, 16, 16)
    first = obj.step((x, y), 0, ctx)["d_cls"]
    for s in range(1, 30):
        last = obj.step((x, y), s, ctx)["d_cls"]
    assert last < 0.5 * first
