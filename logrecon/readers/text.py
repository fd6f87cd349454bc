"""Opening input files: plain or gzip, with one clear error for each way a file can't be read."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

from ..errors import InputError

HEAD_BYTES = 1 << 16


def is_gzip(path: Path) -> bool:
    return path.suffix.lower() == ".gz"


def open_binary(path: Path):
    """A binary file object for `path`, decompressing .gz; InputError when it cannot be opened."""
    try:
        if path.is_dir():
            raise InputError(path, "is a directory, not a file")
        return gzip.open(path, "rb") if is_gzip(path) else open(path, "rb")
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except PermissionError:
        raise InputError(path, "permission denied") from None
    except OSError as exc:
        raise InputError(path, f"cannot open: {exc.strerror or exc}") from None


def read_bytes(path: Path, limit: int | None = None) -> bytes:
    """The file's bytes (decompressed), or its first `limit` bytes."""
    try:
        with open_binary(path) as handle:
            return handle.read() if limit is None else handle.read(limit)
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise InputError(path, f"corrupt or truncated gzip: {exc}") from None
    except OSError as exc:
        raise InputError(path, f"cannot read: {exc.strerror or exc}") from None


def is_blank(path: Path) -> bool:
    """True for a 0-byte or whitespace-only file (after a BOM)."""
    head = read_bytes(path, HEAD_BYTES)
    if head.removeprefix(b"\xef\xbb\xbf").strip():
        return False
    return not read_bytes(path).removeprefix(b"\xef\xbb\xbf").strip()
