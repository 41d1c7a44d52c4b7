"""8-bit storage of weights: a quarter of the size, errors within half a step, and
``load_model`` reading it back."""

from __future__ import annotations

import torch
from safetensors.torch import save

from atelier.models import build_model, load_model, save_model
from atelier.models.quantize import dequantize_state, is_quantized, quantize_state


def test_error_within_half_a_step_and_other_tensors_kept():
    torch.manual_seed(0)
    state = {"w": torch.randn(5, 4, 3, 3) * 3, "b": torch.randn(5), "n": torch.tensor(7)}
    packed = quantize_state(state)
    assert is_quantized(packed) and not is_quantized(state)
    back = dequantize_state(packed)
    assert set(back) == set(state) and back["w"].dtype == torch.float32
    assert ((back["w"] - state["w"]).abs() <= packed["w.__q_step"] / 2 + 1e-6).all()
    torch.testing.assert_close(back["b"], state["b"], atol=5e-3, rtol=1e-3)
    assert torch.equal(back["n"], state["n"])
    flat = torch.zeros(2, 3)  # a constant channel must not divide by zero
    assert torch.equal(dequantize_state(quantize_state({"z": flat}))["z"], flat)


def test_a_quantized_folder_loads_and_is_a_quarter_of_the_size(tmp_path):
    torch.manual_seed(0)
    net = build_model("inpaint", {"width": 16, "levels": 3}).eval()
    torch.nn.init.normal_(net.head.weight, std=0.05)
    save_model(net, tmp_path / "m")
    packed = save(quantize_state(net.state_dict()))
    assert len(packed) < 0.3 * (tmp_path / "m" / "model.safetensors").stat().st_size
    (tmp_path / "m" / "model.safetensors").write_bytes(packed)
    x, m = torch.rand(1, 3, 32, 32), torch.zeros(1, 1, 32, 32)
    m[..., 8:20, 8:24] = 1
    with torch.no_grad():
        torch.testing.assert_close(load_model(tmp_path / "m")(x, m), net(x, m), atol=2e-2, rtol=0)
