"""Run `python SCRIPT.py ARGS` commands in forked children of one warm interpreter (for
test_readme.py).

Importing torch, torchvision, torchmetrics and matplotlib costs 5-8 s of CPU on a small machine,
and the README has some twenty commands. This process imports them once, runs no torch operation
(so no thread pool exists yet), then forks one child per command: each child is a fresh process
with its own exit status and output, exactly like `python SCRIPT.py ARGS`, minus the imports.

Protocol: one JSON object per line on stdin, {"argv", "cwd", "env", "stdout", "stderr"};
two JSON lines back per command, {"pid": the child's pid} and then {"rc": its exit status}.
"""

import json
import os
import runpy
import sys
import traceback

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot  # noqa: E402,F401  (imported to be inherited, not used here)
import numpy  # noqa: E402,F401
import PIL.Image  # noqa: E402,F401
import torch  # noqa: E402,F401
import torchvision  # noqa: E402,F401

try:
    import torchmetrics  # noqa: F401
except ImportError:  # only Exercise 3 needs it; its absence is that script's error to report
    pass


def run_child(job):
    os.chdir(job["cwd"])
    os.environ.update(job["env"])
    for fd, path in ((1, job["stdout"]), (2, job["stderr"])):
        os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), fd)
    sys.argv = list(job["argv"])
    sys.path[0] = os.path.dirname(os.path.abspath(sys.argv[0]))  # as `python SCRIPT.py` sets it
    code = 0
    try:
        runpy.run_path(sys.argv[0], run_name="__main__")
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if exc.code is not None and not isinstance(exc.code, int):
            print(exc.code, file=sys.stderr)
    except BaseException:
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main():
    for line in sys.stdin:
        job = json.loads(line)
        pid = os.fork()
        if pid == 0:
            run_child(job)
        print(json.dumps({"pid": pid}), flush=True)  # so the caller can kill it on a timeout
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"rc": os.waitstatus_to_exitcode(status)}), flush=True)


if __name__ == "__main__":
    main()
