"""File helpers shared by every layer: atomic writes, permissions, safe ``.npz`` reading, id encoding.

* :func:`atomic_write` / :func:`atomic_savez` write a temp file in the target folder, then rename;
  a crash or an exception mid-write leaves the previous file untouched and no temp file behind.
  The final file gets the usual ``0o666 & ~umask`` permissions (not ``mkstemp``'s 0600).
* :func:`apply_umask` gives an existing file or folder (e.g. one made by ``tempfile.mkdtemp``)
  the permissions the umask would have given it.
"""
from __future__ import annotations

import os
import secrets
import threading
from pathlib import Path
from typing import IO, Callable

import numpy as np

__all__ = [
    "atomic_write", "atomic_savez", "current_umask", "apply_umask",
]

_UMASK_LOCK = threading.Lock()


# ------------------------------------------------------------------ permissions
def current_umask() -> int:
    """The process umask, read without changing it (``/proc/self/status`` where available)."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:  # no /proc: set and restore at once
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def apply_umask(path: str | os.PathLike, directory: bool = False) -> None:
    """``chmod`` ``path`` to ``0o777 & ~umask`` (``directory=True``) or ``0o666 & ~umask`` (a file).

    Use it on folders made by ``tempfile.mkdtemp`` (always 0700) that are kept as outputs."""
    base = 0o777 if directory else 0o666
    os.chmod(path, base & ~current_umask())


# ------------------------------------------------------------------ atomic writes
def _open_temp_beside(path: Path) -> tuple[int, Path]:
    """Create a new temp file beside ``path`` with mode 0o666 (the kernel applies the umask)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a temp file beside {path}")


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], None]) -> None:
    """Call ``write(f)`` on a binary temp file beside ``path``, fsync it, then ``os.replace`` it onto ``path``.

    The result has the mode a plain ``open(path, "wb")`` would give it (``0o666 & ~umask``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _open_temp_beside(path)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def atomic_savez(path: str | os.PathLike, **arrays: np.ndarray) -> None:
    """``np.savez`` to ``path`` atomically (the name is used as given: no ``.npz`` is appended)."""
    atomic_write(path, lambda f: np.savez(f, **arrays))
