"""Every command and Python snippet in README.rst and the docs/ pages runs, every flag it names
exists, every figure is there.

The steps run in README order in one throw-away copy of the repository, like a student following
the lesson: `python download_pretrained.py` really downloads (from a local HTTP server that serves a
random-weight checkpoint in the official layout, never a real result), and later steps use what it
wrote. Long commands run in a smoke configuration (SMOKE_ARGS: arguments appended after the README's
own, so they win); everything else runs verbatim.
"""

import io
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import zipfile
from dataclasses import dataclass, field
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.official_reference import random_official_state_dict

pytestmark = pytest.mark.slow  # every command of the lesson, in a fresh copy: a minute and more

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.rst"
PAGES = [README] + sorted((ROOT / "docs").glob("*.rst"))  # the lesson, then the maintainers'
TIMEOUT_S = 300

# Set-up and test commands are not run here: installing packages needs the network, and the test
# commands are this very suite (the Sphinx build is tests/test_docs.py).
EXEMPT = {
    "python -m venv": "makes a virtual environment (this suite runs in the one it was given)",
    "source .venv/bin/activate": "enters it",
    "python -m pip install": "installs packages (needs the network)",
    "python -m pytest": "runs this test suite",
    "PAINTER_SCREENSHOT=": "a pytest run (tests/test_painter.py) that retakes the screenshot",
    "ONEDNN_MAX_CPU_ISA=": "this test suite again, under a oneDNN cap (docs/testing.rst)",
    "PIX2PIX_SLOW_TESTS=": "a pytest run of the slow torch.compile test (docs/testing.rst)",
    "python -m sphinx": "the Sphinx build, run by tests/test_docs.py",
    "torchrun": "tests/test_ddp.py runs it: two CPU processes (gloo), a smoke configuration",
}

