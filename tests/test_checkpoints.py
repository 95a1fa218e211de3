"""helpers/checkpoints.py, the loader every script's weights go through: what it refuses, in one
sentence each, before it could hang, run code or fill the memory."""

import os
import zipfile

import pytest
import torch

from helpers.lesson import read_weights
from helpers.lesson import LessonError


def refusal(path):
    with pytest.raises(LessonError) as exc:
        read_weights(path, "weights", "pass another file")
    return str(exc.value)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_a_named_pipe_is_refused_without_being_opened(tmp_path):
    pipe = tmp_path / "weights.pth"
    os.mkfifo(pipe)  # torch.load would wait for a writer for ever
    assert (
        refusal(pipe)
        == f"weights {pipe} is a named pipe (FIFO), not a regular file; pass another file."
    )


def test_a_folder_and_a_missing_file(tmp_path):
    assert refusal(tmp_path).endswith("is a folder, not a file; pass another file.")
    assert refusal(tmp_path / "none.pth").endswith("does not exist; pass another file.")


def test_nan_or_inf_in_any_tensor_is_refused(tmp_path):
    for bad in (float("nan"), float("inf")):
        path = tmp_path / f"{bad}.pth"
        torch.save({"a": torch.zeros(3), "nested": {"b": torch.tensor([1.0, bad])}}, path)
        assert "holds NaN or infinite weights" in refusal(path)
    path = tmp_path / "ints.pth"
    torch.save({"steps": torch.tensor([3]), "history": [dict(val_L1=float("nan"))]}, path)
    assert read_weights(path)["steps"].item() == 3  # integers and plain numbers are not weights


def test_a_small_compressed_file_declaring_a_huge_tensor_is_refused_before_loading(tmp_path):
    """torch.save never compresses; a 1 MB deflated entry can stand for gigabytes of zeros."""
    stored = tmp_path / "stored.pth"
    torch.save({"w": torch.zeros(2**20)}, stored)  # 4 MB of zeros, stored
    packed = tmp_path / "packed.pth"
    with zipfile.ZipFile(stored) as src, zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as dst:
        for entry in src.infolist():
            dst.writestr(entry.filename, src.read(entry))
    assert packed.stat().st_size < stored.stat().st_size / 10
    assert "was not written by torch.save (it holds compressed entries)" in refusal(packed)
    assert read_weights(stored)["w"].shape == (2**20,)
