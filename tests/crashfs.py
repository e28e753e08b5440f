"""A crash model for code that writes files and calls os.fsync (test-only).

While installed, CrashFS replaces os.fsync, os.unlink and os.replace with wrappers that
remember, per file (by inode, so a rename keeps it), how many bytes the last fsync made
durable. `crash(directory, rng)` then plays a machine crash: every file under the
directory keeps its synced prefix and a random part (possibly none, possibly all) of what
was written after it; the lost part is cut off, or (with zero_fill) left as zeros from a
sector edge on, as when the file's new size reached the disk before its data. `arm()` makes a later fsync under a directory raise
CrashNow instead of syncing, so a crash can fall inside a storage call.

By default the real fsync is skipped: durability is what this model says, and the
simulator stays fast. Single-threaded use only (the simulator).
"""

from __future__ import annotations

import os
import random
import stat
from dataclasses import dataclass
from pathlib import Path

SECTOR = 512  # the unit a disk writes atomically


class CrashNow(BaseException):  # noqa: N818 - a signal, not an error
    """Raised by an armed fsync: the machine dies before that fsync completes. A
    BaseException so `except Exception` cleanup in the code under test does not eat it."""


@dataclass
class CrashReport:
    files: int = 0
    files_cut: int = 0
    bytes_lost: int = 0
    zero_filled: int = 0


class CrashFS:
    def __init__(self, real_fsync: bool = False, zero_fill: float = 0.0) -> None:
        self.real_fsync = real_fsync
        self.zero_fill = zero_fill  # chance that a lost tail stays as zeros (size kept)
        self._synced: dict[tuple[int, int], int] = {}  # (dev, inode) -> durable size
        self._armed: dict[str, int] = {}  # directory -> fsyncs left before CrashNow
        self._orig: dict[str, object] = {}
        self.fsyncs = 0

    # ---- installing the wrappers ---------------------------------------------------------
    def install(self) -> CrashFS:
        if self._orig:
            raise RuntimeError("CrashFS is already installed")
        self._orig = {"fsync": os.fsync, "unlink": os.unlink, "replace": os.replace}
        os.fsync = self._fsync
        os.unlink = self._unlink
        os.replace = self._replace
        return self

    def uninstall(self) -> None:
        for name, fn in self._orig.items():
            setattr(os, name, fn)
        self._orig = {}

    def __enter__(self) -> CrashFS:
        return self.install()

    def __exit__(self, *exc: object) -> None:
        self.uninstall()

    # ---- the wrappers ----------------------------------------------------------------------
    def _fsync(self, fd: int) -> None:
        st = os.fstat(fd)  # also rejects a bad fd as the real call would
        if self._armed:
            self._maybe_fire(fd, st)
        if self.real_fsync:
            self._orig["fsync"](fd)  # type: ignore[operator]
        self.fsyncs += 1
        if stat.S_ISREG(st.st_mode):
            self._synced[(st.st_dev, st.st_ino)] = st.st_size

    def _maybe_fire(self, fd: int, st: os.stat_result) -> None:
        try:
            path = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            return
        if stat.S_ISREG(st.st_mode):
            path = os.path.dirname(path)
        left = self._armed.get(path)
        if left is None:
            return
        if left <= 1:
            del self._armed[path]
            raise CrashNow(f"crash at an fsync in {path}")
        self._armed[path] = left - 1

    def _forget(self, path: object, dir_fd: int | None) -> None:
        # The inode may be freed and reused by a new file: its record must not carry over.
        try:
            st = os.stat(path, dir_fd=dir_fd, follow_symlinks=False)  # type: ignore[arg-type]
        except (OSError, TypeError, ValueError):
            return
        self._synced.pop((st.st_dev, st.st_ino), None)

    def _unlink(self, path, *, dir_fd=None):  # noqa: ANN001 - same signature as os.unlink
        self._forget(path, dir_fd)
        return self._orig["unlink"](path, dir_fd=dir_fd)  # type: ignore[operator]

    def _replace(self, src, dst, *, src_dir_fd=None, dst_dir_fd=None):  # noqa: ANN001
        self._forget(dst, dst_dir_fd)  # the file that dst named is gone
        return self._orig["replace"](src, dst, src_dir_fd=src_dir_fd,  # type: ignore[operator]
                                     dst_dir_fd=dst_dir_fd)

    # ---- crash control -----------------------------------------------------------------------
    def synced_size(self, path: str | Path) -> int:
        st = os.stat(path)
        return self._synced.get((st.st_dev, st.st_ino), 0)

    def arm(self, directory: str | Path, nth: int) -> None:
        """The nth fsync (from now) of the directory or a file in it raises CrashNow."""
        if nth < 1:
            raise ValueError("nth must be at least 1")
        self._armed[os.path.realpath(directory)] = nth

    def disarm(self, directory: str | Path) -> None:
        self._armed.pop(os.path.realpath(directory), None)

    def crash(self, directory: str | Path, rng: random.Random) -> CrashReport:
        """Lose a random part of the unsynced tail of every file directly in `directory`.
        What survives counts as synced from now on (it is what the disk holds after reboot)."""
        self.disarm(directory)
        rep = CrashReport()
        for entry in sorted(os.scandir(directory), key=lambda e: e.name):
            st = entry.stat(follow_symlinks=False)
            if not stat.S_ISREG(st.st_mode):
                continue
            rep.files += 1
            key = (st.st_dev, st.st_ino)
            size = st.st_size
            synced = min(self._synced.get(key, 0), size)
            if synced < size and self.zero_fill and rng.random() < self.zero_fill:
                # The size reached the disk but not all data: sectors are written whole,
                # so the lost part starts where the synced data ends or at a sector edge.
                edges = [synced, *range((synced // SECTOR + 1) * SECTOR, size, SECTOR)]
                lost_from = rng.choice(edges)
                rep.files_cut += 1
                rep.zero_filled += 1
                rep.bytes_lost += size - lost_from
                with open(entry.path, "r+b") as f:
                    f.seek(lost_from)
                    f.write(b"\0" * (size - lost_from))
                keep = size
            else:
                keep = rng.randint(synced, size)
                if keep < size:
                    rep.files_cut += 1
                    rep.bytes_lost += size - keep
                    os.truncate(entry.path, keep)
            self._synced[key] = keep
        return rep


def open_fds_under(directory: str | Path) -> list[int]:
    """File descriptors of this process that point into `directory` (a leak check)."""
    root = os.path.realpath(directory) + os.sep
    out = []
    for name in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            continue
        if target.startswith(root) or target == root[:-1]:
            out.append(int(name))
    return out