# README command prefix -> arguments appended to make it a seconds-long smoke run. The longest
# matching prefix wins. "{url}" is the local weights server's address, "{samples_url}" a small
# archive laid out like CMP_facade_DB_base.zip on the same server (the real one is not ours).
SMOKE_ARGS = {
    "python download_pretrained.py": ["--url", "{url}", "--retries", "0"],
    "python download_pretrained.py --samples": ["--url", "{url}", "--retries", "0"]
    + ["--samples-url", "{samples_url}"],
    "python preprocess_anime_sketches.py --demo": ["--demo", "6"],
    # where the design shows; all five experiments take a minute
    "python exercise2_explore.py --design": ["--experiment", "windows"],
    "python exercise3_train.py": ["--epochs", "1", "--max-images", "2", "--val-images", "1"]
    + ["--batch-size", "2", "--ngf", "8", "--ndf", "8"],
    "python facade_painter.py": ["--port", "0"],
    "python docs/make_figures.py": ["--output-dir", "figures_smoke"],
    # seconds of measuring instead of minutes; its figures mean nothing
    "python speed/bench.py": ["--smoke"],
}
# Commands that must end with another exit status, and what they must print: the challenges'
# checker on the shipped, unsolved stubs (tests/test_challenges.py checks every verdict).
EXPECTED = {"python challenges/check.py": (1, "not yet written")}
# Steps that need something made first, as a student would have it (command -> workspace method);
# --demo 200 is the "or" path: a clean start.
SETUP = {
    "python preprocess_anime_sketches.py --demo 200": "fresh_anime_folders",
    "python preprocess_anime_sketches.py": "kaggle_layout_pairs",
}
# Flags of other programs that the README names (they are not ours to check).
FOREIGN_FLAGS = {
    "--eval": "the official repository's test.py",
    "--lr_policy": "its train.py",
    "--data-binary": "curl",
    "--index-url": "pip",
    "--force-reinstall": "pip",
    "--nproc_per_node": "torchrun",
    "--nproc-per-node": "torchrun",
    "--standalone": "torchrun",
}
# PyTorch's CPU threads spin while they wait; on a machine whose cores are busy with other jobs
# that makes the small smoke runs many times slower (see the README's Speed section). Sleeping
# waiters change nothing but the time. OpenMP reads this when it loads, so the runner gets it too.
QUIET_THREADS = {"OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
# Not copied into the workspace: what a fresh clone lacks (downloads, datasets, outputs, caches).
SKIP_COPY = shutil.ignore_patterns(
    ".git",
    "checkpoints",
    "anime_sketch_dataset",
    "anime_processed",
    "_build",
    "__pycache__",
    ".pytest_cache",
    ".venv",
    "venv",
    "facades",
    "data",
    "cmp",
    "*.pth",
    "*.part",
    "exercise1_output.png",
    "exercise2_*.png",
    "exercise3_*.png",
    "metrics.csv",
    "node_modules",
)


# ----------------------------------------------------------------------------- reading the README


@dataclass
class Step:
    line: int  # where it is in its page
    kind: str  # "bash" or "python"
    text: str  # the command line, or the whole snippet
    argv: list = field(default_factory=list)
    env: dict = field(default_factory=dict)
    page: str = "README.rst"

    @property
    def id(self):
        words = self.text.split() if self.kind == "bash" else ["python-snippet"]
        where = (
            ""
            if self.page == "README.rst"
            else self.page.replace("/", "-").removesuffix(".rst") + "-"
        )
        return (
            f"{where}L{self.line}-" + "-".join(w for w in words[:3] if not w.startswith("'"))[:60]
        )


def code_blocks(text):
    """(line, language, body) of every `.. code-block::` in an rst text, bodies dedented."""
    lines = text.splitlines()
    blocks, i = [], 0
    while i < len(lines):
        match = re.match(r"^(\s*)\.\. code-block:: *(\w+)", lines[i])
        i += 1
        if not match:
            continue
        indent, body, first = len(match.group(1)), [], None
        while i < len(lines) and (
            not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent
        ):
            if lines[i].strip() and first is None:
                first = i + 1
            body.append(lines[i])
            i += 1
        blocks.append((first, match.group(2), _dedent(body)))
    return blocks


def _dedent(body):
    width = min(len(b) - len(b.lstrip()) for b in body if b.strip())
    return "\n".join(b[width:] for b in body).strip("\n")


def readme_steps(text=None, page="README.rst"):
    steps = []
    for line, language, body in code_blocks(text or (ROOT / page).read_text(encoding="utf-8")):
        if language == "python":
            steps.append(Step(line, "python", body, page=page))
        elif language == "bash":
            for offset, command in enumerate(body.replace("\\\n", " ").splitlines()):
                for words in commands(shlex.split(command, comments=True)):
                    text = " ".join(words)
                    env = {}
                    while re.match(r"^[A-Z_][A-Z0-9_]*=", words[0]):
                        key, _, value = words.pop(0).partition("=")
                        env[key] = value
                    steps.append(Step(line + offset, "bash", text, words, env, page))
    return steps


def commands(words):
    """The commands of one shell line, in order: `a && b && c &` runs a, b, c (here one after the
    other, in the foreground)."""
    if words and words[-1] == "&":
        words = words[:-1]
    groups = [[]]
    for word in words:
        if word in ("&&", ";"):
            groups.append([])
        else:
            groups[-1].append(word)
    return [group for group in groups if group]


def _matching(table, step):
    keys = [k for k in table if step.text.startswith(k)]
    return table[max(keys, key=len)] if keys else None


def script_of(argv):
    """The project script a command runs (python X.py ..., torchrun ... X.py ...), or None."""
    return next((Path(w) for w in argv if w.endswith(".py")), None)


STEPS = [step for page in PAGES for step in readme_steps(page=str(page.relative_to(ROOT)))]


# ----------------------------------------------------------------------------- the workspace


class Workspace:
    """A copy of the repository plus the local weights server and the facade painter, if started."""

    def __init__(self, root, url, samples_url=None):
        self.root, self.url, self.painter, self.painter_url, self.runner = (
            root,
            url,
            None,
            None,
            None,
        )
        self.samples_url = samples_url
        self.helps = {}  # script -> its --help text

    def run(self, argv, env=None, timeout=TIMEOUT_S):
        """Run a command in the workspace; `python X.py ...` goes through the warm runner."""
        env = {**QUIET_THREADS, "MPLBACKEND": "Agg", **(env or {})}
        if (
            argv[0] == sys.executable
            and len(argv) > 1
            and argv[1].endswith(".py")
            and hasattr(os, "fork")
        ):
            return self._run_warm(argv[1:], env, timeout)
        return subprocess.run(
            argv,
            cwd=self.root,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def _run_warm(self, argv, env, timeout):
        if self.runner is None:
            self.runner = subprocess.Popen(
                [sys.executable, str(ROOT / "tests" / "readme_runner.py")],
                cwd=self.root,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                env={**os.environ, **QUIET_THREADS, "MPLBACKEND": "Agg"},
            )
        out, err = self.root.parent / "step.out", self.root.parent / "step.err"
        job = dict(argv=argv, cwd=str(self.root), env=env, stdout=str(out), stderr=str(err))
        self.runner.stdin.write(json.dumps(job) + "\n")
        self.runner.stdin.flush()
        pid = json.loads(self.runner.stdout.readline())["pid"]
        killer = threading.Timer(timeout, os.kill, (pid, signal.SIGKILL))
        killer.start()
        try:
            rc = json.loads(self.runner.stdout.readline())["rc"]
        finally:
            killer.cancel()
        return subprocess.CompletedProcess(
            argv, rc, out.read_text(errors="replace"), err.read_text(errors="replace")
        )

    def fresh_anime_folders(self):
        for name in ("anime_sketch_dataset", "anime_processed"):
            shutil.rmtree(self.root / name, ignore_errors=True)

    def kaggle_layout_pairs(self):
        """A few pairs laid out like the Kaggle archive (data/train, data/val; colour left, sketch
        right), drawn by the project's demo generator: the real 17,769 are not ours to ship."""
        from helpers.anime_demo import draw_demo_pair

        self.fresh_anime_folders()
        for split, indices in (("train", range(4)), ("val", range(4, 6))):
            folder = self.root / "anime_sketch_dataset" / "data" / split
            folder.mkdir(parents=True)
            for index in indices:
                draw_demo_pair(seed=1, index=index).save(folder / f"{index}.png")

    def start_painter(self, argv):
        self.stop_painter()  # a second painter command (another page or flags) replaces the first
        self.painter = subprocess.Popen(
            argv,
            cwd=self.root,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, **QUIET_THREADS, "MPLBACKEND": "Agg"},
        )
        lines, deadline = [], time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline:
            line = self.painter.stdout.readline()
            if not line:
                break
            lines.append(line)
            found = re.search(r"running at (http://\S+?)/? ", line)
            if found:
                self.painter_url = found.group(1)
                threading.Thread(
                    target=self.painter.stdout.read, daemon=True
                ).start()  # keep the pipe empty
                with urllib.request.urlopen(self.painter_url + "/", timeout=30) as page:
                    assert page.status == 200 and b"<canvas" in page.read(), (
                        "the painter's page did not load"
                    )
                return "".join(lines)
        raise AssertionError("the painter did not start:\n" + "".join(lines))

    def stop_painter(self):
        if self.painter is not None:
            self.painter.terminate()
            self.painter.wait(timeout=30)
            self.painter, self.painter_url = None, None

    def close(self):
        if self.runner is not None:
            self.runner.stdin.close()  # the runner ends when its input does
            self.runner.wait(timeout=30)
        self.stop_painter()


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("lesson") / "pix2pix"
    shutil.copytree(ROOT, root, ignore=SKIP_COPY)
    served = tmp_path_factory.mktemp("served")
    torch.save(random_official_state_dict(ngf=64, seed=0), served / "facades_label2photo.pth")
    (served / "CMP_facade_DB_base.zip").write_bytes(cmp_like_archive())
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(served)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    server = f"http://127.0.0.1:{httpd.server_address[1]}"
    space = Workspace(root, f"{server}/facades_label2photo.pth", f"{server}/CMP_facade_DB_base.zip")
    yield space
    space.close()
    httpd.shutdown()


def cmp_like_archive(count=3):
    """A zip laid out like CMP_facade_DB_base.zip: base/cmp_bNNNN.png label maps that store one
    class index (1..12) per pixel, each beside its photo (a placeholder here)."""
    rng = np.random.default_rng(0)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for number in range(1, count + 1):
            png = io.BytesIO()
            Image.fromarray(rng.integers(1, 13, size=(40, 30), dtype=np.uint8)).save(
                png, format="PNG"
            )
            archive.writestr(f"base/cmp_b{number:04d}.png", png.getvalue())
            archive.writestr(f"base/cmp_b{number:04d}.jpg", b"a photo")
    return buffer.getvalue()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


# ----------------------------------------------------------------------------- running the steps


def _files_saved_by(step):
    """Files a step says it writes: `.save("X")` in a snippet, `--output X`, `-o X` in a command."""
    if step.kind == "python":
        return re.findall(r"\.save\(\"([^\"]+)\"\)", step.text)
    return [step.argv[i + 1] for i, w in enumerate(step.argv[:-1]) if w in ("--output", "-o")]


FIRST_LINE = {}  # command or snippet -> (page, line) where it first appears
for _step in STEPS:
    FIRST_LINE.setdefault(_step.text, (_step.page, _step.line))


@pytest.mark.parametrize("step", STEPS, ids=[s.id for s in STEPS])
def test_readme_step_runs(step, workspace):
    if _matching(EXEMPT, step):
        return  # not run here: see EXEMPT for why (their flags are still checked below)
    if FIRST_LINE[step.text] != (step.page, step.line):
        return  # the same command already ran where it first appears (e.g. "At a glance")
    if step.kind == "python":
        snippet = workspace.root / f"snippet_{Path(step.page).stem}_line{step.line}.py"
        snippet.write_text(step.text + "\n", encoding="utf-8")
        result = workspace.run([sys.executable, snippet.name])
    else:
        argv = list(step.argv)
        script = script_of(argv)
        if script is not None:
            assert (workspace.root / script).is_file(), (
                f"{step.page} line {step.line}: {script} does not exist"
            )
        if argv[0] == "python":
            argv[0] = sys.executable
        setup = SETUP.get(step.text)
        if setup:
            getattr(workspace, setup)()
        argv += [
            a.format(url=workspace.url, samples_url=workspace.samples_url)
            for a in _matching(SMOKE_ARGS, step) or []
        ]
        if script is not None and script.name == "facade_painter.py":
            # it serves until the module's tests end; the curl step uses it
            workspace.start_painter(argv)
            return
        if argv[0] == "curl":
            assert workspace.painter_url, (
                "the README's curl command needs `python facade_painter.py` before it"
            )
            argv = [re.sub(r"http://127\.0\.0\.1:8000", workspace.painter_url, a) for a in argv]
            if shutil.which("curl") is None:
                pytest.fail("curl is not installed; the README's painter API example needs it")
        result = workspace.run(argv, env=step.env)
    output = f"--- stdout\n{result.stdout[-3000:]}\n--- stderr\n{result.stderr[-3000:]}"
    report = f"{step.page} line {step.line}: {step.text}\n{output}"
    status, printed = EXPECTED.get(step.text, (0, ""))
    assert result.returncode == status and printed in result.stdout, report
    assert "Traceback" not in result.stderr, report
    for name in _files_saved_by(step):
        assert (workspace.root / name).is_file() and (workspace.root / name).stat().st_size > 0, (
            report
        )


# ----------------------------------------------------------------------------- flags and figures


def help_text(workspace, script):
    """What `python SCRIPT --help` prints (run once per script, in the workspace)."""
    if script not in workspace.helps:
        path = Path(script)
        if (
            ROOT / path.parent / "__init__.py"
        ).is_file():  # a module of a package: run as `python -m package.module`
            result = workspace.run(
                [sys.executable, "-m", ".".join(path.with_suffix("").parts), "--help"]
            )
        else:
            result = workspace.run([sys.executable, str(script), "--help"])
        assert result.returncode == 0, f"`python {script} --help` failed:\n{result.stderr[-2000:]}"
        workspace.helps[script] = result.stdout
    return workspace.helps[script]


def _is_script(name):
    """A file of the project that a student runs with `python NAME` (it has a main(argv))."""
    path = ROOT / name
    return (
        path.is_file()
        and not name.startswith("tests/")
        and "def main(argv=None)" in path.read_text(encoding="utf-8")
    )


def _flags(text):
    return set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9_-]*)", text))


