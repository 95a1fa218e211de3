"""Every command and Python snippet of README.rst and the docs pages runs, every flag it names
exists, every figure it shows is there.

The steps run in page order in one throw-away copy of the repository, as a student follows the
lesson: `python download_pretrained.py` really downloads (from a local server holding a
random-weight checkpoint in the official layout: never a result), and later steps use what it
wrote. Long commands get SMOKE_ARGS appended (after the page's own arguments, so they win).
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

pytestmark = pytest.mark.slow  # every command of the lesson, in a fresh copy: minutes

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.rst"
PAGES = [README] + sorted((ROOT / "docs").glob("*.rst"))
TIMEOUT_S = 300
# Not run here (their flags are still checked): installs need the network, the tests are this
# suite, the Sphinx build is tests/test_docs.py, torchrun is tests/test_ddp.py.
EXEMPT = ("python -m venv", "source ", "python -m pip install", "python -m pytest")
EXEMPT += ("PAINTER_SCREENSHOT=", "ONEDNN_MAX_CPU_ISA=", "PIX2PIX_SLOW_TESTS=")
EXEMPT += ("python -m sphinx", "torchrun")
# Command prefix -> arguments that make it a seconds-long smoke run (the longest prefix wins).
# {url}: the local weights server; {samples_url}: a small archive laid out like the CMP one.
SMOKE_ARGS = {
    "python download_pretrained.py": ["--url", "{url}", "--retries", "0"],
    "python download_pretrained.py --samples": ["--url", "{url}", "--retries", "0"]
    + ["--samples-url", "{samples_url}"],
    "python preprocess_anime_sketches.py --demo": ["--demo", "6"],
    "python exercise2_explore.py --design": ["--experiment", "windows"],
    "python exercise3_train.py": ["--epochs", "1", "--max-images", "2", "--val-images", "1"]
    + ["--batch-size", "2", "--ngf", "8", "--ndf", "8"],
    "python facade_painter.py": ["--port", "0"],
    "python docs/make_figures.py": ["--output-dir", "figures_smoke"],
    "python benchmark/bench.py": ["--smoke"],
}
# Commands that end with another exit status, and a word they print: the checker on the stubs.
EXPECTED = {"python challenges/check.py": (1, "not yet written")}
# Flags of other programs that the pages name.
FOREIGN_FLAGS = {"--eval", "--lr_policy", "--data-binary", "--index-url", "--force-reinstall"}
FOREIGN_FLAGS |= {"--nproc_per_node", "--nproc-per-node", "--standalone", "--check"}  # ruff
# Threads that sleep while they wait: on a busy machine spinning ones make smoke runs crawl.
QUIET = {"OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE"), "MPLBACKEND": "Agg"}
SKIP_COPY = shutil.ignore_patterns(
    *(".git", "checkpoints", "anime_sketch_dataset", "anime_processed", "_build", "__pycache__"),
    *(".pytest_cache", ".venv", "venv", "facades", "data", "cmp", "*.pth", "*.part", "*.png.*"),
    *("exercise1_*.png", "exercise2_*.png", "exercise3_*.png", "metrics.csv", "node_modules"),
)


@dataclass
class Step:
    page: str
    line: int
    kind: str  # "bash" or "python"
    text: str  # the command, or the whole snippet
    argv: list = field(default_factory=list)
    env: dict = field(default_factory=dict)


def steps_of(page):
    """The bash commands (one per line; `a && b` is two) and Python snippets of a page's
    `.. code-block::` directives, in order."""
    steps, lines = [], (ROOT / page).read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        match = re.match(r"^(\s*)\.\. code-block:: *(bash|python)", line)
        if not match:
            continue
        body, j = [], i + 1
        while j < len(lines) and (not lines[j].strip() or lines[j].startswith(match[1] + " ")):
            body.append(lines[j])
            j += 1
        first = i + 1 + next(k for k, b in enumerate(body) if b.strip()) + 1
        width = min(len(b) - len(b.lstrip()) for b in body if b.strip())
        text = "\n".join(b[width:] for b in body).strip("\n")
        if match[2] == "python":
            steps.append(Step(page, first, "python", text))
            continue
        for offset, command in enumerate(text.replace("\\\n", " ").splitlines()):
            words = shlex.split(command, comments=True)
            groups = [[]]
            for word in words[:-1] if words[-1:] == ["&"] else words:
                groups.append([]) if word in ("&&", ";") else groups[-1].append(word)
            for argv in filter(None, groups):
                env = {}
                while re.match(r"^[A-Z_][A-Z0-9_]*=", argv[0]):
                    key, _, value = argv.pop(0).partition("=")
                    env[key] = value
                steps.append(Step(page, first + offset, "bash", " ".join(argv), argv, env))
    return steps


STEPS = [step for page in PAGES for step in steps_of(str(page.relative_to(ROOT)))]
FIRST = {}  # a command that appears twice runs where it first appears
for _step in STEPS:
    FIRST.setdefault(_step.text, _step)


def longest(table, text):
    keys = [key for key in table if text.startswith(key)]
    return table[max(keys, key=len)] if keys else None


def script_of(argv):
    return next((Path(word) for word in argv if word.endswith(".py")), None)


class Workspace:
    """A copy of the repository, the local download server, and the painter once started."""

    def __init__(self, root, url, samples_url):
        self.root, self.url, self.samples_url = root, url, samples_url
        self.runner = self.painter = self.painter_url = None
        self.helps = {}

    def run(self, argv, env=None):
        """`python X.py ...` runs in a forked child of a warm interpreter (tests/readme_runner.py:
        torch is imported once, not twenty times); anything else in a plain subprocess."""
        env = {**QUIET, **(env or {})}
        if argv[0] != sys.executable or not argv[1].endswith(".py") or not hasattr(os, "fork"):
            return subprocess.run(
                argv, cwd=self.root, env={**os.environ, **env}, capture_output=True, text=True,
                timeout=TIMEOUT_S,
            )  # fmt: skip
        if self.runner is None:
            runner = [sys.executable, str(ROOT / "tests" / "readme_runner.py")]
            self.runner = subprocess.Popen(
                runner, cwd=self.root, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                env={**os.environ, **QUIET},
            )  # fmt: skip
        out, err = self.root.parent / "step.out", self.root.parent / "step.err"
        job = dict(argv=argv[1:], cwd=str(self.root), env=env, stdout=str(out), stderr=str(err))
        self.runner.stdin.write(json.dumps(job) + "\n")
        self.runner.stdin.flush()
        pid = json.loads(self.runner.stdout.readline())["pid"]
        killer = threading.Timer(TIMEOUT_S, os.kill, (pid, signal.SIGKILL))
        killer.start()
        try:
            rc = json.loads(self.runner.stdout.readline())["rc"]
        finally:
            killer.cancel()
        return subprocess.CompletedProcess(
            argv, rc, out.read_text(errors="replace"), err.read_text(errors="replace")
        )

    def start_painter(self, argv):
        """Start the painter (a second one replaces the first) and wait for its address."""
        self.stop_painter()
        self.painter = subprocess.Popen(
            argv, cwd=self.root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, **QUIET},
        )  # fmt: skip
        printed = ""
        for line in iter(self.painter.stdout.readline, ""):
            printed += line
            if found := re.search(r"running at (http://\S+?)/? ", line):
                self.painter_url = found[1]
                threading.Thread(target=self.painter.stdout.read, daemon=True).start()
                with urllib.request.urlopen(self.painter_url + "/", timeout=30) as page:
                    assert b"<canvas" in page.read(), "the painter's page did not load"
                return
        raise AssertionError(f"the painter did not start:\n{printed}")

    def fresh_data(self, kaggle):
        """A clean start; for the Kaggle route a few pairs in its layout (data/train, data/val;
        colour left, sketch right), drawn by the demo set's drawer: the real ones are not ours."""
        from preprocessing.demo import draw_demo_pair

        for name in ("anime_sketch_dataset", "anime_processed"):
            shutil.rmtree(self.root / name, ignore_errors=True)
        for split, indices in (("train", range(4)), ("val", range(4, 6))) if kaggle else ():
            folder = self.root / "anime_sketch_dataset" / "data" / split
            folder.mkdir(parents=True)
            for index in indices:
                draw_demo_pair(seed=1, index=index).save(folder / f"{index}.png")

    def stop_painter(self):
        if self.painter is not None:
            self.painter.terminate()
            self.painter.wait(timeout=30)

    def help(self, script):
        """What `python SCRIPT --help` prints, once per script."""
        if script not in self.helps:
            path = Path(script)  # a module of a package runs as `python -m package.module`
            module = ["-m", ".".join(path.with_suffix("").parts)]
            package = (ROOT / path.parent / "__init__.py").is_file()
            result = self.run([sys.executable, *(module if package else [script]), "--help"])
            assert result.returncode == 0, f"{script} --help failed:\n{result.stderr[-2000:]}"
            self.helps[script] = result.stdout
        return self.helps[script]


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def cmp_like_archive(count=3):
    """A zip laid out like CMP_facade_DB_base.zip: base/cmp_bNNNN.png label maps of class indices
    1..12, each beside its photo (a placeholder)."""
    rng, buffer = np.random.default_rng(0), io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for number in range(1, count + 1):
            png = io.BytesIO()
            Image.fromarray(rng.integers(1, 13, (40, 30), dtype=np.uint8)).save(png, format="PNG")
            archive.writestr(f"base/cmp_b{number:04d}.png", png.getvalue())
            archive.writestr(f"base/cmp_b{number:04d}.jpg", b"a photo")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("lesson") / "pix2pix"
    shutil.copytree(ROOT, root, ignore=SKIP_COPY)
    served = tmp_path_factory.mktemp("served")
    torch.save(random_official_state_dict(ngf=64, seed=0), served / "facades_label2photo.pth")
    (served / "CMP_facade_DB_base.zip").write_bytes(cmp_like_archive())
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory=str(served)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    server = f"http://127.0.0.1:{httpd.server_address[1]}"
    space = Workspace(root, f"{server}/facades_label2photo.pth", f"{server}/CMP_facade_DB_base.zip")
    yield space
    if space.runner is not None:
        space.runner.stdin.close()  # the runner ends with its input
        space.runner.wait(timeout=30)
    space.stop_painter()
    httpd.shutdown()


