"""raftredis.native: the compiled build is used exactly when it is there and current,
and the pure-Python source runs otherwise."""

from __future__ import annotations

import importlib
import importlib.machinery
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import raftredis
from raftredis import native

PACKAGE_DIR = os.path.dirname(raftredis.__file__)
REPO = os.path.dirname(PACKAGE_DIR)
SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]


def built_here() -> bool:
    return os.path.exists(os.path.join(PACKAGE_DIR, native.MANIFEST))


@pytest.mark.skipif(not built_here() or native.why_not_compiled(PACKAGE_DIR) is not None,
                    reason="pure-Python build (not compiled, or RAFTREDIS_PURE set)")
def test_compiled_build_is_in_use_when_built() -> None:
    for name in native.COMPILED:
        loader = importlib.import_module(name).__loader__
        assert isinstance(loader, importlib.machinery.ExtensionFileLoader), name
    assert native.compiled(), native.describe()


def fake_build(root: Path) -> Path:
    """A package directory holding a 'compiled build' of the listed modules: each
    source, an empty file per extension, and the manifest of their digests."""
    pkg = root / "raftredis"
    sources = {}
    for name in native.COMPILED:
        src = Path(native.source_path(name, str(pkg)))
        src.parent.mkdir(parents=True, exist_ok=True)
        src.write_text(f"# {name}\n")
        Path(str(src)[:-3] + SUFFIX).write_bytes(b"")
        sources[name] = native.source_digest(str(src))
    (pkg / (native.GROUP.rpartition(".")[2] + "__mypyc" + SUFFIX)).write_bytes(b"")
    (pkg / native.MANIFEST).write_text(json.dumps({"sources": sources}))
    return pkg


def test_a_current_build_is_chosen(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAFTREDIS_PURE", raising=False)
    pkg = fake_build(tmp_path)
    assert native.why_not_compiled(str(pkg)) is None
    monkeypatch.setenv("RAFTREDIS_PURE", "1")
    assert native.why_not_compiled(str(pkg)) == "RAFTREDIS_PURE is set"


def test_an_edited_source_falls_back_to_pure(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAFTREDIS_PURE", raising=False)
    pkg = fake_build(tmp_path)
    edited = native.COMPILED[-1]
    with open(native.source_path(edited, str(pkg)), "a") as f:
        f.write("x = 1\n")
    assert native.why_not_compiled(str(pkg)) == f"source changed since the build: {edited}"


def test_a_missing_extension_or_manifest_falls_back_to_pure(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAFTREDIS_PURE", raising=False)
    pkg = fake_build(tmp_path)
    gone = native.COMPILED[0]
    os.remove(native.source_path(gone, str(pkg))[:-3] + SUFFIX)
    assert native.why_not_compiled(str(pkg)) == f"compiled module missing: {gone}"
    (pkg / native.MANIFEST).write_text("{not json")
    assert "unreadable" in (native.why_not_compiled(str(pkg)) or "")
    os.remove(pkg / native.MANIFEST)
    assert native.why_not_compiled(str(pkg)) == "not compiled at install"


def test_pure_at_run_time_loads_the_source() -> None:
    # A process of its own: the choice is made once, at the package's import.
    code = ("import importlib; from raftredis import native; "
            "files = [importlib.import_module(m).__file__ for m in native.COMPILED]; "
            "print(native.compiled(), native.describe()); "
            "print(all(f.endswith('.py') for f in files))")
    env = dict(os.environ, RAFTREDIS_PURE="1",
               PYTHONPATH=os.pathsep.join(filter(None, [REPO, os.environ.get("PYTHONPATH")])))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=120, check=True).stdout.splitlines()
    assert out == ["False pure Python (RAFTREDIS_PURE is set)", "True"]


def test_a_module_taken_out_of_the_build_has_its_extension_found_stale(tmp_path: Path) -> None:
    """An in-place build leaves extensions beside their sources; one of a module no
    longer in COMPILED would be imported instead of its .py. setup.py removes what
    stale_extensions finds before building."""
    pkg = fake_build(tmp_path)
    assert native.stale_extensions(str(pkg)) == []
    gone = pkg / "server" / ("protocol" + SUFFIX)
    gone.parent.mkdir(parents=True, exist_ok=True)
    gone.write_bytes(b"")
    (pkg / "server" / "protocol.py").write_text("# pure now\n")
    assert native.stale_extensions(str(pkg)) == [str(gone)]


def test_the_installed_package_holds_no_stale_extension() -> None:
    assert native.stale_extensions(PACKAGE_DIR) == []
