"""Tests for atelier.models.unet (the diffusion U-Net), on tiny configs."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from atelier.errors import InvalidArgument
from atelier.models import build_model, load_model, save_model
from atelier.models.registry import count_parameters
from atelier.models.text_layout import ObjectLayout
from atelier.models.unet import DiffusionConfig, TextContext

from tests.models.helpers import assert_all_grads

VOCAB = 24


def tiny(cond: str = "none", resolution: int = 16, channels: int = 1, **overrides):
    torch.manual_seed(0)
    config = {
        "resolution": resolution, "channels": channels, "width": 8, "channel_mults": [1, 2],
        "res_blocks": 1, "attention_resolutions": [resolution // 2], "heads": 2, "dropout": 0.0,
        "cond": cond, "num_classes": 3, "vocab_size": VOCAB, "text_dim": 16, "text_layers": 1,
        "text_heads": 2, "text_max_length": 8, **overrides,
    }  # fmt: skip
    return build_model("diffusion", config)


def condition(cond: str, batch: int) -> dict:
    """Keyword arguments of a real condition for ``batch`` rows."""
    if cond == "label":
        return {"labels": torch.arange(batch) % 3}
    if cond == "text":
        tokens = torch.randint(4, VOCAB, (batch, 6), generator=torch.Generator().manual_seed(1))
        tokens[:, 0], tokens[:, -1] = 1, 2
        tokens[0, 3:] = torch.tensor([2, 0, 0])  # a shorter prompt, padded
        return {"tokens": tokens}
    return {}


def scramble_(model) -> None:
    """Random weights everywhere (zero-initialised layers included), so outputs are not 0."""
    torch.manual_seed(3)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)


def train_steps(model, cond: str, steps: int, batch: int = 4):
    """A few Adam steps of ε-prediction on random data; half the rows condition-dropped."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(0)
    c = model.config
    for _ in range(steps):
        x = torch.randn(batch, c.channels, c.resolution, c.resolution, generator=g)
        noise = torch.randn(x.shape, generator=g)
        drop = torch.arange(batch) % 2 == 1 if cond != "none" else None
        loss = F.mse_loss(model(x + noise, torch.randint(0, 100, (batch,), generator=g), drop=drop,
                                **condition(cond, batch)), noise)  # fmt: skip
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return loss


# --- shapes -----------------------------------------------------------------------------------


@pytest.mark.parametrize("cond", ["none", "label", "text"])
@pytest.mark.parametrize("resolution, channels", [(16, 1), (32, 3), (48, 3)])
def test_shapes(cond, resolution, channels):
    model = tiny(cond, resolution, channels).eval()
    x = torch.randn(2, channels, resolution, resolution)
    with torch.no_grad():
        y = model(x, torch.tensor([0, 999]), **condition(cond, 2))
        assert y.shape == x.shape and y.dtype == torch.float32
        assert float(y.abs().max()) == 0.0  # zero-initialised output conv (improved DDPM)
        scramble_(model)
        y = model(x, torch.tensor([0.5, 999.0]), **condition(cond, 2))
    assert torch.isfinite(y).all() and float(y.std()) > 0


def test_three_levels_at_48_px_and_a_scalar_timestep():
    model = tiny("none", 48, 3, channel_mults=[1, 2, 2], attention_resolutions=[24, 12]).eval()
    scramble_(model)
    x = torch.randn(2, 3, 48, 48)
    torch.testing.assert_close(model(x, 7), model(x, torch.tensor([7, 7])))
    assert model(torch.randn(1, 3, 32, 64), 7).shape == (1, 3, 32, 64)  # any multiple of 4


def test_patch_size_folds_pixels_into_channels():
    """patch_size 2: the levels run at half the side (attention sides count the patched
    image), the output has the input's shape, and the model still learns (gradients flow
    through pixel_unshuffle / pixel_shuffle)."""
    model = tiny("text", 48, 3, patch_size=2, channel_mults=[1, 2], attention_resolutions=[12])
    assert model.config.sides == [24, 12]
    x = torch.randn(2, 3, 48, 48)
    scramble_(model)
    assert model(x, 5, **condition("text", 2)).shape == x.shape
    with pytest.raises(InvalidArgument, match="multiples of 4"):
        model(torch.randn(2, 3, 46, 48), 5, **condition("text", 2))
    train_steps(model, "text", 2)
    assert_all_grads(model)


