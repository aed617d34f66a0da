"""What the commands write: nothing over an existing file without --overwrite, and JSON reports."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..core.files import refuse_existing, write_atomic


def refuse_existing_outputs(paths: Sequence[tuple[str, str | Path | None]], overwrite: bool) -> None:
    """Fail before any work if an output would replace a file without --overwrite."""
    if not overwrite:
        for what, path in paths:
            if path:
                refuse_existing(path, what)


def write_json(path: str | Path, data: Any, overwrite: bool, what: str) -> Path:
    """`data` as indented JSON with a final newline, written atomically."""
    return write_atomic(path, (json.dumps(data, indent=2) + "\n").encode(), overwrite=overwrite, what=what)


class _ToStderr(logging.Handler):
    """Writes each record as one `nst: ...` line to the sys.stderr of the moment."""

    def emit(self, record: logging.LogRecord) -> None:
        print(f"nst: {record.getMessage()}", file=sys.stderr)


@contextmanager
def memory_plan_shown() -> Iterator[None]:
    """Within: the run's memory plan (whole or tiled, about how much) goes to stderr once its inputs are checked."""
    from ..core import run_setup

    logger, handler = logging.getLogger(run_setup.__name__), _ToStderr(logging.INFO)
    logger.addHandler(handler)
    level, logger.propagate = logger.level, False
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = True
