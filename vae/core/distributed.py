"""Data-parallel training across processes: the plumbing ``vae.core.fit.fit`` and the CLI use.

Launch ``python -m vae.train`` under ``torchrun``; each process (a *rank*) then trains a
replica of the model on its own device and shard of every batch, and DistributedDataParallel
averages the gradients, so all replicas take the same optimiser steps::

    torchrun --nproc_per_node 4 -m vae.train --dataset mnist --batch-size 512 --out m.pt

torchrun sets ``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT``;
:func:`init_from_env` reads them. With ``WORLD_SIZE`` unset or 1 nothing here starts a
process group and every helper answers as for a single process (rank 0 of 1), so the same
code runs unchanged without torchrun.

Backends: NCCL on CUDA, each rank on ``cuda:LOCAL_RANK`` (one GPU per process); gloo on CPUs.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist

from vae.core.device import pick_device


def env_world_size() -> int:
    """``WORLD_SIZE`` as torchrun sets it; 1 when not launched by torchrun."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_distributed() -> bool:
    """True inside an initialised process group of more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    """This process's global rank (0 when not distributed)."""
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    """Number of processes training together (1 when not distributed)."""
    return dist.get_world_size() if is_distributed() else 1


def local_rank() -> int:
    """This process's index on its machine: the GPU it uses (0 when not distributed)."""
    return int(os.environ.get("LOCAL_RANK", "0")) if is_distributed() else 0


def is_main() -> bool:
    """Rank 0: the one process that prints, evaluates and writes files."""
    return rank() == 0


def init_from_env(device: str | None = None) -> torch.device:
    """Join the process group torchrun describes (if ``WORLD_SIZE`` > 1); return this rank's
    device.

    ``device``: ``None`` picks CUDA if available, else CPU; ``"cpu"`` forces gloo on CPUs
    even on a GPU machine; ``"cuda"`` (any index) means ``cuda:LOCAL_RANK`` under torchrun,
    since each process drives exactly one GPU. Without torchrun this is ``pick_device``.
    Calling it again in an initialised process only returns the device.
    """
    if env_world_size() <= 1:
        return pick_device(device)
    want = torch.device(device) if device else None
    use_cuda = torch.cuda.is_available() if want is None else want.type == "cuda"
    if want is not None and want.type not in ("cpu", "cuda"):
        raise ValueError(f"distributed training runs on CPUs (gloo) or CUDA (NCCL), not {want}")
    if use_cuda:
        lr = int(os.environ.get("LOCAL_RANK", "0"))
        if lr >= torch.cuda.device_count():
            raise RuntimeError(
                f"LOCAL_RANK {lr} but only {torch.cuda.device_count()} GPU(s): start at most one "
                "process per GPU (torchrun --nproc_per_node)"
            )
        dev = torch.device("cuda", lr)
        torch.cuda.set_device(dev)
    else:
        dev = torch.device("cpu")
    if not dist.is_initialized():
        if use_cuda:
            # device_id binds the communicator to this GPU up front (no guessing in barrier()).
            dist.init_process_group("nccl", device_id=dev)
        else:
            dist.init_process_group("gloo")
    return dev


def barrier() -> None:
    """Wait until every process got here (no-op when not distributed)."""
    if is_distributed():
        dist.barrier()


def cleanup() -> None:
    """Leave the process group (no-op when none was started)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def backend() -> str | None:
    """``"nccl"``, ``"gloo"`` or None when not distributed."""
    return str(dist.get_backend()) if is_distributed() else None


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """Sum ``t`` over ranks in place (and return it); identity when not distributed."""
    if is_distributed():
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def all_reduce_max(t: torch.Tensor) -> torch.Tensor:
    """Maximum of ``t`` over ranks in place (and return it); identity when not distributed."""
    if is_distributed():
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return t


def broadcast(t: torch.Tensor, src: int = 0) -> torch.Tensor:
    """Overwrite ``t`` on every rank with ``src``'s values, in place; identity when alone."""
    if is_distributed():
        dist.broadcast(t, src=src)
    return t


def shard(batch: torch.Tensor, rank: int, world_size: int) -> torch.Tensor:
    """This rank's contiguous share of a global batch of indices ``(B,) -> (~B / world,)``.

    Shares differ in size by at most one (the first ``B % world`` ranks get one more) and,
    concatenated in rank order, give back ``batch``: the union of all ranks' batches is the
    one-process batch. A share is empty when ``B < world``.
    """
    return batch.tensor_split(world_size)[rank]
