"""Writing state dicts as weight files (.pth, or .safetensors with metadata), never half-written.

The VGG16 fallback's converter writes real weights this way, and so does the
seeded random VGG of the tests and benchmarks (random_vgg.py).
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from pathlib import Path

import torch

from .files import write_atomic


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