def test_position_embedding_tells_the_attention_where_each_token_is():
    """position_embedding: the embedding is distinct at every cell and means the same place
    at every level; it adds no parameters but changes the output of the same weights; and
    training still reaches every parameter."""
    from atelier.models.unet_blocks import position_embedding_2d

    emb = position_embedding_2d(6, 6, 32)
    assert emb.shape == (36, 32) and torch.unique(emb, dim=0).shape[0] == 36
    coarse, fine = position_embedding_2d(2, 2, 32), position_embedding_2d(4, 4, 32)
    assert torch.cdist(coarse[:1], fine).argmin() == 0  # top-left cell nearest top-left cell
    assert position_embedding_2d(3, 5, 30).shape == (15, 30)  # padded to an odd width
    plain = tiny("text", position_embedding=False)
    placed = tiny("text", position_embedding=True)
    placed.load_state_dict(plain.state_dict())  # no new parameters: the same weights load
    scramble_(plain)
    placed.load_state_dict(plain.state_dict())
    x, kw = torch.randn(2, 1, 16, 16), condition("text", 2)
    assert not torch.allclose(plain(x, 5, **kw), placed(x, 5, **kw))
    train_steps(placed, "text", 2)
    assert_all_grads(placed)


def test_text_layout_head_feeds_the_unet():
    """text_layout: the head's (B, C, side, side) picture is extra input of the U-Net (a
    changed picture changes the output), and every parameter trains."""
    model = tiny("text", text_layout=4)
    scramble_(model)
    kw = condition("text", 2)
    text = model.encode_text(kw["tokens"])
    assert model.layout_of(text).shape == (2, 1, 4, 4)
    x = torch.randn(2, 1, 16, 16)
    out, layout = model(x, 5, text=text, return_layout=True)
    torch.testing.assert_close(layout, model.layout_of(text))
    with torch.no_grad():
        model.text_layout.out.bias.add_(1.0)
    assert not torch.allclose(out, model(x, 5, text=text))
    train_steps(model, "text", 2)
    assert_all_grads(model)
    with pytest.raises(InvalidArgument, match="no text layout head"):
        tiny("text").layout_of(text)
    with pytest.raises(InvalidArgument, match="no text layout head"):
        tiny("text")(x, 5, text=text, return_layout=True)


def test_object_layout_head_feeds_the_unet_and_every_parameter_trains():
    """layout_head "objects": the head is an ObjectLayout; the U-Net reads its picture."""
    model = tiny("text", text_layout=4, layout_head="objects")
    scramble_(model)
    text = model.encode_text(condition("text", 2)["tokens"])
    assert isinstance(model.text_layout, ObjectLayout)
    assert model.layout_of(text).shape == (2, 1, 4, 4)
    x = torch.randn(2, 1, 16, 16)
    out = model(x, 5, text=text)
    with torch.no_grad():
        model.text_layout.color.bias.add_(1.0)
    assert not torch.allclose(out, model(x, 5, text=text))
    train_steps(model, "text", 2)
    assert_all_grads(model)


# --- gradients and the null condition ------------------------------------------------------


@pytest.mark.parametrize("cond", ["none", "label", "text"])
def test_gradients_reach_every_parameter(cond):
    """At init only the zero-initialised output conv gets a gradient (the zero convs close
    every residual branch); after two steps every parameter gets one and every
    zero-initialised layer has moved."""
    model = tiny(cond, dropout=0.1).train()
    zero = {n for n, p in model.named_parameters() if p.ndim > 1 and float(p.detach().abs().max()) == 0.0}
    assert "out.2.weight" in zero and any(".out_layers." in n for n in zero)
    assert any("attn.proj" in n or "proj_out" in n for n in zero)
    train_steps(model, cond, 1)
    moved = {n for n, p in model.named_parameters() if n in zero and float(p.detach().abs().max()) > 0.0}
    assert moved == {"out.2.weight"}
    train_steps(model, cond, 1)
    model.zero_grad()
    train_steps(model, cond, 1)  # one more backward (Adam steps with the gradients it just used)
    assert_all_grads(model)
    assert all(float(p.detach().abs().max()) > 0.0 for n, p in model.named_parameters() if n in zero)


def test_null_text_gets_a_gradient_when_no_row_is_dropped():
    """Data-parallel training averages the gradients each process has: every parameter
    needs one on every step, also when no row of a batch dropped its text."""
    model = tiny("text")
    model(torch.randn(2, 1, 16, 16), torch.tensor([1, 2]), **condition("text", 2)).sum().backward()
    assert model.null_text.grad is not None and all(p.grad is not None for p in model.parameters())


