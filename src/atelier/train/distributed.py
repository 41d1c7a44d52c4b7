"""Data-parallel training under ``torchrun``: one process per device, gradients averaged.

``torchrun --nproc_per_node N`` sets RANK, WORLD_SIZE and LOCAL_RANK; ``DistributedEnv``
reads them, joins the process group (gloo on CPU, nccl on GPU) and offers the few collective
steps the Trainer needs. Gradients are averaged across processes right before each optimizer
step, for whatever modules an objective uses, which is what ``DistributedDataParallel`` does
for one module (without its overlap of communication and backward). Each process keeps its
own BatchNorm statistics, as DDP does without SyncBatchNorm; rank 0's are saved.

Example
-------
>>> env = DistributedEnv.from_environ({})
>>> (env.rank, env.world_size, env.enabled)
(0, 1, False)
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistributedEnv:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] = os.environ) -> "DistributedEnv":
        return cls(
            rank=int(environ.get("RANK", 0)),
            world_size=int(environ.get("WORLD_SIZE", 1)),
            local_rank=int(environ.get("LOCAL_RANK", 0)),
        )

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def start(self, device: torch.device) -> None:
        """Join the process group (once); nccl for CUDA devices, gloo otherwise."""
        if self.enabled and not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")

    def broadcast_modules(self, modules: Iterable[torch.nn.Module]) -> None:
        """Give every process rank 0's parameters and buffers."""
        if not self.enabled:
            return
        for module in modules:
            for tensor in list(module.parameters()) + list(module.buffers()):
                dist.broadcast(tensor.data, src=0)

    def average_gradients(self, params: Iterable[torch.Tensor]) -> None:
        if not self.enabled:
            return
        grads = [p.grad for p in params if p.grad is not None]
        if not grads:
            return
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        flat /= self.world_size
        offset = 0
        for g in grads:
            g.copy_(flat[offset : offset + g.numel()].view_as(g))
            offset += g.numel()

    def gather(self, value: Any) -> list[Any]:
        """Every process's ``value`` (tensors and plain containers), in rank order, on every
        process. Sent as ``torch.save`` bytes: ``all_gather_object`` cannot carry tensors."""
        if not self.enabled:
            return [value]
        buffer = io.BytesIO()
        torch.save(value, buffer)
        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, buffer.getvalue())
        return [torch.load(io.BytesIO(b), weights_only=True) for b in out]

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()
