"""The conditional GAN's mode-seeking term (Mao et al. 2019): it is on by default for cgan,
off for dcgan, pairs noise vectors of the same label in one generator pass, and rewards a
generator whose output depends on z."""

from __future__ import annotations

import math

import torch

from atelier.models import build_model
from atelier.train.objectives import make_objective
from atelier.train.objectives.gan import mode_seeking_ratio
from tests.train.test_objectives import MODEL, FakeCtx, _batch


def test_defaults_cgan_on_dcgan_off():
    assert make_objective(build_model("cgan", MODEL)).hyper.mode_seeking == 0.3
    assert make_objective(build_model("dcgan", MODEL)).hyper.mode_seeking == 0.0


def test_cgan_step_pairs_noise_with_the_same_labels():
    torch.manual_seed(0)
    obj = make_objective(build_model("cgan", MODEL))
    seen = []
    obj.model.generator.register_forward_hook(lambda m, args, out: seen.append((args[0], args[1], out)))
    x, y = _batch(n=8)
    losses = obj.step((x, y), 0, FakeCtx(obj.optimizers()))
    z, labels, out = seen[0]
    assert len(z) == 12 and torch.equal(labels[:8], y) and torch.equal(labels[8:], y[:4])
    assert not torch.equal(z[8:], z[:4])  # fresh noise for the second of each pair
    expected = mode_seeking_ratio(out[:4], out[8:], z[:4], z[8:]).detach()
    assert math.isclose(losses["ms_ratio"], float(expected), rel_tol=1e-5)


def test_dcgan_step_has_no_pairs_and_no_ratio():
    obj = make_objective(build_model("dcgan", MODEL))
    seen = []
    obj.model.generator.register_forward_hook(lambda m, args, out: seen.append(args[0]))
    losses = obj.step(_batch(n=8)[0], 0, FakeCtx(obj.optimizers()))
    assert len(seen[0]) == 8 and "ms_ratio" not in losses


def test_term_pushes_the_generator_to_use_its_noise():
    """With the adversarial term of the generator's loss switched off, the mode-seeking
    term alone raises the output's dependence on z step after step."""
    torch.manual_seed(0)
    obj = make_objective(build_model("cgan", MODEL), {"mode_seeking": 1.0, "lr_g": 1e-3})
    d_loss = obj.loss.d_loss
    obj.loss = type("NoAdversarialG", (), {"d_loss": staticmethod(d_loss), "g_loss": staticmethod(lambda l: 0.0 * l.sum())})()
    ctx = FakeCtx(obj.optimizers())
    ratios = [obj.step(_batch(n=16, seed=s), s, ctx)["ms_ratio"] for s in range(12)]
    assert ratios[-1] > 1.5 * ratios[0]


def test_ratio_is_in_signed_units():
    a, b = torch.zeros(3, 1, 4, 4), torch.full((3, 1, 4, 4), 0.25)
    za, zb = torch.zeros(3, 5), torch.full((3, 5), 2.0)
    assert math.isclose(float(mode_seeking_ratio(a, b, za, zb)), 0.5 / 2.0)
