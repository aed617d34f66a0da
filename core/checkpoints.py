"""Writing state dicts as weight files (.pth, or .safetensors with metadata), never half-written.

The VGG16 fallback's converter writes real weights this way; tests and
benchmarks write the seeded random VGG this way too, and then load it with
`weights.load_model` like any real file, so there is one way to load weights.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from pathlib import Path

import torch

from .files import write_atomic
from .vgg import VGG19, Architecture, random_vgg_state_dict


def save_state_dict(
    state: Mapping[str, torch.Tensor],
    target: str | os.PathLike,
    metadata: Mapping[str, str] | None = None,
    overwrite: bool = False,
) -> Path:
    """`target`'s suffix picks the format: .safetensors (with `metadata`) or torch.save's (tensors only)."""
    if Path(target).suffix.lower() == ".safetensors":
        from safetensors.torch import save

        data = save({k: v.contiguous() for k, v in state.items()}, metadata=dict(metadata or {}))
    else:
        buffer = io.BytesIO()
        torch.save(dict(state), buffer)
        data = buffer.getvalue()
    return write_atomic(target, data, overwrite=overwrite, what="weights")


def save_random_weights(target: str | os.PathLike, seed: int = 0, architecture: Architecture = VGG19) -> Path:
    """A seeded random VGG in torchvision's layout, for what does not depend on trained values (shapes, speed)."""
    return save_state_dict(random_vgg_state_dict(seed, architecture), target, overwrite=True)
