"""preprocess_anime_sketches.py when things misbehave: FIFOs and folders among the inputs, a pair
deleted while the run goes on, names near the file system's limit, a full disk, flags out of range
and what a run stopped at once leaves behind. Nothing hangs, one sentence each, and the finished
work is kept."""

import os
import resource
import signal
import subprocess
import sys

import pytest

import preprocess_anime_sketches as prep
from helpers.lesson import ROOT
from preprocessing.jobs import cpu_cores
from tests.preprocess_inputs import SIZE, make_pair, run, tree_hashes, write_pairs


def test_fifos_folders_link_loops_and_tiny_pairs_among_the_inputs_are_skipped(tmp_path, capsys):
    src, out = tmp_path / "in", tmp_path / "out"
    write_pairs(src / "train", ["a"])
    os.mkfifo(src / "train" / "pipe.png")  # opened, it would wait for a writer forever
    (src / "train" / "folder.png").mkdir()
    os.symlink(src / "train" / "loop.png", src / "train" / "loop.png")
    make_pair(0).resize((2, 1)).save(src / "train" / "tiny.png")  # 2:1, but no picture
    text = run(capsys, "--input", src, "--output", out)
    assert f"skipped {src / 'train' / 'tiny.png'}: 2x1 is too small: a half must be 32x32" in text
    assert f"skipped {src / 'train' / 'pipe.png'}: is a named pipe (FIFO), not an image" in text
    assert f"skipped {src / 'train' / 'folder.png'}: is a folder, not an image file" in text
    loop = "a symbolic link loop (links that lead back to themselves)"
    assert f"skipped {src / 'train' / 'loop.png'}: is {loop}, not an image file" in text
    assert "1 written (0 converted), 0 already done, 4 skipped" in text
    assert text.rstrip().endswith("Status: READY for training")


def test_a_pair_deleted_while_the_run_goes_on_is_skipped(tmp_path, capsys, monkeypatch):
    src, out = tmp_path / "in", tmp_path / "out"
    write_pairs(src / "train", ["a", "b", "c"])
    write_pairs(src / "val", ["v"])
    real = prep.process_pair

    def deleting_b_first(job):
        if job[0].name == "b.png":
            job[0].unlink()  # as another program (or the student) might, after the listing
        return real(job)

    monkeypatch.setattr(prep, "process_pair", deleting_b_first)
    text = run(capsys, "--input", src, "--output", out)
    assert f"skipped {src / 'train' / 'b.png'}: was deleted while preprocessing ran" in text
    assert "3 written (0 converted), 0 already done, 1 skipped" in text
    assert sorted(p.name for p in (out / "val" / "colors").iterdir()) == ["v.png"]


def test_names_near_the_limit_are_written_and_too_long_ones_skipped(tmp_path, capsys):
    """255 bytes is the longest name most file systems allow. A 250-character name is written
    (its temporary file has a short name of its own); a clash adds _png or _jpg, which makes an
    output name too long: that pair is skipped and named, and the run goes on to val/."""
    src, out = tmp_path / "in", tmp_path / "out"
    (src / "train").mkdir(parents=True)
    long, longest = "x" * 246, "y" * 251
    make_pair(0).save(src / "train" / f"{long}.png")
    make_pair(1).save(src / "train" / f"{longest}.png")
    make_pair(2).save(src / "train" / f"{longest}.jpg")
    write_pairs(src / "val", ["v"])
    text = run(capsys, "--input", src, "--output", out)
    for suffix in ("png", "jpg"):
        name = f"{longest}_{suffix}.png"
        assert f"the output name {name} is too long for the file system" in text
    assert "2 written (0 converted), 0 already done, 2 skipped" in text
    assert (out / "train" / "colors" / f"{long}.png").is_file()
    assert (out / "val" / "sketches" / "v.png").is_file()
    assert not list(out.rglob(".*"))  # no temporary file left


def no_file_may_grow():
    """In a child process: every write to a file fails with EFBIG, as on a full disk."""
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # else the signal kills the process


def test_a_full_disk_stops_with_one_sentence_and_keeps_the_finished_pairs(tmp_path, capsys):
    src, out = tmp_path / "in", tmp_path / "out"
    write_pairs(src / "train", ["a", "b"])
    run(capsys, "--input", src, "--output", out)
    before = tree_hashes(out)
    write_pairs(src / "train", ["c"], seed=7)
    command = [sys.executable, "preprocess_anime_sketches.py", "--size", str(SIZE)]
    command += ["--input", str(src), "--output", str(out), "--workers", "1"]
    # (One process: the limit would also stop multiprocessing's semaphores, which a full disk
    # leaves alone in /dev/shm; the next test takes the workers' way.)
    result = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, preexec_fn=no_file_may_grow, timeout=300
    )
    assert result.returncode == 2
    assert result.stderr == (
        f"error: could not write {out / 'train' / 'colors' / 'c.png'} (the disk is full or the "
        "file too large: File too large); free some space, then run the same command again: the "
        "pairs finished so far are kept.\n"
    )
    assert tree_hashes(out) == before  # a and b as they were, no c, no temporary file


def test_a_write_failing_in_a_worker_process_is_one_sentence(tmp_path, capsys):
    src, out = tmp_path / "in", tmp_path / "out"
    write_pairs(src / "train", ["a", "b", "c"])
    (out / "train" / "colors" / "b.png").mkdir(parents=True)  # a folder where a file must go
    with pytest.raises(SystemExit) as exit_info:
        run(capsys, "--input", src, "--output", out, "--workers", 2)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "Traceback" not in err
    assert err.startswith(f"error: could not write {out / 'train' / 'colors' / 'b.png'} (")
    assert err.endswith(
        "); check that folder, then run the same command again: the pairs "
        "finished so far are kept.\n"
    )


def test_more_workers_than_cores_are_capped_with_a_note(tmp_path, capsys):
    write_pairs(tmp_path / "in" / "train", ["a"])
    text = run(capsys, "--input", tmp_path / "in", "--output", tmp_path / "out", "--workers", 64)
    cores = cpu_cores()
    assert f"note: --workers 64 is more than the {cores} cores; using {cores}" in text
    assert f"Workers: {cores}" in text


@pytest.mark.parametrize("seed", ["-1", str(2**63), str(2**70), "1.5"])
def test_a_demo_seed_out_of_range_is_refused_before_any_work(seed, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run(capsys, "--demo", 2, "--seed", seed, "--input", tmp_path / "in")
    assert exit_info.value.code == 2 and "argument --seed: " in capsys.readouterr().err
    assert not (tmp_path / "in").exists()


def test_a_demo_marker_with_no_pairs_blocks_no_rerun(tmp_path, capsys):
    """A run stopped as it began leaves DEMO_SET.txt and empty folders: another --demo command
    goes ahead (a marker beside drawn pairs still guards them)."""
    src = tmp_path / "in"
    for split in ("train", "val"):
        (src / split).mkdir(parents=True)
    (src / "DEMO_SET.txt").write_text("Synthetic pairs written by `... --demo 2 --seed 5`.\n")
    text = run(capsys, "--demo", 2, "--seed", 1, "--input", src, "--output", tmp_path / "out")
    assert "Wrote 2 demo pairs" in text and "--seed 1`" in (src / "DEMO_SET.txt").read_text()
