"""Gram matrix, perceptual and style losses: hand-computed cases, gradcheck, style mixing."""

from __future__ import annotations

import pytest
import torch

from atelier.errors import InvalidArgument
from atelier.nets.feature_losses import PerceptualLoss, StyleLoss, gram_matrix
from atelier.nets.vgg19 import VGG19


@pytest.fixture(scope="module")
def vgg() -> VGG19:
    return VGG19(taps=("relu1_1", "relu1_2", "relu2_1"))


def test_gram_by_hand():
    f = torch.tensor([[1.0, 2.0], [3.0, 0.0]]).reshape(1, 2, 1, 2)  # C=2, H=1, W=2
    expected = torch.tensor([[1 + 4, 3 + 0], [3 + 0, 9 + 0]]) / (2 * 1 * 2)
    torch.testing.assert_close(gram_matrix(f)[0], expected)
    with pytest.raises(InvalidArgument, match="gram_matrix takes"):
        gram_matrix(torch.rand(2, 3))


def test_gram_gradcheck():
    f = torch.rand(2, 3, 4, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(gram_matrix, (f,))


def test_perceptual_loss_by_hand(vgg):
    loss = PerceptualLoss({"relu1_1": 2.0, "relu2_1": 0.5}, vgg=vgg)
    x, y = torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16)
    fx, fy = vgg(x), vgg(y)
    expected = 2.0 * ((fx["relu1_1"] - fy["relu1_1"]) ** 2).mean() + 0.5 * ((fx["relu2_1"] - fy["relu2_1"]) ** 2).mean()
    torch.testing.assert_close(loss(x, y), expected)
    torch.testing.assert_close(loss(x, loss.features(y)), expected)  # precomputed target
    assert loss(x, x).item() == 0.0


def test_style_loss_by_hand_and_mix(vgg):
    loss = StyleLoss({"relu1_1": 1.0, "relu1_2": 3.0}, vgg=vgg)
    x, a, b = (torch.rand(1, 3, 12, 12) for _ in range(3))
    ga, gb, gx = loss.grams(a), loss.grams(b), loss.grams(x)
    expected = sum(w * ((gx[t] - ga[t]) ** 2).mean() for t, w in loss.weights.items())
    torch.testing.assert_close(loss(x, a), expected)
    mixed = loss.target_grams([a, b], [3.0, 1.0])
    for t in loss.weights:
        torch.testing.assert_close(mixed[t], 0.75 * ga[t] + 0.25 * gb[t])
    assert loss(a, a).item() == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(InvalidArgument, match="one weight >= 0 per style"):
        loss.target_grams([a, b], [1.0])


def test_losses_gradcheck_through_vgg():
    """Gradients of both losses with respect to the image, in float64 on a tiny input."""
    vgg64 = VGG19(taps=("relu1_1", "relu2_1")).double()
    x = torch.rand(1, 3, 6, 6, dtype=torch.float64, requires_grad=True)
    y = torch.rand(1, 3, 6, 6, dtype=torch.float64)
    perceptual = PerceptualLoss(["relu1_1", "relu2_1"], vgg=vgg64)
    style = StyleLoss(["relu1_1", "relu2_1"], vgg=vgg64)
    goal = style.target_grams(y)
    assert torch.autograd.gradcheck(lambda z: perceptual(z, y), (x,), atol=1e-4, rtol=1e-3)
    assert torch.autograd.gradcheck(lambda z: style(z, goal), (x,), atol=1e-4, rtol=1e-3)


def test_bad_weights():
    with pytest.raises(InvalidArgument, match="at least one"):
        PerceptualLoss({})
    with pytest.raises(InvalidArgument, match="must be >= 0"):
        StyleLoss({"relu1_1": -1.0})


def test_total_variation_by_hand():
    from atelier.nets.feature_losses import total_variation

    x = torch.tensor([[[[0.0, 0.5, 0.5], [1.0, 0.5, 0.5]]]])  # dx: |.5|,0,|-.5|,0 ; dy: 1, 0, 0
    assert total_variation(x).item() == pytest.approx(255 * (1.0 / 4 + 1.0 / 3))
    assert total_variation(torch.full((1, 3, 4, 4), 0.3)).item() == 0.0
