"""CPU seconds of a whole process tree: a command, its children, and their children, including orphans.

Why: ``getrusage(RUSAGE_CHILDREN)`` only holds processes that were *waited for*, and only once their parent was
waited for too. A worker process whose parent exits without reaping it (a ``ProcessPoolExecutor`` shut down with
``wait=False`` at exit, ``os._exit``, a daemon left behind) is re-parented to init and its CPU is lost to the
benchmark; that is how ``bench/cnn_e2e.py`` first under-counted our decode workers.

How: the command runs under a small wrapper process that makes itself a *child subreaper*
(``prctl(PR_SET_CHILD_SUBREAPER)``, Linux >= 3.4): every orphaned descendant is re-parented to the wrapper instead
of init. The wrapper waits for the command, then reaps every remaining descendant until none is left (killing them
after ``orphan_timeout`` seconds, so a hung leftover cannot hang the benchmark; a killed process's CPU is still
counted), and reports its own ``RUSAGE_CHILDREN``: user + system seconds of every process of the tree, all threads.
Where ``prctl`` is unavailable (not Linux) the figure falls back to plain ``RUSAGE_CHILDREN`` and ``tree`` is False.

Used by ``bench/cnn_e2e.py`` and ``bench/cnn_stages.py``; tested in ``tests/test_bench_treecpu.py``.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

_WRAPPER = r"""
import ctypes, json, os, resource, signal, subprocess, sys, time
report, orphan_timeout, cmd = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
tree = False
try:
    tree = ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) == 0   # PR_SET_CHILD_SUBREAPER
except Exception:
    pass
t0 = time.perf_counter()
p = subprocess.Popen(cmd)
rc = p.wait()
t_main = time.perf_counter() - t0
orphans, killed = 0, 0
deadline = time.monotonic() + orphan_timeout
while True:
    try:
        pid, _ = os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        break
    if pid:
        orphans += 1
        continue
    if time.monotonic() > deadline:   # a leftover that does not exit: kill the descendants we adopted
        kids = []
        for d in os.listdir("/proc"):
            try:
                if d.isdigit() and int(open("/proc/%s/stat" % d).read().rsplit(")", 1)[1].split()[1]) == os.getpid():
                    kids.append(d)
            except (OSError, ValueError, IndexError):
                pass
        for k in kids:
            try:
                os.kill(int(k), signal.SIGKILL); killed += 1
            except OSError:
                pass
        deadline = float("inf")
    time.sleep(0.02)
t_tree = time.perf_counter() - t0
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
with open(report, "w") as f:
    json.dump({"rc": rc, "user": ru.ru_utime, "sys": ru.ru_stime, "max_rss_kb": ru.ru_maxrss, "tree": tree,
               "wall_main": t_main, "wall_tree": t_tree, "orphans": orphans, "killed": killed}, f)
"""


@dataclass
class TreeRun:
    """One command run under :func:`run`."""

    returncode: int
    stdout: str
    stderr: str
    wall: float          #: seconds until the command itself exited (what a user waits for)
    wall_tree: float     #: seconds until its last descendant exited
    user: float          #: user CPU seconds of the whole tree
    sys: float           #: system CPU seconds of the whole tree
    tree: bool           #: True when orphans were adopted (subreaper); False: only waited-for processes
    orphans: int         #: descendants reaped by the wrapper (not waited for by their own parent)
    max_rss_kb: int      #: largest resident set of any one process of the tree

    @property
    def cpu(self) -> float:
        """User + system CPU seconds of every process of the tree."""
        return self.user + self.sys


def run(cmd, *, env=None, cwd=None, orphan_timeout: float = 120.0, timeout: float | None = None) -> TreeRun:
    """Run ``cmd`` (a list) under the subreaper wrapper; stdout and stderr are captured as text."""
    fd, report = tempfile.mkstemp(prefix="treecpu-", suffix=".json")
    os.close(fd)
    try:
        t = time.perf_counter()
        p = subprocess.run([sys.executable, "-c", _WRAPPER, report, str(orphan_timeout), *map(str, cmd)],
                           capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout)
        wall_outer = time.perf_counter() - t
        try:
            with open(report) as f:
                r = json.load(f)
        except (OSError, ValueError):  # the wrapper itself failed (e.g. cmd not found)
            return TreeRun(p.returncode or 1, p.stdout, p.stderr, wall_outer, wall_outer, 0.0, 0.0, False, 0, 0)
        return TreeRun(r["rc"], p.stdout, p.stderr, r["wall_main"], r["wall_tree"], r["user"], r["sys"], r["tree"],
                       r["orphans"], r["max_rss_kb"])
    finally:
        try:
            os.unlink(report)
        except OSError:
            pass


if __name__ == "__main__":  # python bench/treecpu.py CMD ...: print the tree's CPU seconds after the command
    res = run(sys.argv[1:])
    sys.stdout.write(res.stdout)
    sys.stderr.write(res.stderr)
    print(f"treecpu: {res.cpu:.2f} CPU-s (user {res.user:.2f}, sys {res.sys:.2f}), wall {res.wall:.2f} s "
          f"(tree {res.wall_tree:.2f} s), orphans reaped {res.orphans}, subreaper {res.tree}", file=sys.stderr)
    sys.exit(res.returncode)
