"""Exercise 3 under torchrun: two CPU processes (gloo) train with DistributedDataParallel, rank 0
alone prints and writes, both end with the same weights, and one process resumes the checkpoint.
The same code runs with NCCL on GPUs (there with SyncBatchNorm, which needs GPUs)."""

import csv
import os
import subprocess
import sys

import pytest
import torch

import exercise3_train as ex3
from helpers.lesson import ROOT
from tests.exercise3_support import TINY, write_pairs
from training.data import EpochSampler
from training.run import CHECKPOINT


@pytest.mark.slow  # torchrun starts two processes
@pytest.mark.parametrize("flags", [[], ["--no-gan"]])
def test_two_processes_train_as_one_and_a_single_process_resumes(tmp_path, flags):
    data, out = tmp_path / "anime_processed", tmp_path / "out"
    write_pairs(data, "train", ["a", "b", "c", "d", "e"])  # 5 pairs: rank 1's share is padded
    write_pairs(data, "val", ["v1"], seed=1)
    argv = ["--data", str(data), "--output-dir", str(out), *TINY, "--epochs", "1", *flags]
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    run = [*torchrun, "exercise3_train.py", *argv, "--workers", "0"]
    result = subprocess.run(run, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    printed = result.stdout
    assert result.returncode == 0, printed[-3000:] + result.stderr[-3000:]
    for start in ("Exercise 3: pix2pix", "epoch 0 (untrained G)", "epoch 1/1 ", "Done:"):
        assert [line.startswith(start) for line in printed.splitlines()].count(True) == 1, start
    assert "DistributedDataParallel: 2 processes, global batch 4" in printed
    assert "batches per epoch: 2" in printed  # ceil(5 / 2) = 3 pairs each, batches of 2
    assert "processes agree on the weights: True" in printed  # DDP averaged every gradient
    assert (out / "exercise3_patchgan_1.png").exists() != bool(flags)  # --no-gan: no D to map
    assert [r["epoch"] for r in csv.DictReader(open(out / "metrics.csv"))] == ["0", "1"]
    ckpt = torch.load(out / CHECKPOINT, weights_only=True)
    assert not any(k.startswith("module.") for k in ckpt["net_G"]) and len(ckpt["rng_ranks"]) == 2
    assert ("net_D" in ckpt) != bool(flags)
    ex3.main([*argv, "--epochs", "2", "--resume"])  # one process goes on
    assert torch.load(out / CHECKPOINT, weights_only=True)["epoch"] == 2


def test_ranks_share_the_one_process_order_without_gaps():
    """Each process takes every other item of the one-process order (index, jitter seed), padded
    by wrapping so that both take as many steps (or DDP would wait for ever)."""
    pairs = list(range(5))
    whole = list(EpochSampler(pairs, 1, 0, seed=3))
    shards = [list(EpochSampler(pairs, 2, rank, seed=3)) for rank in (0, 1)]
    assert [len(s) for s in shards] == [3, 3]
    assert [item for pair in zip(*shards, strict=True) for item in pair] == whole + whole[:1]
    assert sorted(index for index, _ in whole) == pairs
