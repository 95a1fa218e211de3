"""Check the three challenges: "solved", "not yet written", or one sentence on what is still wrong.

    python challenges/check.py               # your unet_forward.py, pix2pix_losses.py, ...
    python challenges/check.py --solutions   # the reference solutions in challenges/solutions/

Prints one line per challenge and a count; writes nothing. Exit status: 0 when all three are
solved, 1 otherwise. Narrow networks (ngf = ndf = 8: the paper's blocks and official keys) with
random weights: seconds on a CPU.
  1. U-Net: official-layout weights go into your MyUNetGenerator and into UNetGenerator; the
     first block that reads something else than the reference's is named.
  2. Losses: your loss_D and loss_G against training.recipe.train_step on a fixed batch.
  3. Receptive field: 70 for our PatchGAN, and right for the paper's other discriminators (§4.4).
The checks are in challenges/checker/ (reading them would give the answers away).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python challenges/check.py`

from challenges.checker.field import check_receptive_field
from challenges.checker.losses import check_losses
from challenges.checker.student_files import Wrong, load, where
from challenges.checker.unet import check_unet
from helpers.cli import ArgumentParser, shown

HERE = Path(__file__).resolve().parent
CHALLENGES = {
    "unet_forward.py": ("1. The U-Net's forward pass", check_unet),
    "pix2pix_losses.py": ("2. The pix2pix losses", check_losses),
    "receptive_field.py": ("3. The PatchGAN's receptive field", check_receptive_field),
}


def verdict(path, check):
    """'solved', 'not yet written' or one sentence on what is wrong with the file at `path`."""
    path = Path(path).resolve()  # as tracebacks name it
    if not path.is_file():
        name = shown(where(path))
        return f"{name} is missing; `git checkout -- {name}` brings the stub back."
    try:
        check(load(path), path)
    except Wrong as wrong:
        return str(wrong)
    return "solved"


def verdicts(folder):
    """{file name: verdict} for the three challenge files in `folder`."""
    return {name: verdict(folder / name, check) for name, (_, check) in CHALLENGES.items()}


def main(argv=None):
    parser = ArgumentParser(description="Check the three challenges (exit 0 when all are solved).")
    parser.add_argument(
        "--solutions",
        action="store_true",
        help="check the reference solutions in challenges/solutions/ (default: your files)",
    )
    args = parser.parse_args(argv)
    folder = HERE / "solutions" if args.solutions else HERE
    results = verdicts(folder)
    for name, result in results.items():
        print(f"{CHALLENGES[name][0]} ({shown(where(folder / name))}): {result}")
    solved = sum(result == "solved" for result in results.values())
    print(f"{solved} of {len(results)} solved")
    return 0 if solved == len(results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