def readme_sections(text):
    """(name, text) for each part of the README between `.. SECTION:` markers."""
    parts = re.split(r"^\.\. SECTION: *(\S+) *$", text, flags=re.M)
    return [("top", parts[0])] + list(zip(parts[1::2], parts[2::2], strict=True))


def test_every_flag_on_a_readme_command_is_in_that_scripts_help(workspace):
    for step in STEPS:
        script = script_of(step.argv) if step.kind == "bash" else None
        if script is None or not _is_script(str(script)):  # exempt commands' flags are checked too
            continue
        known = _flags(help_text(workspace, str(script)))
        for flag in _flags(" ".join(w.partition("=")[0] for w in step.argv if w.startswith("--"))):
            if flag not in FOREIGN_FLAGS:
                assert flag in known, (
                    f"{step.page} line {step.line}: {script} has no {flag} (see its --help)"
                )


def test_every_flag_the_readme_mentions_belongs_to_a_script_of_its_section(workspace):
    sections = readme_sections(README.read_text(encoding="utf-8"))
    # a docs page is one section
    sections += [(page.name, page.read_text(encoding="utf-8")) for page in PAGES[1:]]
    for name, section in sections:
        named = re.findall(r"[\w/]+\.py\b", section)
        # python -m helpers.x names helpers/x.py
        named += [m.replace(".", "/") + ".py" for m in re.findall(r"python -m ([\w.]+)", section)]
        scripts = sorted({s for s in named if _is_script(s)})
        known = (
            set().union(*(_flags(help_text(workspace, s)) for s in scripts)) if scripts else set()
        )
        for flag in sorted(_flags(section) - set(FOREIGN_FLAGS)):
            assert flag in known, f"section {name!r} names {flag}, which none of {scripts} accepts"


