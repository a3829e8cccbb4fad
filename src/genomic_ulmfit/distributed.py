"""Data-parallel LM pretraining across the GPUs of one node (or CPU processes).

Launched by torchrun (`python -m torch.distributed.run --nproc-per-node N -m
genomic_ulmfit pretrain ...`), which sets RANK, LOCAL_RANK and WORLD_SIZE. Each
process trains its own rows of the same world x batch-size streams (see
data.StreamLMDataLoader's `shard`) with torch's DistributedDataParallel averaging
the gradients: NCCL on GPUs, gloo on CPUs. Without torchrun everything here is
a no-op for a world of one.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from fastai.callback.core import Callback
from torch.nn.parallel import DistributedDataParallel


@dataclass
class DataParallel:
    """This process's place in a data-parallel run."""

    rank: int
    world_size: int
    device: torch.device

    @classmethod
    def from_env(cls, device: torch.device) -> "DataParallel":
        """From torchrun's environment; a world of one without it. Joins the process group."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world == 1:
            return cls(0, 1, device)
        rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
        if device.type == "cuda":
            device = torch.device("cuda", local)
            torch.cuda.set_device(device)
        if not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        return cls(rank, world, device)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def shard(self) -> tuple[int, int]:
        return self.rank, self.world_size

    def seed_dropout(self, seed: int) -> None:
        """Distinct dropout masks per process (model weights were drawn alike before;
        Python's random, which orders the documents, stays the same everywhere)."""
        if self.world_size > 1:
            torch.manual_seed(seed * 1_000_003 + self.rank)

    def callback(self) -> Callback | None:
        return DistributedDataParallelCallback(self.device) if self.world_size > 1 else None

    def replicas_identical(self, model: torch.nn.Module) -> bool:
        """Whether every process ends with the same weights (gradients were averaged)."""
        if self.world_size == 1:
            return True
        flat = torch.cat([p.detach().double().flatten() for p in model.parameters()]).to(self.device)
        mine = torch.stack([flat.sum(), flat.abs().sum(), flat.square().sum()])
        gathered = [torch.zeros_like(mine) for _ in range(self.world_size)]
        dist.all_gather(gathered, mine)
        return all(torch.allclose(g, gathered[0], rtol=0, atol=1e-6) for g in gathered)

    def close(self) -> None:
        if self.world_size > 1 and dist.is_initialized():
            dist.barrier()
            dist.destroy_process_group()


class ResettableDDP(DistributedDataParallel):
    """DistributedDataParallel with the reset() that fastai's ModelResetter calls on
    RNNs (fastai.distributed patches it in too, but importing that needs accelerate)."""

    def reset(self) -> None:
        if hasattr(self.module, "reset"):
            self.module.reset()


class DistributedDataParallelCallback(Callback):
    """Wraps the learner's model in DistributedDataParallel for the fit, then unwraps it."""

    order = 11  # after MixedPrecision (10), as fastai's own DistributedTrainer

    def __init__(self, device: torch.device):
        self.device = device

    def before_fit(self):
        ids = [self.device.index] if self.device.type == "cuda" else None
        self.learn.model = ResettableDDP(self.learn.model, device_ids=ids)

    def after_fit(self):
        if isinstance(self.learn.model, DistributedDataParallel):
            self.learn.model = self.learn.model.module
