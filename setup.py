"""Build step that compiles the hot modules with mypyc, and falls back to pure Python.

Everything else about the package is in pyproject.toml. The modules listed in
raftredis/native.py (COMPILED) are compiled from their unchanged .py files when a C
compiler, Python's headers and mypy (a build requirement) are there. Without them, or
with RAFTREDIS_PURE=1, or if compiling fails, the package installs as pure Python and
runs the same source. RAFTREDIS_REQUIRE_COMPILED=1 turns a fallback into an error
(for CI, where a compiler is known to be present).
"""

from __future__ import annotations

import json
import os
import runpy
import shutil
import sys
import sysconfig

from setuptools import setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))
NATIVE = runpy.run_path(os.path.join(HERE, "raftredis", "native.py"))


def _say(message: str) -> None:
    print(f"raftredis build: {message}", file=sys.stderr)


def _fall_back(reason: str) -> list:
    if os.environ.get("RAFTREDIS_REQUIRE_COMPILED", "") not in ("", "0"):
        raise SystemExit(f"raftredis build: cannot compile ({reason}) and "
                         "RAFTREDIS_REQUIRE_COMPILED is set")
    _say(f"installing pure Python: {reason}")
    return []


def _compiler_missing() -> str | None:
    cc = (os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(cc) is None:
        return f"no C compiler ({cc})"
    include = sysconfig.get_paths().get("include", "")
    if not os.path.exists(os.path.join(include, "Python.h")):
        return f"no Python headers (Python.h in {include}; Debian: python3-dev)"
    return None


# Commands that build the package (the backend also runs setup.py for its metadata,
# where type-checking and generating C would only cost time).
_BUILDS = {"build", "build_ext", "bdist_wheel", "editable_wheel", "install", "develop"}


def ext_modules() -> list:
    if not _BUILDS.intersection(sys.argv[1:]):
        return []
    if os.environ.get("RAFTREDIS_PURE", "") not in ("", "0"):
        return _fall_back("RAFTREDIS_PURE is set")
    missing = _compiler_missing()
    if missing is not None:
        return _fall_back(missing)
    try:
        from mypyc.build import mypycify
    except ImportError:
        return _fall_back("mypy (mypyc) is not installed")
    sources = [os.path.relpath(NATIVE["source_path"](m, os.path.join(HERE, "raftredis")), HERE)
               for m in NATIVE["COMPILED"]]
    try:
        extensions = mypycify(
            ["--config-file", os.path.join(HERE, "pyproject.toml"), *sources],
            group_name=NATIVE["GROUP"], opt_level="3")
    except (SystemExit, Exception) as exc:  # mypy's type errors arrive as SystemExit
        return _fall_back(f"mypyc failed: {exc}")
    for ext in extensions:
        ext.optional = True  # a compile error skips it; the manifest then is not written
    return extensions


def _remove_stale_extensions(package: str) -> None:
    for path in NATIVE["stale_extensions"](package):
        os.remove(path)
        _say(f"removed a stale compiled module: {os.path.basename(path)}")


class BuildWithManifest(build_ext):
    """build_ext that writes raftredis/compiled.json once every extension is built:
    the digests of the sources compiled, which raftredis.native checks at import."""

    def run(self) -> None:
        package = os.path.join(HERE, "raftredis")
        inplace = self.inplace or getattr(self, "editable_mode", False)
        if inplace and os.path.exists(os.path.join(package, NATIVE["MANIFEST"])):
            os.remove(os.path.join(package, NATIVE["MANIFEST"]))  # until this build succeeds
        if inplace:
            _remove_stale_extensions(package)
        super().run()
        if not self.extensions:
            return
        built = [os.path.exists(self.get_ext_fullpath(ext.name))
                 or os.path.exists(os.path.join(HERE, self.get_ext_filename(ext.name)))
                 for ext in self.extensions]
        if not all(built):
            _fall_back("some compiled modules failed to build")
            return
        manifest = {"compiler": "mypyc", "sources": {
            m: NATIVE["source_digest"](NATIVE["source_path"](m, package))
            for m in NATIVE["COMPILED"]}}
        targets = [os.path.join(self.build_lib, "raftredis")]
        if inplace:
            targets.append(package)
        for target in targets:
            os.makedirs(target, exist_ok=True)
            with open(os.path.join(target, NATIVE["MANIFEST"]), "w", encoding="utf-8") as f:
                json.dump(manifest, f, indent=1, sort_keys=True)
        _say(f"compiled {len(NATIVE['COMPILED'])} modules with mypyc")


setup(ext_modules=ext_modules(), cmdclass={"build_ext": BuildWithManifest})
