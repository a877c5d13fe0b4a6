"""Run many short bcx commands from one process that has already imported bcx.

Starting ``.venv/bin/bcx`` costs 5-10 s on a loaded 2-core machine, nearly all of it importing
torch and Lightning, while a bad value is refused in well under a second after that. This server
imports bcx once, then forks one child per command: the child changes to the command's folder,
points its stdout and stderr at files, sets ``sys.argv`` and calls the console script's own entry
point (``bcx.train:cli``, ``bcx.results.report:main``), ending with the exit status the script
would. So a child behaves as ``.venv/bin/bcx <args>`` started in that folder, minus the imports.

Protocol: one JSON request per line on stdin (``id``, ``argv``, ``cwd``, ``stdout``, ``stderr``,
``timeout``, optional ``env`` and ``rlimit``); one JSON line on stdout per finished command
(``id``, ``rc``, ``seconds``, ``timed_out``), in the order they finish. At most ``--jobs``
children run at once. The server is single-threaded (fork and threads do not mix).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import resource
import select
import signal
import sys
import tempfile
import time
import traceback
from collections import deque

RLIMITS = {"fsize": resource.RLIMIT_FSIZE, "as": resource.RLIMIT_AS}
PRELOAD = ("stable_baselines3", "h5py", "bcx.experts.sb3", "bcx.experts.zoo", "bcx.data.minari")


def preload() -> dict:
    """Import what the commands run and compose bcx's config once, so children start warm."""
    from bcx.command_line import check_command_line
    from bcx.conf_dir import CONF_DIR
    from bcx.errors import BCXError
    from bcx.results.report import main as report_main
    from bcx.train import cli

    # A dry check of the default config, and the imports a run makes when it builds its env
    # and expert (MuJoCo, SB3, h5py), which children would otherwise each make again.
    with tempfile.TemporaryDirectory() as folder, contextlib.suppress(BCXError):
        check_command_line([f"hydra.run.dir={folder}/run"], CONF_DIR, "train")
    for module in PRELOAD:
        with contextlib.suppress(ImportError):
            importlib.import_module(module)
    with contextlib.suppress(Exception):
        import gymnasium as gym

        import bcx.envs  # noqa: F401  (registers bcx/* env ids)

        gym.make("InvertedPendulum-v5").close()
    return {"bcx": cli, "bcx-report": report_main}


def exit_code(value: object) -> int:
    """The status ``sys.exit(value)`` ends a process with."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value & 0xFF
    print(value, file=sys.stderr)
    return 1


def child(request: dict, entries: dict) -> None:
    """In the forked child: become the command, then leave without returning."""
    code = 1
    try:
        os.chdir(request["cwd"])
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        for fd, name in ((1, "stdout"), (2, "stderr")):
            target = os.open(request[name], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(target, fd)
        for key, value in (request.get("env") or {}).items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        for name, limit in request.get("rlimit") or ():
            resource.setrlimit(RLIMITS[name], (limit, limit))
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        sys.argv = list(request["argv"])
        entry = entries[os.path.basename(sys.argv[0])]
        try:
            code = exit_code(entry())
        except SystemExit as stop:
            code = exit_code(stop.code)
        except BaseException:  # what an uncaught exception does to a script
            traceback.print_exc()
            code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def serve(jobs: int) -> None:
    entries = preload()
    os.write(1, b'{"ready": true}\n')
    pending: deque[dict] = deque()
    running: dict[int, tuple[dict, float]] = {}
    buffer, eof = b"", False
    while not (eof and not pending and not running):
        for pid, (request, start) in list(running.items()):
            done, status = os.waitpid(pid, os.WNOHANG)
            timed_out = not done and time.monotonic() - start > request["timeout"]
            if timed_out:
                os.kill(pid, signal.SIGKILL)
                done, status = os.waitpid(pid, 0)
            if done:
                del running[pid]
                answer = {
                    "id": request["id"],
                    "rc": os.waitstatus_to_exitcode(status),
                    "seconds": round(time.monotonic() - start, 2),
                    "timed_out": timed_out,
                }
                os.write(1, (json.dumps(answer) + "\n").encode())
        while pending and len(running) < jobs:
            request = pending.popleft()
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                child(request, entries)
            running[pid] = (request, time.monotonic())
        readable, _, _ = select.select([] if eof else [0], [], [], 0.02)
        if readable:
            data = os.read(0, 1 << 16)
            eof = not data
            buffer += data
            *lines, buffer = buffer.split(b"\n")
            pending.extend(json.loads(line) for line in lines if line.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="children at once")
    serve(parser.parse_args().jobs)


if __name__ == "__main__":
    main()