def test_null_label_and_null_text_change_the_output():
    for cond in ("label", "text"):
        model = tiny(cond, dropout=0.0)
        train_steps(model, cond, 6)
        model.eval()
        x, t = torch.randn(4, 1, 16, 16), torch.full((4,), 50)
        real = condition(cond, 4)
        with torch.no_grad():
            conditioned = model(x, t, **real)
            dropped = model(x, t, **real, drop=torch.ones(4, dtype=torch.bool))
            mixed = model(x, t, **real, drop=torch.tensor([False, True, False, True]))
        assert float((conditioned - dropped).abs().amax(dim=(1, 2, 3)).min()) > 1e-4
        torch.testing.assert_close(mixed[0::2], conditioned[0::2])
        torch.testing.assert_close(mixed[1::2], dropped[1::2])
        if cond == "label":  # drop == the null label index
            torch.testing.assert_close(dropped, model(x, t, labels=torch.full((4,), model.null_label)))
            assert model.null_label == 3
        else:  # the null text does not depend on the tokens it replaces
            other = torch.tensor([[1, 5, 2, 0, 0, 0]] * 4)
            torch.testing.assert_close(dropped, model(x, t, tokens=other, drop=torch.ones(4, dtype=torch.bool)))


def test_encoded_text_matches_tokens_and_padding_is_invisible():
    model = tiny("text")
    scramble_(model)
    model.eval()
    x, t = torch.randn(2, 1, 16, 16), torch.tensor([3, 40])
    tokens = condition("text", 2)["tokens"]
    drop = torch.tensor([True, False])
    direct = model(x, t, tokens=tokens, drop=drop)
    context = model.encode_text(tokens)
    assert isinstance(context, TextContext) and context.states.shape == (2, 6, 16)
    torch.testing.assert_close(model(x, t, text=context, drop=drop), direct)
    padded = torch.cat([tokens, torch.zeros(2, 2, dtype=torch.long)], dim=1)
    torch.testing.assert_close(model(x, t, tokens=padded, drop=drop), direct, rtol=1e-5, atol=1e-5)


# --- memory format, save/load -----------------------------------------------------------------


@pytest.mark.parametrize("cond", ["none", "text"])
def test_channels_last_matches_contiguous(cond):
    model = tiny(cond, 32, 3).eval()
    scramble_(model)
    x, t, kw = torch.randn(2, 3, 32, 32), torch.tensor([5, 60]), condition(cond, 2)
    with torch.no_grad():
        expected = model(x, t, **kw)
        got = model(x.to(memory_format=torch.channels_last), t, **kw)
        model.to(memory_format=torch.channels_last)
        both = model(x.to(memory_format=torch.channels_last), t, **kw)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(both, expected, rtol=1e-4, atol=1e-5)


def test_save_load_round_trip_and_determinism(tmp_path):
    model = tiny("text", channel_mults=[1, 2], attention_resolutions=[16, 8]).eval()
    scramble_(model)
    save_model(model, tmp_path)
    loaded = load_model(tmp_path)
    assert loaded.config == model.config and loaded.config.channel_mults == (1, 2)
    x, t, kw = torch.randn(2, 1, 16, 16), torch.tensor([1, 2]), condition("text", 2)
    assert torch.equal(model(x, t, **kw), loaded(x, t, **kw))
    a, b = tiny("text").state_dict(), tiny("text").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)  # the same seed builds the same weights


# --- sizes --------------------------------------------------------------------------------------

#: Default parameter counts (stated in the module docstring); a change here should be deliberate.
DEFAULT_PARAMS = {"none": 7_280_707, "label": 7_283_523, "text": 12_888_259}
SCENES_48 = {"cond": "text", "resolution": 48, "attention_resolutions": [24, 12], "vocab_size": 64}


@pytest.mark.parametrize("cond", DEFAULT_PARAMS)
def test_default_param_counts(cond):
    assert count_parameters("diffusion", {"cond": cond}) == DEFAULT_PARAMS[cond]


def test_48px_text_model_ships_under_15_mb():
    from safetensors.torch import save

    from atelier.models.quantize import quantize_state

    assert count_parameters("diffusion", SCENES_48) == 12_648_643
    model = build_model("diffusion", SCENES_48)
    size = len(save(quantize_state(model.state_dict())))
    print(f"8-bit file {size / 1e6:.2f} MB")
    assert size < 15_000_000, size


