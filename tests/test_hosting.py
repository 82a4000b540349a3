"""Issue 9, hosting: the mode is the operator's (never the request's), server paths stay closed in hosted mode, and
the folder source of the local desktop mode keeps to its allow-list, never opens kernel/device files or FIFOs and
stops walking at the file limit.

* Mode: AppTest with ``DUPFINDER_LOCAL`` unset and a request that claims to come from localhost (``st.context``
  patched: ``Host: localhost``, client 127.0.0.1) has no "Folder path" source, no free-text (server path)
  parameter, no cache statistics and hidden error details; with ``DUPFINDER_LOCAL=1`` (or the older
  ``DUPFINDER_ALLOW_FOLDER=1``) they exist. No module of the app reads the request to decide anything.
* Allow-list (``DUPFINDER_ALLOWED_ROOTS``) on the real path: ``..`` and symlinks cannot escape, a refused path is
  refused before it is looked at (no existence oracle); ``/proc``, ``/sys``, ``/dev`` are refused by every caller.
* Special files: a FIFO in a folder is skipped, a FIFO given as the dataset is refused, a file swapped for a FIFO
  after the walk is not blocked on — each under a time-out (a hang fails the test instead of freezing it).
* The walk stops at ``max_files`` on a big tree, reads a bounded number of directory entries, and says so.
"""
from __future__ import annotations

import os
import re
import threading
from pathlib import Path

import pytest

from core import config, folder_access
from core import datasets as D
from core.datasets import Limits
from core.datasets import folder as D_folder

from helpers import ROOT, open_app, shown
from photos import jpeg_bytes, near_copy, photo


def _shown(elements) -> list[str]:
    """The Markdown of message elements as displayed: visitor text is backslash-escaped (ui.text.md_escape)."""
    return [shown(e.value) for e in elements]


pytestmark = pytest.mark.usefixtures("hosted_mode")  # tests/conftest.py: hosted mode unless a test sets the mode


@pytest.fixture()
def request_from_localhost(monkeypatch):
    """Every request claims to be local: ``Host: localhost:8501``, client address 127.0.0.1, URL on localhost —
    what any client (or a reverse proxy on the same machine) can send."""
    from streamlit.runtime import context

    headers = {"host": "localhost:8501", "x-forwarded-for": "127.0.0.1", "x-real-ip": "127.0.0.1",
               "origin": "http://localhost:8501"}
    monkeypatch.setattr(context.ContextProxy, "headers", property(lambda self: headers))
    monkeypatch.setattr(context.ContextProxy, "ip_address", property(lambda self: "127.0.0.1"))
    monkeypatch.setattr(context.ContextProxy, "url", property(lambda self: "http://localhost:8501/"))


def _sources(at) -> list[str]:
    return list(at.sidebar.radio(key="ds_source").options)


def _folder(tmp: Path, n: int = 3) -> Path:
    tmp.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        im = photo(["coffee", "cat"][i % 2])
        (tmp / f"p{i}.jpg").write_bytes(jpeg_bytes(near_copy(im) if i >= 2 else im))
    return tmp