def test_every_figure_in_the_readme_exists():
    text = README.read_text(encoding="utf-8")
    figures = re.findall(r"^\s*\.\. (?:image|figure):: *(\S+)", text, flags=re.M)
    assert len(figures) >= 4  # the concept diagrams, the palette, the painter
    for path in figures:
        assert (ROOT / path).is_file(), f"README shows {path}, which does not exist"


def test_the_readme_is_parsed_as_written():
    """The parser itself: a tiny README with each kind of block."""
    sample = (
        "Intro\n\n.. code-block:: bash\n\n   python a.py --x 1  # note\n   B=2 python b.py \\\n"
        "      --y\n\n.. code-block:: python\n\n   print('hi')\n\n   print('there')\n\ntext\n"
    )
    steps = readme_steps(sample)
    assert [(s.kind, s.argv, s.env) for s in steps] == [
        ("bash", ["python", "a.py", "--x", "1"], {}),
        ("bash", ["python", "b.py", "--y"], {"B": "2"}),
        ("python", [], {}),
    ]
    assert steps[2].text == "print('hi')\n\nprint('there')" and steps[0].line == 5


def test_the_torchrun_command_is_run_by_test_ddp():
    """The README's multi-GPU command is exempt here only because tests/test_ddp.py launches it."""
    source = (ROOT / "tests" / "test_ddp.py").read_text(encoding="utf-8")
    assert '"torch.distributed.run"' in source and "exercise3_train.py" in source
