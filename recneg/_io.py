"""File helpers shared by every layer: atomic writes, permissions, safe ``.npz`` reading, id encoding.

* :func:`atomic_write` / :func:`atomic_savez` write a temp file in the target folder, then rename;
  a crash or an exception mid-write leaves the previous file untouched and no temp file behind.
  The final file gets the usual ``0o666 & ~umask`` permissions (not ``mkstemp``'s 0600).
* :func:`apply_umask` gives an existing file or folder (e.g. one made by ``tempfile.mkdtemp``)
  the permissions the umask would have given it.
* :func:`load_npz` reads every array of an ``.npz`` eagerly, never unpickles, and turns every
  way a file can be wrong (missing, a folder, truncated, bit-flipped, a bare ``.npy``, a pickle,
  object arrays, missing arrays) into one clear one-line error naming the file.
* :func:`pack_ids` / :func:`unpack_ids` store string ids as one UTF-8 byte blob plus int64
  offsets, so one long id does not widen every id to a fixed-width ``<U`` column.
"""
from __future__ import annotations

import io
import os
import secrets
import threading
import zipfile
import zlib
from pathlib import Path
from typing import IO, Any, Callable, Collection

import numpy as np

__all__ = [
    "atomic_write", "atomic_savez", "current_umask", "apply_umask", "load_npz", "pack_ids", "unpack_ids",
    "strings_to_object_array",
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


def atomic_savez(path: str | os.PathLike | IO[bytes], **arrays: np.ndarray) -> None:
    """``np.savez`` to ``path`` atomically (the name is used as given: no ``.npz`` is appended).

    A binary file object (anything with ``write``) is written in place, from its current position, as
    ``np.savez`` does: atomicity is then the caller's."""
    if hasattr(path, "write"):
        np.savez(path, **arrays)
        return
    atomic_write(path, lambda f: np.savez(f, **arrays))


# ------------------------------------------------------------------ safe npz reading
_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")


def _show(path: str | os.PathLike) -> str:
    """The path for a one-line message (repr'd if it holds control characters)."""
    s = os.fspath(path)
    s = s.decode(errors="replace") if isinstance(s, bytes) else s
    return s if s.isprintable() else repr(s)


def _one_line(e: BaseException) -> str:
    """``Type: message`` of an exception, on one line, never advising ``allow_pickle``."""
    msg = " ".join(str(e).split())
    if "pickle" in msg.lower():
        msg = "holds pickled data"
    return f"{type(e).__name__}: {msg}" if msg else type(e).__name__


def load_npz(path: str | os.PathLike | IO[bytes], what: str, required: Collection[str] = ()) -> dict[str, np.ndarray]:
    """Read every array of the recneg ``.npz`` file ``path`` into memory, without ever unpickling.

    ``path`` may also be a binary file object (read from its current position), as ``np.load`` takes.

    ``what`` names the expected kind of file (e.g. ``"Interactions"``; messages say
    ``recneg <what> file`` and ``<what>.save``); ``required`` lists arrays it must hold.

    Raises:
        FileNotFoundError: no such file.
        ValueError: one line naming the file, for a folder, an empty/truncated/corrupt file,
            a bare ``.npy`` array, a pickle or other non-``.npz`` file, object (pickled) arrays,
            or missing required arrays.
    """
    kind = f"recneg {what} .npz file written by {what}.save"
    source: Any = path
    if hasattr(path, "read"):  # an open binary file: read from its current position to the end
        name = getattr(path, "name", None)
        shown = _show(name) if isinstance(name, (str, bytes)) else "<file object>"
        try:
            data = path.read()
        except (OSError, ValueError) as e:
            raise ValueError(f"{shown}: cannot read the file ({_one_line(e)}); expected a {kind}") from None
        if not isinstance(data, bytes):
            raise TypeError(f"{shown} is opened in text mode; open it with 'rb' (a {kind})")
        head, source = data[:8], io.BytesIO(data)
    else:
        shown = _show(path)
        if not os.path.exists(path):
            raise FileNotFoundError(f"{shown}: file not found (expected a {kind})")
        if os.path.isdir(path):
            raise ValueError(f"{shown} is a folder, not a {kind}; pass the path of the file")
        try:
            with open(path, "rb") as f:
                head = f.read(8)
        except OSError as e:
            raise ValueError(f"{shown}: cannot read the file ({_one_line(e)}); expected a {kind}") from None
    if not head:
        raise ValueError(f"{shown} is empty (0 bytes), not a {kind}; it was truncated: save it again")
    if head.startswith(_NPY_MAGIC):
        raise ValueError(f"{shown} is a plain .npy array file, not a {kind}")
    if head[:1] == b"\x80":
        raise ValueError(f"{shown} holds pickled Python objects, which recneg never loads; expected a {kind}")
    if not head.startswith(_ZIP_MAGICS):
        raise ValueError(f"{shown} is not a valid {kind}: its contents are not an .npz archive")
    arrays: dict[str, np.ndarray] = {}
    pickled = None
    try:  # np.load of an npz is lazy: read every member here so CRC and size errors surface inside the guard
        with np.load(source, allow_pickle=False) as z:
            for name in z.files:
                try:
                    arrays[name] = z[name]
                except ValueError as e:
                    if "pickle" not in str(e).lower():
                        raise
                    pickled = name
                    break
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, KeyError, RuntimeError,
            MemoryError) as e:  # NotImplementedError (odd compression) is a RuntimeError
        raise ValueError(
            f"{shown} is corrupt or truncated ({_one_line(e)}); expected a {kind}: restore it or save it again"
        ) from None
    if pickled is not None:
        raise ValueError(
            f"{shown}: array {pickled!r} holds pickled Python objects, which recneg never loads; expected a {kind}"
        )
    for name, arr in arrays.items():
        if not isinstance(arr, np.ndarray):  # a zip member that is not a .npy array
            raise ValueError(f"{shown}: member {name!r} is not a numpy array; expected a {kind}")
    missing = [k for k in required if k not in arrays]
    if missing:
        raise ValueError(f"{shown} is not a {kind}: it is missing the array(s) {', '.join(missing)}")
    return arrays


