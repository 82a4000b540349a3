"""Every ``DUPFINDER_*`` setting, the budgets and the cache root, in one place.

Settings are read from the environment *when asked for* (functions, not module constants), so tests and the CLI can
change them per process. Sizes accept K/M/G/T suffixes (``2G``, ``500M``). A bad value raises ``ValueError`` naming
the variable.

Two modes, chosen by the operator, never by a request:

* **hosted** (the default of a plain ``streamlit run app.py``): no server-path inputs at all (no folder source, no
  weights path, no label-CSV path), error details hidden, no hint about what other visitors processed;
* **local desktop** (``DUPFINDER_LOCAL=1``, set by ``scripts/run.sh``, which also binds to 127.0.0.1): the folder
  source and server-path inputs are on, optionally restricted to ``DUPFINDER_ALLOWED_ROOTS``.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_TRUE = ("1", "true", "yes", "on")


def parse_size(text: str) -> float:
    """``"2G"`` -> 2147483648.0; plain numbers pass through. Raises ValueError."""
    m = re.fullmatch(r"\s*([0-9][0-9_]*(?:\.[0-9]+)?)\s*([kmgt]?)(?:i?b)?\s*", str(text).lower())
    if not m:
        raise ValueError(text)
    return float(m.group(1).replace("_", "")) * _UNITS[m.group(2)]


def env_number(name: str, default, kind=int, *, allow_zero: bool = False):
    """A positive number from ``$name`` (size suffixes allowed), else ``default``."""
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        v = kind(parse_size(raw))
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number (sizes may end in K, M, G or T)") from None
    if v < 0 or (v == 0 and not allow_zero):
        raise ValueError(f"{name}={raw!r} must be positive")
    return v


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in _TRUE


# ------------------------------------------------------------------------------------------------ mode
LOCAL_ENV = "DUPFINDER_LOCAL"
ALLOWED_ROOTS_ENV = "DUPFINDER_ALLOWED_ROOTS"


def local_mode() -> bool:
    """True only when the operator started the app as a local desktop tool (``DUPFINDER_LOCAL=1``).

    Never derived from a request (Host header, client IP): those are set by the client or by a reverse proxy.
    ``DUPFINDER_ALLOW_FOLDER=1`` is the older name of the same switch.
    """
    return env_flag(LOCAL_ENV) or env_flag("DUPFINDER_ALLOW_FOLDER")


def allowed_roots() -> list[Path]:
    """Real paths under which the folder source may read (``os.pathsep``-separated); empty = anywhere."""
    raw = os.environ.get(ALLOWED_ROOTS_ENV, "")
    return [Path(os.path.realpath(os.path.expanduser(p))) for p in raw.split(os.pathsep) if p.strip()]


# ------------------------------------------------------------------------------------------------ paths
def cache_root() -> Path:
    """``$DUPFINDER_CACHE_DIR``, else ``$XDG_CACHE_HOME/dupfinder``, else ``~/.cache/dupfinder``."""
    env = os.environ.get("DUPFINDER_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "dupfinder"


def cache_disabled() -> bool:
    """``DUPFINDER_NO_CACHE=1`` turns the on-disk feature cache off."""
    return os.environ.get("DUPFINDER_NO_CACHE", "").strip().lower() not in ("", "0", "false", "no")


def weights_path() -> str | None:
    """``$DUPFINDER_EFFICIENTNET_WEIGHTS``: an operator-chosen EfficientNet-B0 ``.pth`` (None = bundled Lite0)."""
    return os.environ.get("DUPFINDER_EFFICIENTNET_WEIGHTS") or None


def workers_setting() -> int | None:
    """``$DUPFINDER_WORKERS`` (0/1 = sequential), or None when unset (use the CPU count)."""
    raw = os.environ.get("DUPFINDER_WORKERS", "").strip()
    if not raw:
        return None
    try:
        return max(0, int(raw))
    except ValueError:
        raise ValueError(f"DUPFINDER_WORKERS={raw!r} is not an integer") from None


def background_warmup() -> bool:
    """``$DUPFINDER_WARMUP`` (default on): ``scripts/serve.py`` loads the CNN (exporting it to ONNX if needed) before
    the server answers, and the app in a background thread after its first page. ``0`` turns both off (the test
    suite does: most tests never run the CNN)."""
    return os.environ.get("DUPFINDER_WARMUP", "1").strip().lower() not in ("0", "false", "no", "off")


def ort_spinning() -> bool:
    """``$DUPFINDER_ORT_SPINNING`` (default off): ``1`` lets ONNX Runtime's worker threads busy-wait between parallel
    sections. Off by default: in a pipelined CNN run the decode workers share the cores with the network, and
    busy-waiting cost 29 % more CPU per image there for no wall-time gain (bench/RESULTS.md, issue 15)."""
    return os.environ.get("DUPFINDER_ORT_SPINNING", "0").strip().lower() not in ("0", "false", "no", "off", "")


# ------------------------------------------------------------------------------------------------ search at scale
@dataclass(frozen=True)
class ScaleSettings:
    """When all-pairs search leaves exact brute force (see :mod:`core.scale` and ``docs/SCALING.md``)."""

    #: rows of float (CNN) features from which duplicates go through the IVF index (the measured crossover: below
    #: ~25k rows exact block products cost less CPU than building the index; bench/RESULTS.md "Search at scale")
    ann_min: int
    #: recall@10 against exact search the IVF index must reach (nprobe is raised until it does)
    ann_recall: float
    #: packed hashes from which all-pairs search uses exact multi-index hashing instead of brute force
    mih_min: int


def scale_settings() -> ScaleSettings:
    recall = env_number("DUPFINDER_ANN_RECALL", 0.99, float)
    if not 0 < recall <= 1:
        raise ValueError(f"DUPFINDER_ANN_RECALL={recall!r} must be in (0, 1]")
    return ScaleSettings(ann_min=env_number("DUPFINDER_ANN_MIN", 25_000),
                         ann_recall=recall,
                         mih_min=env_number("DUPFINDER_MIH_MIN", 50_000))


# ------------------------------------------------------------------------------------------------ budgets
@dataclass(frozen=True)
class Budgets:
    """What one visitor (or one CLI run) can make the process spend. Read with :func:`budgets`."""

    #: bytes of feature matrices the app keeps in memory, all sessions together (LRU by bytes)
    ui_feature_bytes: int
    #: bytes of derived results (pairs, sweeps, labelled views) the app keeps in memory (LRU by bytes)
    ui_result_bytes: int
    #: backstops on the number of entries of those two caches
    ui_feature_entries: int
    ui_result_entries: int
    #: size cap of the on-disk feature cache; least recently used rows are evicted past it
    disk_cache_bytes: int
    #: duplicate pairs kept for one (dataset, method, threshold); past it the result is cut with a message
    max_pairs: int
    #: pixels of decoded images in flight: full-resolution decodes at once per process (an image larger than this
    #: decodes alone), and shrunk images held by the decode batches of a run (batches are budgeted in pixels)
    decode_batch_pixels: int
    #: bytes of one block of an N x N comparison (each block is reduced before the next)
    block_bytes: int
    #: bytes of uploads one session may keep server-side
    session_upload_bytes: int
    #: bytes of one label CSV
    max_csv_bytes: int


def budgets() -> Budgets:
    return Budgets(
        ui_feature_bytes=env_number("DUPFINDER_UI_FEATURE_BYTES", 1 << 30),
        ui_result_bytes=env_number("DUPFINDER_UI_RESULT_BYTES", 512 << 20),
        ui_feature_entries=env_number("DUPFINDER_UI_FEATURE_ENTRIES", 48),
        ui_result_entries=env_number("DUPFINDER_UI_RESULT_ENTRIES", 256),
        disk_cache_bytes=env_number("DUPFINDER_DISK_CACHE_BYTES", 2 << 30),
        max_pairs=env_number("DUPFINDER_MAX_PAIRS", 200_000),
        decode_batch_pixels=env_number("DUPFINDER_DECODE_BATCH_PIXELS", 64 << 20),
        block_bytes=env_number("DUPFINDER_BLOCK_BYTES", 32 << 20),
        session_upload_bytes=env_number("DUPFINDER_SESSION_UPLOAD_BYTES", 1 << 30),
        max_csv_bytes=env_number("DUPFINDER_MAX_CSV_BYTES", 20 << 20),
    )


__all__ = ["Budgets", "ScaleSettings", "allowed_roots", "background_warmup", "budgets", "cache_disabled", "cache_root",
           "env_flag", "env_number", "local_mode", "ort_spinning", "parse_size", "scale_settings", "weights_path",
           "workers_setting"]


# ------------------------------------------------------------------------------------------------ verification
def verify_cache_bytes() -> int:
    """``$DUPFINDER_VERIFY_CACHE_BYTES``: local features (SIFT) kept in memory per run (LRU; default 256M, about
    2,000 images at 1,000 keypoints)."""
    return env_number("DUPFINDER_VERIFY_CACHE_BYTES", 256 << 20)


def verify_max_pool() -> int:
    """``$DUPFINDER_VERIFY_MAX_POOL``: most candidates one verified search checks with local features (default 100)."""
    return env_number("DUPFINDER_VERIFY_MAX_POOL", 100)


def verify_neighbours() -> int:
    """``$DUPFINDER_VERIFY_NEIGHBOURS``: first-stage candidates checked per image by ``--verify`` (default 10):
    bounds the local-feature checks of a duplicates run to about 10 per image."""
    return env_number("DUPFINDER_VERIFY_NEIGHBOURS", 10)


__all__ += ["verify_cache_bytes", "verify_max_pool", "verify_neighbours"]