@pytest.mark.parametrize("step", STEPS, ids=lambda s: f"{Path(s.page).stem}-L{s.line}")
def test_every_step_runs(step, workspace):
    if step.text.startswith(EXEMPT) or FIRST[step.text] is not step:
        return
    if step.kind == "python":
        snippet = workspace.root / f"snippet_{Path(step.page).stem}_{step.line}.py"
        snippet.write_text(step.text + "\n", encoding="utf-8")
        result, saved = workspace.run([sys.executable, snippet.name]), []
        saved = re.findall(r"\.save\(\"([^\"]+)\"\)", step.text)
    else:
        argv = [sys.executable if step.argv[0] == "python" else step.argv[0], *step.argv[1:]]
        smoke = longest(SMOKE_ARGS, step.text) or []
        argv += [a.format(url=workspace.url, samples_url=workspace.samples_url) for a in smoke]
        if step.text.startswith("python preprocess_anime_sketches.py --demo"):
            workspace.fresh_data(kaggle=False)
        elif step.text == "python preprocess_anime_sketches.py":
            workspace.fresh_data(kaggle=True)
        if step.text.startswith("python facade_painter.py"):
            workspace.start_painter(argv)  # it serves the page's curl commands
            return
        if argv[0] == "curl":
            assert workspace.painter_url, f"{step.page}: curl needs the painter started before it"
            argv = [re.sub(r"http://127\.0\.0\.1:8000", workspace.painter_url, a) for a in argv]
        result = workspace.run(argv, env=step.env)
        saved = [step.argv[i + 1] for i, w in enumerate(step.argv[:-1]) if w in ("--output", "-o")]
    report = (
        f"{step.page}:{step.line}: {step.text}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    status, word = EXPECTED.get(step.text, (0, ""))
    assert result.returncode == status and word in result.stdout, report
    assert "Traceback" not in result.stderr, report
    for name in saved:
        assert (workspace.root / name).stat().st_size > 0, report


def flags(text):
    return set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9_-]*)", text)) - FOREIGN_FLAGS


