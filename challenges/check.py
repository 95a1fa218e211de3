"""Check the three challenges: "solved", "not yet written", or one sentence on what is still wrong.

    python challenges/check.py                # your unet_forward.py, pix2pix_losses.py, ...
    python challenges/check.py --solutions    # the reference solutions in challenges/solutions/
    python challenges/check.py --folder DIR   # the three files in DIR

Prints one line per challenge and a count; exit status 0 when all three are solved, 1 otherwise.
Each file is checked in a process of its own (challenges/checker.py) with a time limit, so whatever
your code does (loop forever, exit, crash), each challenge gets its verdict, in seconds on a CPU.
"""

import os
import signal
import subprocess
import sys
import tempfile
from contextlib import suppress
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python challenges/check.py`

from helpers.lesson import ROOT, ArgumentParser, at_least, fail, path_arg, shown

HERE = Path(__file__).resolve().parent
CHALLENGES = {
    "unet_forward.py": "1. The U-Net's forward pass",
    "pix2pix_losses.py": "2. The pix2pix losses",
    "receptive_field.py": "3. The PatchGAN's receptive field",
}
TIME_LIMIT = 60  # seconds per challenge: a check takes a few; a minute is a loop that never ends


def where(path):  # as the student knows it: from the repository root where it lies inside

    return shown(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)


def verdict_in_child(path, time_limit):
    """The verdict on the challenge file at `path` (absolute), from a child that checks it."""
    if not path.is_file():
        if path.parent in (HERE, HERE / "solutions"):
            return f"{where(path)} is missing; `git checkout -- {where(path)}` brings it back."
        return f"{where(path)} is missing; copy the stub challenges/{path.name} there."
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "verdict.txt"
        command = [sys.executable, str(HERE / "checker.py"), str(path), str(result)]
        # A process group of its own (Windows' flag is 0 elsewhere): Ctrl+C reaches this process
        # alone, which then stops the child and whatever the student's code started.
        group = getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)
        child = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, start_new_session=True, creationflags=group
        )
        try:
            code = child.wait(timeout=time_limit)
        except subprocess.TimeoutExpired:
            return f"the check was stopped after {time_limit:g} s: does your code loop forever?"
        finally:
            with suppress(ProcessLookupError):  # all ended already
                os.killpg(child.pid, signal.SIGKILL) if os.name == "posix" else child.kill()
            child.wait()
        if result.is_file():  # only the checker writes it, after the student's code is done
            return result.read_text(encoding="utf-8")
    if code < 0:
        name = signal.Signals(-code).name
        return f"the check was killed by {name}: did your code crash Python or use all the memory?"
    return f"the check ended without a verdict (exit status {code}): does your code call os._exit?"


def main(argv=None):
    script = Path(__file__).resolve()  # as typed from here: what `--help` must be run as
    prog = os.path.relpath(script) if Path.cwd().drive == script.drive else str(script)
    parser = ArgumentParser(
        prog=shown(prog), description="Check the three challenges (exit 0 when all are solved)."
    )
    parser.add_argument("--solutions", action="store_true", help="check challenges/solutions/")
    parser.add_argument("--folder", type=path_arg, help="check the three files in this folder")
    limit = f"seconds each challenge may take (default: {TIME_LIMIT})"
    parser.add_argument(
        "--time-limit", type=at_least(0.0, float, exclusive=True), default=TIME_LIMIT, help=limit
    )
    args = parser.parse_args(argv)
    folder = args.folder or (HERE / "solutions" if args.solutions else HERE)
    if not folder.is_dir():
        state = "is a file" if folder.exists() else "does not exist"
        fail(f"--folder {shown(folder)} {state}; pass the folder that holds your challenge files.")
    solved = 0
    try:
        for name, title in CHALLENGES.items():
            path = (folder / name).resolve()
            result = verdict_in_child(path, args.time_limit)
            print(f"{title} ({where(path)}): {result}", flush=True)
            solved += result == "solved"
    except KeyboardInterrupt:
        fail("interrupted; run `python challenges/check.py` again to check all three.", 130)
    print(f"{solved} of {len(CHALLENGES)} solved")
    return 0 if solved == len(CHALLENGES) else 1


if __name__ == "__main__":
    raise SystemExit(main())
