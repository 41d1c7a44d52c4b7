"""Speed part of the captioning benchmark: captions/s on the CPU, greedy and beam 3.

Inputs are held-out images as the dataset gives them (the data size, e.g. 128 px), already
in memory: a call is ``generate`` (encoder resize included, then greedy or beam search with
the key/value cache) and the decoding of the ids to text, what ``caption_images`` does per
chunk. At batch 1 a call captions ``B1_IMAGES`` images one at a time; at batch 32 one call
captions one batch of 32. The peer measured in the same run is the encoder alone
(``model.encode``) at the same batch sizes: the ceiling a captioner with a free decoder would
reach, so ``captions/s / encoder images/s`` is the share of the time left to the encoder.
Timing: ``_timing.measure`` (interleaved rounds, median).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

B1_IMAGES = 8  # images captioned one at a time per batch-1 call


def speed_part(loaded: Any, images: torch.Tensor, timing: Any, beams=(1, 3), batches=(1, 32)) -> dict[str, Any]:
    """captions/s of ``loaded`` (a ``CaptionModel``) on ``images`` ``(N >= 32, C, H, W)``."""
    from _timing import measure

    from atelier.models.caption_decode import generate

    net, tok = loaded.model.eval(), loaded.tokenizer

    def caption(x: torch.Tensor, beam: int) -> list[str]:
        return [tok.decode(h[0].tokens) for h in generate(net, x, beam=beam)]

    def encode(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return net.encode(x)

    def per_image(fn):
        return lambda: [fn(images[i : i + 1]) for i in range(B1_IMAGES)]

    fns, counts = {}, {}
    for b in batches:
        n = B1_IMAGES if b == 1 else b
        for beam in beams:
            name = f"{'greedy' if beam == 1 else f'beam {beam}'}, batch {b}"
            fns[name] = (per_image(lambda x, beam=beam: caption(x, beam)) if b == 1
                         else (lambda beam=beam, b=b: caption(images[:b], beam)))
            counts[name] = n
        fns[f"encoder only, batch {b}"] = per_image(encode) if b == 1 else (lambda b=b: encode(images[:b]))
        counts[f"encoder only, batch {b}"] = n
    times, calls, _ = measure(fns, timing)
    rate = {k: counts[k] / float(np.median(v)) for k, v in times.items()}
    return {"captions_per_s": rate, "seconds_per_call": {k: float(np.median(v)) for k, v in times.items()},
            "runs": {k: len(v) for k, v in times.items()}, "calls_per_run": calls,
            "images_per_call": counts, "input": list(images.shape[1:]), "threads": torch.get_num_threads()}
