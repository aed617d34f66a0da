"""Finding, downloading and safely loading VGG19 weights.

Weights are only ever read as tensors: `.pth` through
`torch.load(weights_only=True)` (no arbitrary pickle), `.safetensors` through
safetensors. A file is checked key by key and shape by shape before use.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import tempfile
import urllib.error
import urllib.request
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .errors import WeightsError
from .vgg import build_vgg19_features, expected_shapes

log = logging.getLogger(__name__)

WEIGHTS_FILE = "vgg19-dcbb9e9d.pth"
# torchvision names its files <arch>-<first 8 hex digits of the SHA-256>.pth
WEIGHTS_SHA256_PREFIX = "dcbb9e9d"
ENV_VAR = "NST_VGG19_WEIGHTS"
SUFFIXES = (".pth", ".pt", ".bin", ".safetensors")

ProgressFactory = Callable[[int | None], "ByteProgress"]


class ByteProgress:
    """Minimal progress sink for downloads; the CLI and ComfyUI supply richer ones."""

    def update(self, n: int) -> None:  # pragma: no cover - trivial default
        pass

    def close(self) -> None:  # pragma: no cover - trivial default
        pass


def weights_url() -> str:
    """torchvision's published address of its ImageNet VGG19 weights."""
    from torchvision.models import VGG19_Weights  # imported late: heavy, and only needed to download

    return VGG19_Weights.IMAGENET1K_V1.url


def hub_cache_path() -> Path:
    """Where torch.hub (and so torchvision) keeps downloaded checkpoints."""
    return Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS_FILE


@dataclass(frozen=True)
class Candidate:
    """One place the weights may be, and why we look there."""

    source: str
    path: Path

    @property
    def exists(self) -> bool:
        return self.path.is_file()


def candidates(explicit: str | os.PathLike | None = None) -> list[Candidate]:
    """The lookup order: explicit path, $NST_VGG19_WEIGHTS, torch's hub cache."""
    found = []
    if explicit:
        found.append(Candidate("--weights", Path(explicit).expanduser()))
    env_value = os.environ.get(ENV_VAR)
    if env_value:
        found.append(Candidate(f"${ENV_VAR}", Path(env_value).expanduser()))
    found.append(Candidate("torch hub cache", hub_cache_path()))
    return found


def locate_weights(
    explicit: str | os.PathLike | None = None,
    offline: bool = False,
    progress: ProgressFactory | None = None,
) -> Path:
    """Return a weights file, downloading torchvision's VGG19 only as the last resort.

    An explicit path or environment variable that does not exist is an error
    (the user meant that file), not a reason to download something else.
    """
    for candidate in candidates(explicit):
        if candidate.source != "torch hub cache":
            if not candidate.exists:
                raise WeightsError(f"weights: {candidate.source} names {candidate.path}, which does not exist")
            return candidate.path
        if candidate.exists:
            return candidate.path
    target = hub_cache_path()
    if offline:
        raise WeightsError(
            f"weights: no VGG19 weights found and downloading is off; put {WEIGHTS_FILE} at {target}, "
            f"or pass --weights PATH, or set {ENV_VAR}"
        )
    return download_weights(target, progress=progress)


def download_weights(
    target: Path,
    url: str | None = None,
    sha256_prefix: str = WEIGHTS_SHA256_PREFIX,
    progress: ProgressFactory | None = None,
) -> Path:
    """Download to a temporary file beside `target`, verify, then rename.

    A broken or tampered download never ends up under the final name, and an
    existing file at `target` is never replaced.
    """
    target = Path(target)
    if target.exists():
        return target
    url = url or weights_url()
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as handle:
            try:
                response = urllib.request.urlopen(url, timeout=60)
            except (urllib.error.URLError, OSError) as exc:
                raise WeightsError(
                    f"weights: could not download {url} ({exc}); with no network, put {WEIGHTS_FILE} at {target} "
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
        log.info("VGG19 weights saved to %s", target)
        return target
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a state dict as tensors only, whatever the file claims to be."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights: {path} does not exist or is not a file")
    if path.stat().st_size == 0:
        raise WeightsError(f"weights: {path} is empty; delete it and download or copy the file again")
    if path.suffix.lower() == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device="cpu")
        except (SafetensorError, OSError, ValueError) as exc:
            raise WeightsError(f"weights: {path} is not a readable .safetensors file ({exc}); it may be truncated") from None
    try:
        with warnings.catch_warnings():
            # torch warns about the pickle protocol of files it then loads or refuses anyway
            warnings.simplefilter("ignore", UserWarning)
            loaded = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise WeightsError(
            f"weights: {path} is not a plain state dict: it holds Python objects beyond tensors, "
            "which could run code, so it was not loaded; use torchvision's vgg19-dcbb9e9d.pth or a .safetensors file"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise WeightsError(f"weights: {path} could not be read ({exc}); the file is corrupt or truncated") from None
    if isinstance(loaded, Mapping) and "state_dict" in loaded and isinstance(loaded["state_dict"], Mapping):
        loaded = loaded["state_dict"]
    if not isinstance(loaded, Mapping) or not all(isinstance(v, torch.Tensor) for v in loaded.values()):
        raise WeightsError(f"weights: {path} does not hold a state dict (a mapping of names to tensors)")
    return dict(loaded)


def features_state_dict(state: Mapping[str, torch.Tensor], source: str) -> dict[str, torch.Tensor]:
    """Pick VGG19's conv weights out of a full or features-only state dict, checked.

    Accepts torchvision's keys (`features.0.weight`, classifier keys ignored)
    or the bare `0.weight` form. Raises naming every missing key or wrong shape.
    """
    expected = expected_shapes()
    picked: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        bare = key[len("module.") :] if key.startswith("module.") else key
        bare = bare[len("features.") :] if bare.startswith("features.") else bare
        if bare in expected:
            picked[bare] = value
    missing = [f"features.{k}" for k in expected if k not in picked]
    if missing:
        shown = ", ".join(missing[:6]) + (f" and {len(missing) - 6} more" if len(missing) > 6 else "")
        raise WeightsError(f"weights: {source} is not a VGG19 state dict: missing {shown}")
    wrong = [
        f"features.{k} is {tuple(picked[k].shape)}, expected {shape}"
        for k, shape in expected.items()
        if tuple(picked[k].shape) != shape
    ]
    if wrong:
        raise WeightsError(f"weights: {source} has wrong shapes: {'; '.join(wrong[:4])}")
    not_float = sorted({str(v.dtype) for v in picked.values() if not v.is_floating_point()})
    if not_float:
        raise WeightsError(f"weights: {source} stores {', '.join(not_float)} tensors; VGG19 weights must be floating point")
    bad = [f"features.{k}" for k, v in picked.items() if not torch.isfinite(v).all()]
    if bad:
        raise WeightsError(f"weights: {source} contains NaN or infinite values in {', '.join(bad[:4])}")
    return {k: v.float() for k, v in picked.items()}


def load_vgg19_features(path: str | os.PathLike) -> nn.Sequential:
    """VGG19's convolutional trunk with weights from `path`, frozen, on the CPU."""
    features = build_vgg19_features()
    features.load_state_dict(features_state_dict(read_state_dict(path), str(path)))
    features.requires_grad_(False)
    return features.eval()
