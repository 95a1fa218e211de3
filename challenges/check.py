"""Check the three challenges: "solved", "not yet written", or one sentence on what is still wrong.

    python challenges/check.py               # your unet_forward.py, pix2pix_losses.py, ...
    python challenges/check.py --solutions   # the reference solutions in challenges/solutions/

Prints one line per challenge and a count; writes nothing. Exit status: 0 when all three are
solved, 1 otherwise (130 after Ctrl+C). Narrow networks (ngf = ndf = 8: the paper's blocks and
official keys) with random weights: seconds on a CPU.
  1. U-Net: official-layout weights go into your MyUNetGenerator and into UNetGenerator; the
     first block that reads something else than the reference's is named.
  2. Losses: your loss_D and loss_G against training.recipe.train_step on a fixed batch.
  3. Receptive field: 70 for our PatchGAN, and right for the paper's other discriminators (§4.4).
Each challenge runs in a process of its own (challenges/checker/child.py) with a time limit, so
whatever your code does (loop forever, exit, crash), every challenge gets its verdict. The checks
are in challenges/checker/ (reading them would give the answers away).
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python challenges/check.py`

from challenges.checker.student_files import where
from helpers.lesson import ArgumentParser, above, fail, shown

HERE = Path(__file__).resolve().parent
CHILD = HERE / "checker" / "child.py"
CHALLENGES = {
    "unet_forward.py": "1. The U-Net's forward pass",
    "pix2pix_losses.py": "2. The pix2pix losses",
    "receptive_field.py": "3. The PatchGAN's receptive field",
}
TIME_LIMIT = 60  # seconds per challenge: a check takes a few; a minute is a loop that never ends
POSIX = os.name == "posix"


def stop(child):
    """Kill the child and whatever the student's code started (they share its process group)."""
    if child.poll() is None:
        try:
            if POSIX:
                os.killpg(child.pid, signal.SIGKILL)
            else:
                child.kill()
        except ProcessLookupError:  # it ended meanwhile
            pass
    child.wait()


def no_verdict(code):
    """Why a child that wrote no verdict ended, from its exit status."""
    if code < 0:
        return (
            f"the check was killed by {signal.Signals(-code).name} (did your code crash Python "
            "or use up the memory?)."
        )
    return f"the check ended without a verdict (exit status {code}): does your code call os._exit?"


def verdict_in_child(path, time_limit):
    """The verdict on the challenge file at `path`, from a child process that checks it."""
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "verdict.json"
        command = [sys.executable, str(CHILD), str(path), str(result)]
        # A group of its own: Ctrl+C reaches this process alone, which stops the whole group.
        group = {"start_new_session": True}
        if not POSIX:
            group = {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}
        child = subprocess.Popen(command, stdin=subprocess.DEVNULL, **group)
        try:
            code = child.wait(timeout=time_limit)
        except subprocess.TimeoutExpired:
            return (
                f"the check did not finish within {time_limit:g} s and was stopped: does your code "
                "loop forever?"
            )
        finally:
            stop(child)
        try:
            return json.loads(result.read_text())["verdict"]
        except (OSError, ValueError, KeyError, TypeError):  # none written, or not by the checker
            return no_verdict(code)


def prog():
    """This script's path as typed from the current folder: what `--help` must be run as."""
    try:
        return os.path.relpath(Path(__file__).resolve())
    except ValueError:  # another drive (Windows)
        return str(Path(__file__).resolve())


def main(argv=None):
    parser = ArgumentParser(
        prog=shown(prog()), description="Check the three challenges (exit 0 when all are solved)."
    )
    parser.add_argument(
        "--solutions",
        action="store_true",
        help="check the reference solutions in challenges/solutions/ (default: your files)",
    )
    parser.add_argument("--folder", type=Path, help="check the three files in this folder instead")
    parser.add_argument(
        "--time-limit",
        type=above(0),
        default=TIME_LIMIT,
        help=f"seconds each challenge may take (default: {TIME_LIMIT})",
    )
    args = parser.parse_args(argv)
    folder = args.folder or (HERE / "solutions" if args.solutions else HERE)
    solved = 0
    try:
        for name, title in CHALLENGES.items():
            path = (folder / name).resolve()
            result = verdict_in_child(path, args.time_limit)
            print(f"{title} ({shown(where(path))}): {result}", flush=True)
            solved += result == "solved"
    except KeyboardInterrupt:
        fail("interrupted; run `python challenges/check.py` again to check all three.", 130)
    print(f"{solved} of {len(CHALLENGES)} solved")
    return 0 if solved == len(CHALLENGES) else 1


if __name__ == "__main__":
    raise SystemExit(main())
