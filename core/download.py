"""Downloading a file so that only a complete, checked copy ever takes its final name."""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from .errors import WeightsError

log = logging.getLogger(__name__)


class ByteProgress:
    """Minimal progress sink for downloads; the CLI and ComfyUI supply richer ones."""

    def update(self, n: int) -> None:  # pragma: no cover - trivial default
        pass

    def close(self) -> None:  # pragma: no cover - trivial default
        pass


ProgressFactory = Callable[[int | None], ByteProgress]


def download_checked(
    target: Path,
    url: str,
    sha256_prefix: str,
    progress: ProgressFactory | None = None,
) -> Path:
    """Download to a temporary file beside `target`, verify, then rename.

    A broken or tampered download never ends up under the final name, and an
    existing file at `target` is never replaced.
    """
    target = Path(target)
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as handle:
            try:
                response = urllib.request.urlopen(url, timeout=60)
            except (urllib.error.URLError, OSError) as exc:
                raise WeightsError(
                    f"weights: could not download {url} ({exc}); with no network, put the file at {target} "
                    f"or pass --weights PATH"
                ) from None
            with response:
                length = response.headers.get("Content-Length")
                bar = progress(int(length) if length else None) if progress else ByteProgress()
                try:
                    while chunk := response.read(1 << 20):
                        handle.write(chunk)
                        digest.update(chunk)
                        bar.update(len(chunk))
                finally:
                    bar.close()
        if not digest.hexdigest().startswith(sha256_prefix):
            raise WeightsError(
                f"weights: the download from {url} is corrupt (SHA-256 {digest.hexdigest()[:12]}..., "
                f"expected {sha256_prefix}...); it was discarded, try again"
            )
        try:
            os.link(tmp_name, target)
        except FileExistsError:
            pass  # another process finished first; keep its file
        log.info("weights saved to %s", target)
        return target
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
