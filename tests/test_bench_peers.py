"""bench/run.py survives peers that cannot be installed: it reports them and completes (issue 15, item 5).

Building the real peer environments takes minutes and ~2 GB (torch), so these tests make the install fail on
purpose: once for real (pip given a requirement file it cannot satisfy offline) and once by failing the install
step inside a whole ``bench/run.py --quick`` run on a tiny workload.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench_run():
    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "bench" / "run.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # puts bench/ on sys.path, so `import peers` finds bench/peers.py
    return mod


@pytest.fixture
def peers(bench_run):
    import peers as mod
    return mod


def test_every_peer_has_a_complete_pinned_list(peers):
    for name in peers.PEERS:
        lines = [ln.strip() for ln in (peers.REQUIREMENTS / f"{name}.txt").read_text().splitlines()]
        reqs = [ln for ln in lines if ln and not ln.startswith("#")]
        assert reqs and all("==" in r for r in reqs), f"{name}: every requirement pinned"
        assert any(r.lower().startswith(name + "==") for r in reqs)
    idd = (peers.REQUIREMENTS / "imagededup.txt").read_text().lower()
    assert "pywavelets==" in idd and "torch==" in idd  # what the old --system-site-packages venv lacked
    assert "numpy==1." in (peers.REQUIREMENTS / "fastdup.txt").read_text()  # why fastdup needs its own
    app = (ROOT / "requirements.txt").read_text().lower()
    assert "imagededup" not in app and "fastdup" not in app


def test_a_failed_install_is_reported_not_raised(peers, tmp_path, monkeypatch):
    """A real pip failure (a requirement that cannot be satisfied offline) comes back as Unavailable."""
    req = tmp_path / "req"
    req.mkdir()
    (req / "fastdup.txt").write_text(f"{tmp_path / 'missing' / 'fastdup-0.0.0-py3-none-any.whl'}\n")
    monkeypatch.setattr(peers, "REQUIREMENTS", req)
    got = peers.ensure_env("fastdup", tmp_path / "envs")
    assert isinstance(got, peers.Unavailable) and "could not be installed" in got.reason
    assert not list((tmp_path / "envs").glob("*/.complete"))


def test_quick_run_completes_and_reports_unavailable_peers(bench_run, peers, tmp_path, monkeypatch, capsys):
    real_run = peers._run

    def failing_pip(cmd, timeout):
        if "pip" in [str(c) for c in cmd]:
            raise RuntimeError("simulated: no route to the package index")
        return real_run(cmd, timeout)

    monkeypatch.setattr(peers, "_run", failing_pip)
    monkeypatch.setattr(bench_run, "n_groups_for", lambda quick: (1, 1))  # 5 files: the run itself is the test
    out = tmp_path / "RESULTS-quick.md"
    rc = bench_run.main(["--quick", "--work", str(tmp_path / "work"), "--peers-dir", str(tmp_path / "peers"),
                         "--out", str(out), "--skip", "encoding,cnn,ssim,compare,cache,dashboard"])
    assert rc == 0
    text = out.read_text()
    assert "**imagededup: not run**" in text and "**fastdup: not run**" in text
    assert "simulated: no route to the package index" in text
    assert "imagededup PHash not run" in text and "fastdup not run" in text  # the summary says so too
    assert not (tmp_path / "RESULTS-quick.md.partial").exists()
    sys.modules.pop("peers", None)


def test_peer_output_is_parsed_or_reported(bench_run, peers, tmp_path):
    """A runner's chatter before its RESULT line is ignored; broken output or a crash is a reason, not an error."""
    env = peers.Env("fake", Path(sys.executable), created=False)
    ok = tmp_path / "ok.py"
    ok.write_text('print("progress {0%} {"); print("RESULT " + \'{"duplicates": {"a.jpg": ["b.jpg"]}}\')\n')
    _, out, err = bench_run._peer_run(env, [ok], "RESULT ")
    assert err is None and out == {"duplicates": {"a.jpg": ["b.jpg"]}}
    bad = tmp_path / "bad.py"
    bad.write_text('print("RESULT {not json")\n')
    _, out, err = bench_run._peer_run(env, [bad], "RESULT ")
    assert out is None and "unreadable output" in err
    crash = tmp_path / "crash.py"
    crash.write_text('import sys; sys.exit("ModuleNotFoundError: No module named pywt")\n')
    _, out, err = bench_run._peer_run(env, [crash], "RESULT ")
    assert out is None and "pywt" in err and "exited 1" in err
