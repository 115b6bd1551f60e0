"""Atomic file writes: a reader sees the old file or the whole new one, never half of it.

Banks, key files and plaintext exports all go through here: a temporary file beside the
target, fsync, the final mode, a rename over the target, and an fsync of the directory so the
rename itself survives a power cut where the file system allows.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: Path, *, mode: int = 0o600) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; it replaces ``path`` only if the block succeeds.

    The default mode 0600 suits plaintext (an export holds the answer keys); pass 0o644 for
    files meant to be read by others.
    """
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    directory.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    temp = Path(temp_name)
    try:
        yield temp
        with open(temp, "rb") as handle:
            os.fsync(handle.fileno())
        # Whatever the umask, the final file has exactly this mode.
        os.chmod(temp, mode)
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    _fsync_directory(directory)


def atomic_write(path: Path, parts: Iterable[bytes], *, mode: int = 0o644) -> Path:
    """Write the concatenation of ``parts`` to ``path`` atomically, with ``mode``."""
    path = Path(path)
    with atomic_path(path, mode=mode) as temp, open(temp, "wb") as handle:
        handle.writelines(parts)
    return path


def replace_dir(new: Path, target: Path, *, keep: bool = True) -> None:
    """Put the folder ``new`` where ``target`` is, by rename, so no half-written folder shows.

    With ``keep=False`` the old ``target`` is only removed (an export that holds nothing).
    """
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, old)
    try:
        if keep:
            os.replace(new, target)
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    _fsync_directory(target.parent)


def _fsync_directory(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not every file system lets a directory be fsynced
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
