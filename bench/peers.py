"""The benchmark's peers (imagededup, fastdup), each in a virtual environment of its own that the benchmark makes.

Each environment is a plain ``python -m venv`` (no ``--system-site-packages``: nothing leaks in from the base
interpreter or the app's environment) filled with ``pip install --no-deps -r bench/requirements/<peer>.txt``, a
complete pinned list, so the environment holds exactly what the list says on any machine. It lives under
``bench/work/peers/<peer>-<digest of the list>/`` (git-ignored) and is reused while the list is unchanged; a
``.complete`` marker is written only after the peer imported successfully, so an interrupted install is redone.

A peer that cannot be installed or started is never fatal: :func:`ensure_env` returns a :class:`Unavailable` with
the reason, and the benchmark reports it in ``RESULTS.md``. The peers are never in the app's requirements.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REQUIREMENTS = BENCH / "requirements"
DEFAULT_ROOT = BENCH / "work" / "peers"
INSTALL_TIMEOUT_S = 1800  # the imagededup list holds torch (~180 MB wheel, ~1.2 GB installed)


@dataclass(frozen=True)
class Peer:
    name: str
    import_check: str  # Python that must run without error in the finished environment


PEERS = {
    "imagededup": Peer("imagededup", "import imagededup, pywt, scipy, sklearn, torch"),
    "fastdup": Peer("fastdup", "import fastdup"),
}


@dataclass(frozen=True)
class Env:
    """A ready environment: ``python`` runs the peer."""

    name: str
    python: Path
    created: bool  # True if this call built it


@dataclass(frozen=True)
class Unavailable:
    """A peer that could not be made ready, and why (shown in RESULTS.md)."""

    name: str
    reason: str


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:10]


def _tail(text: str, n: int = 600) -> str:
    text = " ".join((text or "").split())
    return text[-n:]


def _run(cmd: list, timeout: float) -> None:
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"`{' '.join(str(c) for c in cmd[:5])} ...` exited {p.returncode}: "
                           f"{_tail(p.stderr or p.stdout)}")


def ensure_env(name: str, root: Path | None = None, base_python: str | None = None) -> Env | Unavailable:
    """Make (or reuse) the peer's own environment; never raises for an install failure.

    Parameters
    ----------
    name : str
        A key of :data:`PEERS`.
    root : Path, optional
        Folder of the environments (default ``bench/work/peers``).
    base_python : str, optional
        Interpreter that creates the venv (default: this one; ``venv`` bases the new environment on its base
        interpreter, without this environment's packages).
    """
    peer = PEERS[name]
    req = REQUIREMENTS / f"{name}.txt"
    root = Path(root or DEFAULT_ROOT)
    env_dir = root / f"{name}-{_digest(req)}"
    py = env_dir / "bin" / "python"
    marker = env_dir / ".complete"
    if marker.is_file() and py.is_file():
        return Env(name, py, created=False)
    try:
        if env_dir.exists():  # a half-made environment from an interrupted run
            shutil.rmtree(env_dir)
        root.mkdir(parents=True, exist_ok=True)
        _run([base_python or sys.executable, "-m", "venv", env_dir], timeout=300)
        _run([py, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps", "-r", req],
             timeout=INSTALL_TIMEOUT_S)
        _run([py, "-c", peer.import_check], timeout=300)
    except (OSError, RuntimeError, subprocess.TimeoutExpired) as e:
        return Unavailable(name, f"could not be installed: {_tail(str(e), 400)}")
    marker.write_text(req.read_text())
    return Env(name, py, created=True)


def peer_env_vars() -> dict:
    """Environment for running a peer: no telemetry, no network look-ups, 2 threads like ours."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update({"SENTRY_OPT_OUT": "1", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "2"})
    return env


# ---------------------------------------------------------------------------------------------------------------
# runners (written to a temporary file and run by the peer's own interpreter)
# ---------------------------------------------------------------------------------------------------------------
IMAGEDEDUP_RUNNER = r"""
import json, sys, types

def stub_torchvision():
    # imagededup's package __init__ imports its CNN module, which imports torchvision at import time; the hash
    # methods never touch it. Stub the names it imports, only when the real torchvision is missing.
    class _Any:
        def __init__(self, *a, **k): pass
        def __call__(self, *a, **k): return _Any()
        def __getattr__(self, name):
            if name.startswith("__"): raise AttributeError(name)
            return _Any()
    def _mod(name):
        m = types.ModuleType(name)
        def ga(attr):
            if attr.startswith("__"): raise AttributeError(attr)
            return _Any()
        m.__getattr__ = ga
        m.__path__ = []
        sys.modules[name] = m
    for n in ("torchvision", "torchvision.models", "torchvision.models.vision_transformer",
              "torchvision.transforms", "torchvision.transforms.transforms"):
        _mod(n)

if __name__ == "__main__":
    mode, folder, workers = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if mode == "cnn":
        try:
            import torchvision  # noqa: F401
        except Exception as e:
            print("RESULT " + json.dumps({"unavailable": "torchvision does not import (%s: %s)"
                                                     % (type(e).__name__, e)}))
            sys.exit(0)
        try:
            from imagededup.methods import CNN
            cnn = CNN(verbose=False)  # loads MobileNetV3 weights: torchvision downloads them on first use
        except Exception as e:
            print("RESULT " + json.dumps({"unavailable": "its model could not be loaded (%s: %s)"
                                                     % (type(e).__name__, str(e)[:300])}))
            sys.exit(0)
        dups = cnn.find_duplicates(image_dir=folder, min_similarity_threshold=0.9, num_enc_workers=workers)
    else:
        try:
            import torchvision  # noqa: F401
        except Exception:
            stub_torchvision()
        from imagededup.methods import PHash
        dups = PHash(verbose=False).find_duplicates(image_dir=folder, max_distance_threshold=10,
                                                    num_enc_workers=workers)
    print("RESULT " + json.dumps({"duplicates": dups}))
"""

FASTDUP_RUNNER = r"""
import json, os, sys
import fastdup

folder, work, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
fd = fastdup.create(work_dir=work, input_dir=folder)
fd.run(num_threads=threads, overwrite=True, print_summary=False)  # its bundled ONNX model, its default threshold
sim = fd.similarity()
pairs = sorted({tuple(sorted((os.path.basename(a), os.path.basename(b))))
                for a, b in zip(sim["filename_from"], sim["filename_to"])})
print("RESULT " + json.dumps({"pairs": pairs}))
"""


def write_runner(folder: Path, name: str, text: str) -> Path:
    path = Path(folder) / name
    path.write_text(text)
    return path
