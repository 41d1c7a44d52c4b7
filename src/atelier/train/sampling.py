"""A resumable, distributable order of training samples.

Epoch ``e`` visits the dataset in the permutation drawn from ``(seed, e)``; with several
processes each rank takes every ``world_size``-th index of it (padded so every rank gets
the same count, as ``DistributedSampler`` does). ``start`` skips the samples a resumed run
has already seen in the current epoch, so an interrupted run replays exactly the same order.

Example
-------
>>> s = ResumableSampler(10, seed=0)
>>> a = list(s)
>>> s.set_position(epoch=0, start=4)
>>> list(s) == a[4:]
True
"""

from __future__ import annotations

import math
from typing import Iterator

import torch


class ResumableSampler(torch.utils.data.Sampler[int]):
    def __init__(
        self, length: int, *, seed: int = 0, shuffle: bool = True, rank: int = 0, world_size: int = 1
    ) -> None:
        self.length, self.seed, self.shuffle = length, seed, shuffle
        self.rank, self.world_size = rank, world_size
        self.per_rank = math.ceil(length / world_size)
        self.epoch, self.start = 0, 0

    def set_position(self, epoch: int, start: int = 0) -> None:
        """Continue from sample ``start`` (counted on this rank) of epoch ``epoch``."""
        self.epoch, self.start = epoch, start

    def order(self, epoch: int) -> list[int]:
        """This rank's sample indices for ``epoch``."""
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            full = torch.randperm(self.length, generator=g).tolist()
        else:
            full = list(range(self.length))
        full += full[: self.per_rank * self.world_size - self.length]  # pad to equal shards
        return full[self.rank :: self.world_size]

    def __iter__(self) -> Iterator[int]:
        return iter(self.order(self.epoch)[self.start :])

    def __len__(self) -> int:
        return self.per_rank - self.start
