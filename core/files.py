"""Writing files so that nothing half-written or overwritten is ever left behind."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import InputError


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def refuse_existing(path: str | os.PathLike, what: str) -> None:
    """Fail, naming `what`, if `path` exists: nothing the user had is replaced without --overwrite."""
    if Path(path).exists():
        raise InputError(f"{what}: {path} already exists; pass --overwrite to replace it or choose another name")


def write_atomic(path: str | os.PathLike, data: bytes, overwrite: bool = False, what: str = "out") -> Path:
    """Write `data` to a temporary file beside `path`, then move it into place.

    Without `overwrite`, an existing file (even one that appears while we
    write) is left untouched and the call fails with a message naming `what`.
    """
    path = Path(path)
    if not overwrite:
        refuse_existing(path, what)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp_name, 0o666 & ~_current_umask())  # mkstemp makes 0600; give the usual mode
        if overwrite:
            os.replace(tmp_name, path)
        else:
            try:
                os.link(tmp_name, path)
            except FileExistsError:
                refuse_existing(path, what)  # it appeared while we wrote
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
    return path