def is_script(name):
    """A file of the project that a student runs (it has a main(argv))."""
    path = ROOT / name
    return path.is_file() and "def main(argv=None)" in path.read_text(encoding="utf-8")


def test_every_flag_a_page_names_belongs_to_a_script_it_names(workspace):
    """A flag in a command exists in that command's script; a flag in the prose exists in one of
    the scripts its section of the README (or its docs page) names."""
    for step in STEPS:
        script = script_of(step.argv)
        if script is not None and is_script(str(script)):
            assert flags(" ".join(step.argv)) <= flags(workspace.help(str(script))), step
    text = README.read_text(encoding="utf-8")
    parts = re.split(r"^\.\. SECTION: *(\S+) *$", text, flags=re.M)
    sections = [("top", parts[0])] + list(zip(parts[1::2], parts[2::2], strict=True))
    sections += [(page.name, page.read_text(encoding="utf-8")) for page in PAGES[1:]]
    for name, section in sections:
        named = set(re.findall(r"[\w/]+\.py\b", section))
        named |= {m.replace(".", "/") + ".py" for m in re.findall(r"python -m ([\w.]+)", section)}
        known = set().union(*(flags(workspace.help(s)) for s in named if is_script(s)))
        assert flags(section) <= known, f"{name} names flags no script of it takes"


def test_every_figure_a_page_shows_exists():
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for path in re.findall(r"^\s*\.\. (?:image|figure):: *(\S+)", text, flags=re.M):
            where = ROOT if page == README else page.parent
            assert (where / path).is_file(), f"{page.name} shows {path}, which does not exist"
