"""bench/treecpu.py counts the CPU of a whole process tree, including pool workers nobody waited for (issue 15).

``getrusage(RUSAGE_CHILDREN)`` misses a worker whose parent exits without reaping it; that is how the first CNN
end-to-end figures lost our decode workers' CPU. Each case burns a known amount of CPU time (``process_time``, so
the figure does not depend on the machine's load) in worker processes and checks the tree's total holds it.
"""
from __future__ import annotations

import importlib.util
import resource
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BURN = 0.4  # CPU seconds per worker

_SCRIPT = textwrap.dedent(f"""
    import multiprocessing, os, sys, time

    def burn(s):
        t = time.process_time()
        while time.process_time() - t < s:
            pass
        return os.getpid()

    if __name__ == "__main__":
        mode = sys.argv[1]
        ctx = multiprocessing.get_context("spawn")
        if mode == "pool":  # a multiprocessing pool, closed normally: its workers are waited for
            with ctx.Pool(2) as p:
                pids = p.map(burn, [{BURN}, {BURN}], chunksize=1)
        else:  # orphaned: the workers outlive their parent, which exits without waiting for them
            procs = [ctx.Process(target=burn, args=({BURN},)) for _ in range(2)]
            for q in procs:
                q.start()
            pids = [q.pid for q in procs]
        print("done", flush=True)
        if mode == "orphan":
            os._exit(0)
""")


@pytest.fixture(scope="module")
def treecpu():
    if not sys.platform.startswith("linux"):
        pytest.skip("process-tree accounting uses prctl(PR_SET_CHILD_SUBREAPER), Linux only")
    spec = importlib.util.spec_from_file_location("treecpu", ROOT / "bench" / "treecpu.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("treecpu", mod)  # dataclasses look their module up while the class is built
    spec.loader.exec_module(mod)
    return sys.modules["treecpu"]


@pytest.fixture(scope="module")
def script(tmp_path_factory):
    p = tmp_path_factory.mktemp("treecpu") / "burn.py"
    p.write_text(_SCRIPT)
    return p


@pytest.mark.parametrize("mode", ["pool", "orphan"])
def test_pool_workers_cpu_is_counted(treecpu, script, mode):
    r = treecpu.run([sys.executable, str(script), mode], timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "done"
    assert r.tree
    assert r.cpu >= 2 * BURN * 0.95, r  # both workers' burn (plus start-ups)
    assert r.wall_tree >= r.wall > 0


def test_plain_rusage_misses_orphaned_workers(script):
    """The gap the helper closes: without it the orphaned workers' CPU is lost."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    p = subprocess.run([sys.executable, str(script), "orphan"], capture_output=True, text=True, timeout=300)
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert p.returncode == 0, p.stderr
    plain = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    assert plain < 2 * BURN * 0.95


def test_failing_command_reports_its_status(treecpu):
    r = treecpu.run([sys.executable, "-c", "import sys; print('x'); sys.exit(3)"])
    assert r.returncode == 3 and r.stdout.strip() == "x"