def _in_thread(fn, timeout: float = 60.0):
    """Run ``fn`` in a daemon thread; fail (not hang) when it does not return within ``timeout`` seconds."""
    box: dict = {}

    def run():
        try:
            box["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - handed back to the test
            box["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(timeout)
    assert not t.is_alive(), f"still blocked after {timeout:.0f} s (opened a FIFO?)"
    if "error" in box:
        raise box["error"]
    return box["value"]


# ------------------------------------------------------------------------------------------------ the mode
def test_hosted_mode_ignores_a_request_that_claims_localhost(request_from_localhost):
    import streamlit as st

    at = open_app()
    assert st.context.headers["host"] == "localhost:8501"  # the patch is live in this process
    assert _sources(at) == ["Demo data", "Upload images"]
    assert not at.sidebar.text_input  # no server path can be typed anywhere in the sidebar


def test_local_mode_is_the_operators_setting(monkeypatch):
    assert config.local_mode() is False
    assert "Folder path" not in _sources(open_app())
    monkeypatch.setenv("DUPFINDER_LOCAL", "1")
    assert config.local_mode() is True
    assert "Folder path" in _sources(open_app())
    monkeypatch.delenv("DUPFINDER_LOCAL")
    monkeypatch.setenv("DUPFINDER_ALLOW_FOLDER", "1")  # the older name is an alias
    assert config.local_mode() is True and "Folder path" in _sources(open_app())
    monkeypatch.setenv("DUPFINDER_ALLOW_FOLDER", "0")
    assert config.local_mode() is False and "Folder path" not in _sources(open_app())


def test_no_module_reads_the_request_to_decide():
    """Nothing in the app looks at headers, client address or URL (all client- or proxy-controlled)."""
    files = [ROOT / "app.py", *sorted((ROOT / "ui").glob("*.py")), *sorted((ROOT / "pages").glob("*.py")),
             *sorted((ROOT / "core").rglob("*.py"))]
    pattern = re.compile(r"st\.context|\.headers\b|ip_address|remote_ip|X-Forwarded|get_script_run_ctx")
    hits = [f"{f.relative_to(ROOT)}:{i}: {line.strip()}" for f in files
            for i, line in enumerate(f.read_text().splitlines(), 1) if pattern.search(line)]
    assert not hits, "request-derived values in the app:\n" + "\n".join(hits)


def test_weights_path_input_only_in_local_mode(monkeypatch, tmp_path):
    """The CNN's ``weights`` parameter is a server path: no input in hosted mode; in local mode it obeys the
    allow-list (a path outside is refused with a message and the bundled network is used)."""
    def weights_inputs(at):
        return [t for t in at.sidebar.text_input if t.key == "param::cnn-cosine::weights"]

    at = open_app("pages/experiments.py")  # a page that encodes nothing until asked, so choosing the CNN is cheap
    at.sidebar.selectbox(key="method").set_value("cnn-cosine").run()
    assert not at.exception and not weights_inputs(at)
    assert at.session_state["_method"][1]["weights"] is None

    monkeypatch.setenv("DUPFINDER_LOCAL", "1")
    monkeypatch.setenv("DUPFINDER_ALLOWED_ROOTS", str(tmp_path / "allowed"))
    at = open_app("pages/experiments.py")
    at.sidebar.selectbox(key="method").set_value("cnn-cosine").run()
    (box,) = weights_inputs(at)
    secret = tmp_path / "elsewhere" / "model.pth"
    secret.parent.mkdir()
    secret.write_bytes(b"not weights")
    box.set_value(str(secret)).run()
    assert not at.exception
    assert any("refused" in w and "DUPFINDER_ALLOWED_ROOTS" in w for w in _shown(at.sidebar.warning))
    assert at.session_state["_method"][1]["weights"] is None


def test_label_csv_is_never_a_typed_path(request_from_localhost):
    """Labels come from a fixed list or an uploaded CSV: hosted mode offers no way to name a server file."""
    at = open_app()
    at.sidebar.radio(key="ds_source").set_value("Upload images").run()
    files = [("a.jpg", jpeg_bytes(photo("coffee")), "image/jpeg"), ("b.jpg", jpeg_bytes(photo("cat")), "image/jpeg")]
    at.sidebar.file_uploader(key="ds_upload").set_value(files).run()
    at.sidebar.selectbox(key="ds_labels").set_value("csv").run()
    assert not at.exception
    assert list(at.sidebar.selectbox(key="ds_labels").options) == [
        "Auto (GROUND_TRUTH.csv, else folders, else none)", "CSV: file,group (GROUND_TRUTH.csv or upload)",
        "Folders: each sub-folder is a group", "consecutive:K (sorted names, every K files)", "None (unlabelled)"]
    assert not at.sidebar.text_input
    assert any("no GROUND_TRUTH.csv" in w for w in _shown(at.sidebar.warning))  # it looked in the upload only


def test_cache_statistics_only_in_local_mode(monkeypatch):
    """"N from the feature cache" (and the encoding time) would tell a visitor what others processed."""
    hosted = "\n".join(c.value for c in open_app("pages/search.py").caption)
    assert "images encoded with" in hosted
    assert "feature cache" not in hosted and not re.search(r"encoded with .* in [\d.]+ s", hosted)
    monkeypatch.setenv("DUPFINDER_LOCAL", "1")
    local = "\n".join(c.value for c in open_app("pages/search.py").caption)
    assert "from the feature cache" in local


def test_error_details_hidden_in_hosted_mode(monkeypatch, tmp_path):
    """``.streamlit/config.toml`` says "none"; started from elsewhere (config file not read), app.py still sets it;
    an operator's explicit choice is kept; run.sh asks for full details and binds to 127.0.0.1."""
    import tomllib

    from streamlit import config as stc
    from streamlit.config_option import ConfigOption

    toml = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert toml["client"]["showErrorDetails"] == "none"
    run_sh = (ROOT / "scripts" / "run.sh").read_text()
    assert "--server.address 127.0.0.1" in run_sh and "--client.showErrorDetails full" in run_sh
    assert re.search(r'^export DUPFINDER_LOCAL="\$\{DUPFINDER_LOCAL:-1\}"$', run_sh, re.M)

    before = (stc.get_option("client.showErrorDetails"), stc.get_where_defined("client.showErrorDetails"))
    try:
        stc.set_option("client.showErrorDetails", "full", ConfigOption.DEFAULT_DEFINITION)  # as if no config file
        open_app()
        assert stc.get_option("client.showErrorDetails") == "none"
        stc.set_option("client.showErrorDetails", "type", "operator's command line")
        open_app()
        assert stc.get_option("client.showErrorDetails") == "type"
    finally:
        stc.set_option("client.showErrorDetails", before[0], before[1])


# ------------------------------------------------------------------------------------------------ allow-list
def test_refusal_on_the_real_path(tmp_path):
    allowed = _folder(tmp_path / "allowed")
    outside = _folder(tmp_path / "outside")
    (allowed / "escape").symlink_to(outside, target_is_directory=True)
    roots = [allowed]
    assert folder_access.refusal(allowed, roots) is None
    assert folder_access.refusal(allowed / "sub" / "new", roots) is None
    for path in (outside, str(allowed) + "/../outside", allowed / "escape", tmp_path / "allowed2", "/", "~"):
        assert "DUPFINDER_ALLOWED_ROOTS" in folder_access.refusal(path, roots), path
    assert folder_access.refusal(outside, None) is None and folder_access.refusal(outside, []) is None
    for sys_path in ("/proc", "/proc/self", "/sys/kernel", "/dev", "/dev/null"):
        assert "system folder" in folder_access.refusal(sys_path, None), sys_path
    (allowed / "proc").symlink_to("/proc/self", target_is_directory=True)
    assert "system folder" in folder_access.refusal(allowed / "proc", roots)


def test_core_refuses_outside_the_roots_and_system_trees(tmp_path):
    allowed = _folder(tmp_path / "allowed")
    outside = _folder(tmp_path / "outside")
    (allowed / "escape").symlink_to(outside, target_is_directory=True)
    assert len(D.load(allowed, roots=[allowed]).items) == 3
    for path in (outside, allowed / "escape", allowed / ".." / "outside"):
        with pytest.raises(D.DatasetError, match="DUPFINDER_ALLOWED_ROOTS"):
            D.load(path, roots=[allowed])
        with pytest.raises(D.DatasetError, match="DUPFINDER_ALLOWED_ROOTS"):
            D.load_folder(path, roots=[allowed])
    # the CLI (no roots) reads any folder of its user...
    assert len(D.load(outside).items) == 3
    # ...but never the kernel's or the devices', whoever asks
    for sys_path in ("/proc/self", "/sys", "/dev"):
        with pytest.raises(D.DatasetError, match="system folder"):
            D.load(sys_path)
        with pytest.raises(D.DatasetError, match="system folder"):
            D.load_folder(sys_path)


def test_file_symlinks_inside_the_folder_cannot_escape(tmp_path):
    allowed = _folder(tmp_path / "allowed")
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(jpeg_bytes(photo("coffee")))
    (allowed / "secret_link.jpg").symlink_to(secret)
    (allowed / "own_link.jpg").symlink_to(allowed / "p0.jpg")
    (allowed / "environ.jpg").symlink_to("/proc/self/environ")
    (allowed / "zero.jpg").symlink_to("/dev/zero")
    (allowed / "subdir_link").symlink_to(allowed, target_is_directory=True)
    ds = _in_thread(lambda: D.load_folder(allowed, roots=[allowed]))
    reasons = {s.file: s.reason for s in ds.skipped}
    assert sorted(it.name for it in ds.items) == ["own_link.jpg", "p0.jpg", "p1.jpg", "p2.jpg"]
    assert "DUPFINDER_ALLOWED_ROOTS" in reasons["secret_link.jpg"]
    assert "system folder" in reasons["environ.jpg"] and "system folder" in reasons["zero.jpg"]
    assert reasons["subdir_link"] == "folder symlink not followed"
    assert ds.files_given == len(ds.items) + len(ds.skipped) == 8
    # without an allow-list (the CLI), a link to the user's own file is followed; system files still are not
    ds = _in_thread(lambda: D.load_folder(allowed))
    assert "secret_link.jpg" in ds.names()
    assert "system folder" in {s.file: s.reason for s in ds.skipped}["environ.jpg"]


def test_folder_source_in_the_app_keeps_to_the_allow_list(monkeypatch, tmp_path):
    allowed = _folder(tmp_path / "allowed")
    outside = _folder(tmp_path / "outside")
    monkeypatch.setenv("DUPFINDER_LOCAL", "1")
    monkeypatch.setenv("DUPFINDER_ALLOWED_ROOTS", str(allowed))
    at = open_app()
    at.sidebar.radio(key="ds_source").set_value("Folder path").run()

    def errors_for(path) -> list[str]:
        at.sidebar.text_input(key="ds_folder").set_value(str(path)).run()
        assert not at.exception
        return _shown(at.sidebar.error)

    (err,) = errors_for(outside)
    assert err.startswith("Folder refused") and "DUPFINDER_ALLOWED_ROOTS" in err
    # a missing path outside gets the same answer as an existing one: no existence oracle
    assert errors_for(tmp_path / "no-such-folder") == [err]
    assert errors_for(f"{allowed}/../outside") == [err]
    assert errors_for("/proc/self")[0].startswith("Folder refused")
    assert errors_for(allowed) == []
    assert len(at.session_state["_dataset"].items) == 3


# ------------------------------------------------------------------------------------------------ special files
def test_fifo_in_a_folder_is_skipped_without_hanging(tmp_path):
    folder = _folder(tmp_path / "f")
    os.mkfifo(folder / "pipe.jpg")
    os.mkfifo(folder / "pipe.csv")  # CSVs are read for labels: must not be opened either
    for _ in range(2):  # the second load goes through the stat memo written by the first
        ds = _in_thread(lambda: D.load_folder(folder))
        reasons = {s.file: s.reason for s in ds.skipped}
        assert "not a regular file" in reasons["pipe.jpg"] and "not a regular file" in reasons["pipe.csv"]
        assert len(ds.items) == 3 and ds.files_given == 5


def test_fifo_or_device_as_the_dataset_is_refused_without_hanging(tmp_path):
    fifo = tmp_path / "data.zip"
    os.mkfifo(fifo)
    with pytest.raises(D.DatasetError, match="not a folder or a zip"):
        _in_thread(lambda: D.load(fifo))


def test_file_swapped_for_a_fifo_after_the_walk_is_not_blocked_on(tmp_path):
    fifo = tmp_path / "late.jpg"
    os.mkfifo(fifo)
    with pytest.raises(OSError, match="not a regular file"):
        _in_thread(lambda: D_folder.read_file(str(fifo), 1000))


# ------------------------------------------------------------------------------------------------ the walk
def test_walk_stops_at_the_file_limit(tmp_path, monkeypatch):
    """20 folders x 60 files, limit 50: one folder is read, the walk stops, and the dataset says so."""
    for d in range(20):
        sub = tmp_path / "tree" / f"d{d:02d}"
        sub.mkdir(parents=True)
        for i in range(60):
            (sub / f"{i:03d}.jpg").write_bytes(b"x")  # not images: skipped quickly, still counted
    opened: list[str] = []
    real_scandir = os.scandir
    monkeypatch.setattr(folder_access.os, "scandir", lambda p: opened.append(p) or real_scandir(p))
    ds = D.load_folder(tmp_path / "tree", limits=Limits(max_files=50))
    assert ds.files_given == 50 == len(ds.items) + len(ds.skipped)
    assert {s.file.split("/")[0] for s in ds.skipped} == {"d00"}  # name order: the first folder's first files
    assert ds.incomplete and "more than 50 files" in ds.incomplete
    assert len(opened) == 2  # the root and d00: the other 19 folders were never listed


def test_walk_reads_a_bounded_number_of_entries_in_a_huge_folder(tmp_path, monkeypatch):
    flat = tmp_path / "flat"
    flat.mkdir()
    for i in range(3000):
        (flat / f"{i:05d}.bin").write_bytes(b"")
    read = {"n": 0}
    real_scandir = os.scandir

    class Counting:
        def __init__(self, p):
            self.it = real_scandir(p)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.it.close()

        def __iter__(self):
            for e in self.it:
                read["n"] += 1
                yield e

    monkeypatch.setattr(folder_access.os, "scandir", Counting)
    walk = folder_access.walk_files(str(flat), max_files=10)
    assert walk.stopped and len(walk.files) == 10
    assert read["n"] <= 4 * 10 + 1000 + 1  # not 3000
    # a tree of empty folders is bounded the same way
    empty = tmp_path / "empty"
    for i in range(300):
        (empty / f"e{i:03d}").mkdir(parents=True)
    walk = folder_access.walk_files(str(empty), max_files=10, max_entries=50)
    assert walk.stopped and walk.files == []


def test_walk_of_a_small_tree_is_complete_and_in_name_order(tmp_path):
    for rel in ("b/2.jpg", "b/10.jpg", "a.jpg", "c/x/y.jpg", "0.jpg"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    walk = folder_access.walk_files(str(tmp_path), max_files=5)
    assert not walk.stopped and not walk.errors
    assert [r for r, _ in walk.files] == ["0.jpg", "a.jpg", "b/10.jpg", "b/2.jpg", "c/x/y.jpg"]


def test_cli_reads_any_folder_and_warns_when_stopped(tmp_path, monkeypatch, capsys):
    """The CLI is a local tool: no allow-list (even if set for the app), and the stop is reported on stderr."""
    from core.__main__ import main

    folder = _folder(tmp_path / "mine", n=3)
    monkeypatch.setenv("DUPFINDER_ALLOWED_ROOTS", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("DUPFINDER_MAX_FILES", "2")
    assert main(["duplicates", str(folder), "--method", "ahash"]) == 0
    err = capsys.readouterr().err
    assert "more than 2 files" in err and "not listed" in err


# ------------------------------------------------------------------------------------------------ the README
def test_readme_hosting_section_lists_every_setting():
    """Every DUPFINDER_* variable that core/config.py or the loading limits (core/datasets/) read is in "Hosting publicly"."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Hosting publicly"):]
    section = section[:section.index("\n## ", 5)]
    names = set()
    for src in [ROOT / "core" / "config.py", *sorted((ROOT / "core" / "datasets").glob("*.py"))]:
        names |= set(re.findall(r'"(DUPFINDER_[A-Z0-9_]+)"', src.read_text()))
    missing = sorted(n for n in names if n not in section)
    assert not missing, f"README 'Hosting publicly' does not mention {missing}"
    for threat in ("Server files", "Memory", "Disk", "CPU", "Zip bombs", "Decompression bombs", "Injection via names",
                   "CSV formula injection", "Error details", "Cache-membership leak"):
        assert f"**{threat}**" in section, threat


def test_file_swapped_for_a_symlink_after_the_walk_is_not_followed(tmp_path):
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(b"secret")
    (tmp_path / "planted.jpg").symlink_to(secret)
    with pytest.raises(OSError):
        D_folder.read_file(str(tmp_path / "planted.jpg"), 1000)
    assert D_folder.read_file(str(secret), 1000) == b"secret"


def test_app_says_when_the_folder_walk_stopped(monkeypatch, tmp_path):
    folder = _folder(tmp_path / "big", n=4)
    monkeypatch.setenv("DUPFINDER_LOCAL", "1")
    monkeypatch.setenv("DUPFINDER_MAX_FILES", "3")
    at = open_app()
    at.sidebar.radio(key="ds_source").set_value("Folder path").run()
    at.sidebar.text_input(key="ds_folder").set_value(str(folder)).run()
    at.switch_page("pages/search.py").run()
    assert not at.exception
    text = "\n".join(m.value for m in at.markdown) + "\n".join(c.value for c in at.caption)
    assert "**3** images used + **0** skipped = **3** files given" in text
    assert any("Not all files were read" in w.value and "more than 3 files" in w.value for w in at.warning)
