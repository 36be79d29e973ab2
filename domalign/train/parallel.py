"""Data parallelism for the training loop: which share of each batch a process trains on, and how
the processes agree.

One process (``SINGLE``) is the default and does nothing extra. Under
``torch.distributed`` (Ray Train's ``TorchTrainer`` sets it up; ``torchrun`` would
too) every process takes every ``world_size``-th item of each batch, gradients and
token counts are summed across processes, and the main process alone decides
when to stop, how long the schedule is, and writes checkpoints and the adapter.
The result is the same update as one process training on the whole batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

import torch

T = TypeVar("T")


@dataclass(frozen=True)
class Parallel:
    """This process's place among ``world_size`` data-parallel processes."""

    rank: int = 0
    world_size: int = 1
    device: str = "cpu"  # where collectives put their tensors: NCCL takes CUDA tensors only

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, items: list[T]) -> list[T]:
        """This process's share of a batch (may be empty when the batch is smaller than the world)."""
        return items[self.rank :: self.world_size]

    def sum(self, value: float) -> float:
        """``value`` summed over the processes."""
        if self.world_size == 1:
            return value
        tensor = torch.tensor([value], dtype=torch.float64, device=self.device)
        torch.distributed.all_reduce(tensor)
        return float(tensor.item())

    def sum_gradients(self, params: list[torch.nn.Parameter]) -> None:
        """Sum every parameter's gradient over the processes in one all-reduce.

        A process whose share of the batch was empty has no gradients; it sends zeros.
        """
        if self.world_size == 1:
            return
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        flat = torch.cat([g.reshape(-1) for g in grads])
        torch.distributed.all_reduce(flat)
        offset = 0
        for param in params:
            count = param.numel()
            param.grad = flat[offset : offset + count].view_as(param).clone()
            offset += count

    def from_main(self, value: Any) -> Any:
        """The main process's ``value``, on every process (a decision all of them must share)."""
        if self.world_size == 1:
            return value
        box = [value]
        torch.distributed.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        if self.world_size > 1:
            torch.distributed.barrier()


SINGLE = Parallel()


def current() -> Parallel:
    """The process group torch.distributed runs in, or ``SINGLE`` outside one."""
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return SINGLE
    nccl = torch.distributed.get_backend() == "nccl"
    device = f"cuda:{torch.cuda.current_device()}" if nccl else "cpu"
    return Parallel(torch.distributed.get_rank(), torch.distributed.get_world_size(), device)
