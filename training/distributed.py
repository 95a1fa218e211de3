"""Exercise 3 on several GPUs (or CPU processes): DistributedDataParallel under torchrun.

    torchrun --standalone --nproc_per_node=4 exercise3_train.py --batch-size 4   # 4 GPUs, 16 pairs per step

torchrun starts one process per GPU and tells each who it is through RANK, WORLD_SIZE and LOCAL_RANK;
plain `python exercise3_train.py` sets none of them and runs as one process, untouched by this module.
Every process holds a full copy of G and D, trains on its own share of each epoch's pairs, and DDP
averages the gradients, so all copies take the same step. Rank 0 alone prints and writes files.
"""

import hashlib
import os
import signal
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel

from training.data import EpochSampler


@dataclass(frozen=True)
class World:
    """This process's place among the training processes (one process: rank 0 of 1)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0  # which GPU of this machine
    distributed: bool = False

    @property
    def main(self):
        """Rank 0: the one process that prints, validates and writes files."""
        return self.rank == 0


def world_from_env():
    """torchrun's RANK / WORLD_SIZE / LOCAL_RANK, or a one-process World when they are not set."""
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return World()
    return World(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", 0)), True)


def start(world, device):
    """Join the process group and return this process's device: cuda:LOCAL_RANK with NCCL, or the CPU with gloo."""
    if not world.distributed:
        return device
    if device.type == "cuda":
        device = torch.device("cuda", world.local_rank)
        torch.cuda.set_device(device)
        dist.init_process_group("nccl", device_id=device)
    else:  # gloo: CPU processes (MPS has no collective backend)
        device = torch.device("cpu")
        dist.init_process_group("gloo")
    # torchrun stops the other workers with SIGTERM when one fails or it is interrupted: treat that as
    # Ctrl+C, so rank 0 still saves the generator; a second SIGTERM must not cut that save short.
    signal.signal(signal.SIGTERM, _interrupt_once)
    return device


def _interrupt_once(signum, frame):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt


def finish(world, completed):
    """Wait for every rank at a normal end (rank 0 may still be saving), then leave the group."""
    if world.distributed and dist.is_initialized():
        if completed:
            dist.barrier()
        dist.destroy_process_group()


def wrap(net, world, device, sync_bn):
    """DDP around `net` (kept as is with one process). SyncBatchNorm makes BatchNorm use the statistics
    of the global batch, as one process with the whole batch would; it has BatchNorm's state_dict keys,
    so checkpoints stay loadable by a single process. PyTorch implements it for GPUs only.
    None (no D with --no-gan) stays None."""
    if net is None or not world.distributed:
        return net
    if sync_bn and device.type == "cuda":
        net = nn.SyncBatchNorm.convert_sync_batchnorm(net)  # in place for the children, same parameters
    return DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)


def mean_over_ranks(values, world, device):
    """A dict of floats averaged over all ranks (the epoch's losses of the whole batch, not one shard)."""
    if not world.distributed:
        return values
    tensor = torch.tensor(list(values.values()), dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return dict(zip(values, (tensor / world.size).tolist()))


def gather(obj, world):
    """Every rank's `obj` in rank order (on every rank); [obj] with one process."""
    if not world.distributed:
        return [obj]
    objects = [None] * world.size
    dist.all_gather_object(objects, obj)
    return objects


def weights_digest(nets):
    """SHA-256 of every parameter's bytes: equal digests mean bit-for-bit equal weights."""
    digest = hashlib.sha256()
    for net in nets:
        for p in net.parameters():
            digest.update(p.detach().cpu().numpy().tobytes())
    return digest.hexdigest()


def parameters_agree(nets, world):
    """True if every rank holds bit for bit the same parameters (DDP's promise, checked at the end)."""
    return len(set(gather(weights_digest(nets), world))) == 1


class ShardedEpochSampler(EpochSampler):
    """EpochSampler's shuffled (index, jitter seed) items, split among the ranks the way DistributedSampler
    splits: the same (seed, epoch) order on every rank, padded by wrapping to a multiple of the world size,
    then every size-th item from this rank. So each pair's crop and the order survive --resume exactly."""

    def __init__(self, n, seed, world):
        super().__init__(n, seed)
        self.rank, self.size = world.rank, world.size

    def __iter__(self):
        items = list(super().__iter__())
        items = (items * self.size)[:len(self) * self.size]  # pad by wrapping around
        return iter(items[self.rank::self.size])

    def __len__(self):
        return -(-self.n // self.size)  # ceil: every rank takes the same number of steps
