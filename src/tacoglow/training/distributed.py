"""Data-parallel training under ``torchrun``: process-group setup, reductions, teardown.

``torchrun`` (``python -m torch.distributed.run``) starts one process per device and passes
``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` in the
environment; :func:`init_distributed` reads them and joins the process group (NCCL on GPUs,
gloo on CPU). Multi-node runs need nothing more: torchrun's c10d rendezvous fills in the same
variables on every node::

    # one node, 8 GPUs
    torchrun --nproc_per_node 8 -m tacoglow train tacotron2 --config c.yaml --output out
    # two nodes, 8 GPUs each; run on both, with the first node's address
    torchrun --nnodes 2 --nproc_per_node 8 --rdzv-backend c10d --rdzv-endpoint node0:29500 \\
        --rdzv-id tts1 -m tacoglow train tacotron2 --config c.yaml --output out

Without those variables everything runs as a single process (``world_size`` 1).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor

from tacoglow.errors import ConfigError

__all__ = [
    "DistributedContext",
    "all_gather_objects",
    "all_reduce_mean",
    "all_reduce_sum",
    "barrier",
    "broadcast_object",
    "cleanup_distributed",
    "init_distributed",
    "resolve_device",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistributedContext:
    """Where this process stands in a (possibly single-process) run.

    Attributes:
        rank: global rank, 0..world_size-1.
        world_size: number of processes.
        local_rank: rank on this node (selects the GPU).
        device: the device this process trains on.
        backend: "nccl" or "gloo" when a process group is active; None for a single process.
        owns_group: True when :func:`init_distributed` created the group (and so destroys it).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    backend: str | None = None
    owns_group: bool = False

    @property
    def is_distributed(self) -> bool:
        """True when more than one process trains."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """True on rank 0, the process that writes checkpoints and logs."""
        return self.rank == 0


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """The device for ``name`` ("auto", "cpu" or "cuda") on this node's ``local_rank``.

    Raises:
        ConfigError: "cuda" asked for but unavailable, or an unknown name.
    """
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError("device: expected a CUDA GPU for device 'cuda', found none (use device: cpu)")
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    raise ConfigError(f"device: expected auto, cpu or cuda, found {name!r}")


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"environment variable {name}: expected an integer, found {raw!r}") from None


def init_distributed(device: str = "auto", timeout_s: float = 1800.0) -> DistributedContext:
    """Join the process group described by torchrun's environment, or run as one process.

    Args:
        device: "auto", "cpu" or "cuda"; with CUDA each process takes GPU ``LOCAL_RANK``.
        timeout_s: how long collectives wait for the slowest rank before failing.

    Returns:
        the :class:`DistributedContext` of this process.

    Raises:
        ConfigError: malformed environment variables or a missing ``MASTER_ADDR``/``MASTER_PORT``.
    """
    world_size = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    local_rank = _env_int("LOCAL_RANK", rank)
    if dist.is_available() and dist.is_initialized():
        # Someone (a launcher, a test) already set the group up: join it, leave it to them.
        return DistributedContext(
            dist.get_rank(),
            dist.get_world_size(),
            local_rank,
            resolve_device(device, local_rank),
            dist.get_backend(),
            owns_group=False,
        )
    if world_size <= 1:
        return DistributedContext(device=resolve_device(device, local_rank))
    if not 0 <= rank < world_size:
        raise ConfigError(f"environment variable RANK: expected 0..{world_size - 1}, found {rank}")
    missing = [name for name in ("MASTER_ADDR", "MASTER_PORT") if not os.environ.get(name)]
    if missing:
        raise ConfigError(f"WORLD_SIZE={world_size} but {' and '.join(missing)} not set: launch with torchrun")
    torch_device = resolve_device(device, local_rank)
    backend = "nccl" if torch_device.type == "cuda" else "gloo"
    if torch_device.type == "cuda":
        torch.cuda.set_device(torch_device)
    dist.init_process_group(
        backend, init_method="env://", rank=rank, world_size=world_size, timeout=timedelta(seconds=timeout_s)
    )
    log.info("rank %d of %d on %s (%s)", rank, world_size, torch_device, backend)
    return DistributedContext(rank, world_size, local_rank, torch_device, backend, owns_group=True)


def cleanup_distributed(ctx: DistributedContext) -> None:
    """Leave the process group if :func:`init_distributed` created it."""
    if ctx.owns_group and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(tensor: Tensor, ctx: DistributedContext) -> Tensor:
    """Sum of ``tensor`` over all ranks (a new tensor; the input is left alone)."""
    out = tensor.detach().clone()
    if ctx.is_distributed:
        dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out


def all_reduce_mean(tensor: Tensor, ctx: DistributedContext) -> Tensor:
    """Mean of ``tensor`` over all ranks, as the reference reduces its logged loss."""
    return all_reduce_sum(tensor, ctx) / ctx.world_size


def all_gather_objects(obj: Any, ctx: DistributedContext) -> list[Any]:
    """``obj`` of every rank, in rank order (pickled; for small things like RNG states)."""
    if not ctx.is_distributed:
        return [obj]
    gathered: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(gathered, obj)
    return gathered


def broadcast_object(obj: Any, ctx: DistributedContext, src: int = 0) -> Any:
    """Rank ``src``'s ``obj`` on every rank."""
    if not ctx.is_distributed:
        return obj
    holder = [obj]
    dist.broadcast_object_list(holder, src=src)
    return holder[0]


def barrier(ctx: DistributedContext) -> None:
    """Wait until every rank gets here."""
    if ctx.is_distributed:
        dist.barrier()