# --- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad, match",
    [
        ({"resolution": 40}, "resolution must be one of the sizes from 16 to 128 .16, 32, 48, 64, 128"),
        ({"resolution": 48, "channel_mults": [1, 1, 1, 1, 1, 1], "attention_resolutions": []},
         r"resolution must be divisible by 32: patch_size 1 and channel_mults of 6 levels"),
        ({"resolution": 48, "patch_size": 2, "channel_mults": [1, 2, 2, 2, 2]},
         r"resolution must be divisible by 32: patch_size 2"),
        ({"patch_size": 3}, "patch_size must be 1, 2 or 4"),
        ({"position_embedding": True}, "position_embedding must be false unless cond is 'text'"),
        ({"text_layout": 4}, r"text_layout must be 0, or \(with cond 'text'\) a divisor of resolution / patch_size \(32\)"),
        ({"cond": "text", "text_layout": 5}, "text_layout must be 0, or"),
        ({"cond": "text", "layout_head": "objects"}, "layout_head must be 'cells' unless text_layout is set"),
        ({"cond": "text", "text_layout": 4, "layout_head": "slots"}, "layout_head must be one of 'cells', 'objects'"),
        ({"channel_mults": []}, "channel_mults must be a list of 1 to 6"),
        ({"channel_mults": 2}, "channel_mults must be a list of integers"),
        ({"attention_resolutions": [12]}, r"attention_resolutions must be sides this U-Net has \(32, 16, 8 px"),
        ({"heads": 3}, r"heads must be a divisor of the channels of every attention level \(128\)"),
        ({"cond": "clip"}, "cond must be one of 'none', 'label', 'text'"),
        ({"cond": "label", "num_classes": 1}, "num_classes"),
        ({"cond": "text", "text_dim": 30, "text_heads": 4}, r"text_dim must be a multiple of text_heads \(4\)"),
        ({"dropout": 1.0}, "dropout"),
        ({"width": 4}, "width"),
    ],
)  # fmt: skip
def test_config_errors(bad, match):
    with pytest.raises(InvalidArgument, match=match):
        DiffusionConfig(**bad)


def test_bad_inputs():
    none, label, text = tiny("none").eval(), tiny("label").eval(), tiny("text").eval()
    x, t = torch.randn(2, 1, 16, 16), torch.tensor([1, 2])
    cases = [
        (lambda: none(torch.randn(2, 3, 16, 16), t), r"x_t must be \(B, 1, H, W\)"),
        (lambda: none(torch.randn(2, 1, 15, 16), t), "multiples of 2"),
        (lambda: none(x, torch.tensor([1, 2, 3])), r"t must be a number or a \(2,\) tensor"),
        (lambda: none(x, t, labels=torch.tensor([0, 1])), "unconditional"),
        (lambda: none(x, t, drop=torch.tensor([0, 1])), "drop must be a"),
        (lambda: label(x, t), "class-conditional .* takes labels, got none; use drop"),
        (lambda: label(x, t, labels=torch.tensor([0.0, 1.0])), "integer tensor"),
        (lambda: label(x, t, tokens=torch.ones(2, 3, dtype=torch.long)), "takes labels, got tokens"),
        (lambda: text(x, t, labels=torch.tensor([0, 1])), "text-conditional"),
        (lambda: text(x, t, tokens=torch.ones(2, 9, dtype=torch.long)), "max_length 8"),
        (lambda: text(x, t, tokens=torch.ones(3, 4, dtype=torch.long)), r"\(2, L\) int64"),
        (lambda: label.encode_text(torch.ones(2, 3, dtype=torch.long)), "class-conditional"),
        (lambda: none.null_label, "class-conditional"),
    ]
    for call, match in cases:
        with pytest.raises(InvalidArgument, match=match):
            call()


# --- it learns ------------------------------------------------------------------------------------


def test_it_learns_to_denoise_a_few_fixed_images():
    """Plain ε-prediction (Ho et al. 2020, Algorithm 1) on four fixed 16 px images with a
    linear beta schedule written here (not atelier.schedulers): the loss falls clearly."""
    torch.manual_seed(0)
    model = tiny("none", dropout=0.0, width=16).train()
    steps, T = 60, 200
    betas = torch.linspace(1e-4, 0.04, T)
    alpha_bar = torch.cumprod(1 - betas, dim=0)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, 16), torch.linspace(-1, 1, 16), indexing="ij")
    images = torch.stack([xx, yy, (xx**2 + yy**2 < 0.4).float() * 2 - 1, torch.sign(xx * yy)])[:, None]
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    g = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(steps):
        x0 = images.repeat(2, 1, 1, 1)
        t = torch.randint(0, T, (x0.shape[0],), generator=g)
        noise = torch.randn(x0.shape, generator=g)
        a = alpha_bar[t].view(-1, 1, 1, 1)
        loss = F.mse_loss(model(a.sqrt() * x0 + (1 - a).sqrt() * noise, t), noise)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    first, last = sum(losses[:10]) / 10, sum(losses[-10:]) / 10
    print(f"loss {first:.3f} -> {last:.3f}")
    assert last < 0.5 * first, (first, last)
