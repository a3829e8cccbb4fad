"""The one way the package writes a file or directory: all of it, or nothing.

Every writer here works on a temporary name in the destination's own directory (so the final
os.replace is a rename on one filesystem), flushes it to disk, and renames it onto the
destination only when the body finished without an exception. On any failure, including
KeyboardInterrupt, the temporary is removed and an earlier destination is left untouched: a
reader sees the old complete file or the new complete file, never a partial one.
"""
from __future__ import annotations

import gzip
import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

__all__ = [
    "atomic_path", "atomic_dir", "atomic_open", "write_text", "write_json", "json_safe",
    "replace_path",
]

_FILE_MODE = 0o644  # mkstemp creates 0600; outputs are shared with the group
_DIR_MODE = 0o755


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # some filesystems do not open directories; the rename is still atomic
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def replace_path(tmp: Path, dest: Path) -> None:
    """Move a finished temporary file or directory onto `dest`, whatever `dest` is now.

    A directory destination is first renamed aside (os.replace cannot replace a non-empty
    directory) and removed only after the new one is in place.
    """
    if dest.is_dir() and not dest.is_symlink():
        old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".old", dir=dest.parent))
        os.replace(dest, old / dest.name)
        os.replace(tmp, dest)
        shutil.rmtree(old, ignore_errors=True)
    else:
        if tmp.is_dir() and (dest.is_file() or dest.is_symlink()):
            dest.unlink()
        os.replace(tmp, dest)
    _fsync_dir(dest.parent)


@contextmanager
def atomic_path(path: str | os.PathLike[str], suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary file path beside `path` for a writer that wants a path (pandas,
    torch.save, an external tool); it becomes `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        if tmp.exists():
            os.chmod(tmp, _FILE_MODE)
            _fsync_file(tmp)
        replace_path(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield an empty temporary directory beside `path`; it replaces `path` on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        for sub in [tmp, *(p for p in tmp.rglob("*") if p.is_dir())]:
            os.chmod(sub, _DIR_MODE)
        for f in (p for p in tmp.rglob("*") if p.is_file()):
            _fsync_file(f)
        replace_path(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO[Any]]:
    """Open a temporary file beside `path` for writing ("w" or "wb"; gzip when `path` ends
    in .gz); it becomes `path` when the block ends without an exception."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes a new file: mode 'w' or 'wb', not {mode!r}")
    binary = mode == "wb"
    with atomic_path(path) as tmp:
        if Path(path).suffix == ".gz":
            fh: IO[Any] = gzip.open(tmp, "wb" if binary else "wt", encoding=None if binary else encoding)
        else:
            fh = open(tmp, mode, encoding=None if binary else encoding)
        with fh:
            yield fh


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write `text` to `path` atomically."""
    with atomic_open(path) as fh:
        fh.write(text)


def json_safe(obj: Any) -> Any:
    """`obj` with every NaN or infinite float replaced by None: JSON has no NaN, and a reader
    (jq, JavaScript, a strict parser) refuses the bare `NaN` Python's json module writes."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item) and getattr(obj, "ndim", 1) == 0:  # numpy/torch scalar
        return json_safe(obj.item())
    return obj


def write_json(path: str | os.PathLike[str], obj: Any, indent: int | None = 2, **dump_args: Any) -> None:
    """Write `obj` as valid JSON (NaN and infinities become null) to `path` atomically."""
    text = json.dumps(json_safe(obj), indent=indent, allow_nan=False, **dump_args)
    write_text(path, text + "\n")