# ------------------------------------------------------------------ ids
def strings_to_object_array(values: Any) -> np.ndarray:
    """A 1-d object array of Python ``str`` (no fixed-width ``<U`` copy, whatever the longest string)."""
    if isinstance(values, np.ndarray) and values.dtype.kind == "U":
        return values.astype(object)
    values = list(values)
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _is_str_array(arr: np.ndarray) -> bool:
    return arr.dtype.kind == "U" or (arr.dtype == object and all(isinstance(x, str) for x in arr.ravel()))


def pack_ids(name: str, ids: Any) -> dict[str, np.ndarray]:
    """Arrays that store the 1-d ``ids`` in an ``.npz`` under ``name``, without pickle.

    Strings become ``<name>_utf8`` (uint8 blob) + ``<name>_offsets`` (int64, n + 1 byte offsets);
    numbers (and other plain dtypes) are stored as ``<name>`` unchanged. Read back with :func:`unpack_ids`.

    Raises:
        TypeError: object ids that are not all ``str`` (mixed or other types).
    """
    arr = ids
    if not isinstance(arr, np.ndarray):
        arr = strings_to_object_array(ids) if _all_str(ids) else np.asarray(ids)
    if _is_str_array(arr):
        encoded = [str(s).encode("utf-8", "surrogatepass") for s in arr.ravel()]
        offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum([len(b) for b in encoded], out=offsets[1:])
        blob = np.frombuffer(b"".join(encoded), dtype=np.uint8)
        return {f"{name}_utf8": blob, f"{name}_offsets": offsets}
    if arr.dtype == object:
        raise TypeError(f"{name} mix types or are not numbers/strings; map them to str or int before saving")
    return {name: arr}


def _all_str(values: Any) -> bool:
    try:
        return all(isinstance(x, str) for x in values)
    except TypeError:
        return False


def unpack_ids(arrays: dict[str, np.ndarray], name: str, path: str | os.PathLike, what: str) -> np.ndarray:
    """The ids stored by :func:`pack_ids` under ``name`` (strings as an object array of ``str``).

    Files that stored strings as a fixed-width ``<U`` array (recneg before the blob encoding) load too.

    Raises:
        ValueError: the arrays are missing or inconsistent (naming ``path`` and ``what``).
    """
    shown = _show(path)
    if name in arrays:
        arr = arrays[name]
        return strings_to_object_array(arr) if arr.dtype.kind == "U" else arr
    blob, offsets = arrays.get(f"{name}_utf8"), arrays.get(f"{name}_offsets")
    if blob is None or offsets is None:
        raise ValueError(
            f"{shown} is not a recneg {what} .npz file written by {what}.save: it is missing the array(s) {name}"
        )
    bad = f"{shown} is a corrupt recneg {what} file (restore it or save it again): {name}"
    if blob.dtype != np.uint8 or blob.ndim != 1 or offsets.dtype.kind not in "iu" or offsets.ndim != 1:
        raise ValueError(f"{bad} has the wrong array types")
    offsets = offsets.astype(np.int64, copy=False)
    if (offsets.size == 0 or offsets[0] != 0 or offsets[-1] != blob.size
            or (offsets.size > 1 and np.any(np.diff(offsets) < 0))):
        raise ValueError(f"{bad} offsets do not match its bytes")
    data = blob.tobytes()
    bounds = offsets.tolist()
    try:
        values = [data[a:b].decode("utf-8", "surrogatepass") for a, b in zip(bounds[:-1], bounds[1:])]
    except UnicodeDecodeError as e:
        raise ValueError(f"{bad} is not valid UTF-8 ({e.reason} at byte {e.start})") from None
    return strings_to_object_array(values)
