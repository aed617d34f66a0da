"""Choosing the torch device a run uses."""

from __future__ import annotations

import torch

from .errors import InputError

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """Turn a user's device choice into a torch.device (auto: CUDA, then MPS, then CPU)."""
    if isinstance(name, torch.device):
        return name
    choice = str(name).strip().lower()
    if choice == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    kind = choice.split(":")[0]
    if kind not in DEVICE_CHOICES:
        raise InputError(f"device: unknown device {name!r}; use one of {', '.join(DEVICE_CHOICES)}")
    if kind == "cuda" and not torch.cuda.is_available():
        raise InputError("device: 'cuda' was asked for but torch sees no CUDA GPU; use --device cpu or auto")
    if kind == "mps" and not _mps_available():
        raise InputError("device: 'mps' was asked for but this torch has no usable MPS backend; use --device cpu or auto")
    return torch.device(choice)
