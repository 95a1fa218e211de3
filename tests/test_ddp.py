"""Exercise 3 under torchrun: two CPU processes with the gloo backend train with
DistributedDataParallel, rank 0 alone prints and writes, both ranks end with the same weights, and a
single process resumes the checkpoint. The same code path runs with NCCL on GPUs (there with
SyncBatchNorm, which needs GPUs)."""

import csv
import os
import subprocess
import sys

import pytest
import torch

import exercise3_train as ex3
from facades_generator import open_generator
from helpers.lesson import ROOT
from pix2pix_models import UNetGenerator
from tests.exercise3_support import write_pairs
from training.data import EpochSampler
from training.run import CHECKPOINT, WEIGHTS, weights_digest

TINY = ["--ngf", "8", "--ndf", "8", "--batch-size", "2", "--seed", "3", "--workers", "0"]


def torchrun_one_epoch(tmp_path, *flags):
    """Exercise 3 for one epoch in two gloo processes on 5 pairs; returns (data, out, the finished
    process)."""
    data, out = tmp_path / "anime_processed", tmp_path / "out"
    # 5 pairs: rank 1's share is padded by wrapping
    write_pairs(data, "train", ["a", "b", "c", "d", "e"])
    write_pairs(data, "val", ["v1"], seed=1)
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1", MPLBACKEND="Agg")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node=2",
            "--standalone",
            "exercise3_train.py",
            "--data",
            str(data),
            "--output-dir",
            str(out),
            *TINY,
            "--epochs",
            "1",
            *flags,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return data, out, result


@pytest.mark.slow
def test_two_processes_train_as_one_and_a_single_process_resumes(tmp_path):
    data, out, result = torchrun_one_epoch(tmp_path)
    lines = result.stdout.splitlines()
    assert "DistributedDataParallel: 2 processes, global batch 4" in result.stdout
    for start in ("Exercise 3: pix2pix", "epoch 0 (untrained G)", "epoch 1/1 ", "Done:"):
        assert sum(line.startswith(start) for line in lines) == 1, start
    # ceil(5 / 2 ranks) = 3 pairs each, 2 batches of <= 2
    assert "batches per epoch: 2" in result.stdout
    assert "processes agree on the weights: True" in result.stdout  # DDP averaged every gradient
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [
            CHECKPOINT,
            WEIGHTS,
            "metrics.csv",
            "exercise3_epoch_1.png",
            "exercise3_patchgan_1.png",
            "exercise3_training_progress.png",
        ]
    )
    assert [r["epoch"] for r in csv.DictReader(open(out / "metrics.csv"))] == ["0", "1"]

    ckpt = torch.load(out / CHECKPOINT, weights_only=True)
    assert not any(k.startswith("module.") for k in ckpt["net_G"]) and len(ckpt["rng_ranks"]) == 2
    # one process
    ex3.main(["--data", str(data), "--output-dir", str(out), *TINY, "--epochs", "2", "--resume"])
    assert torch.load(out / CHECKPOINT, weights_only=True)["epoch"] == 2
    assert isinstance(open_generator(out / WEIGHTS)[0], UNetGenerator)


def test_the_weight_check_sees_a_one_ulp_difference():
    torch.manual_seed(0)
    net = UNetGenerator(ngf=4)
    before = weights_digest([net])
    with torch.no_grad():
        p = next(net.parameters())
        p.view(-1)[7] = torch.nextafter(p.view(-1)[7], torch.tensor(1.0))
    assert weights_digest([net]) != before


def test_ranks_share_the_one_process_order_without_gaps():
    whole = list(EpochSampler(5, seed=3))  # one process
    shards = [list(EpochSampler(5, 3, rank, 2)) for rank in (0, 1)]
    assert [len(s) for s in shards] == [3, 3]  # equal steps per rank, or DDP would wait forever
    interleaved = [item for pair in zip(*shards, strict=True) for item in pair]
    assert interleaved == whole + whole[:1]  # every pair once, the first one again as padding


@pytest.mark.slow
def test_two_processes_train_g_alone_with_no_gan(tmp_path):
    """--no-gan under torchrun: DDP wraps G alone (there is no D to wrap), and the ranks still
    agree."""
    _, out, result = torchrun_one_epoch(tmp_path, "--no-gan")
    assert (
        "net_D: none (--no-gan)" in result.stdout
        and "processes agree on the weights: True" in result.stdout
    )
    assert "net_D" not in torch.load(out / CHECKPOINT, weights_only=True)
    assert not list(out.glob("exercise3_patchgan_*"))
