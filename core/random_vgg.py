"""A seeded random VGG, for what does not depend on trained values: shapes, speed, invariances.

Not a trained model. The tests and the benchmarks both use it, and neither
imports the other, so it lives in the package (as numpy.testing does). It is
written to a file and loaded with `weights.load_model` like real weights, so
there is one way to load weights.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from .checkpoints import save_state_dict
from .vgg import VGG19, Architecture


def random_vgg_state_dict(seed: int = 0, architecture: Architecture = VGG19) -> dict[str, torch.Tensor]:
    """VGG-shaped weights with torchvision's initialisation, keys `features.N.*`."""
    generator = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    for key, shape in architecture.expected_shapes().items():
        if key.endswith(".weight"):
            fan_out = shape[0] * shape[2] * shape[3]
            state[f"features.{key}"] = torch.randn(shape, generator=generator) * (2.0 / fan_out) ** 0.5
        else:
            state[f"features.{key}"] = torch.zeros(shape)
    return state


def save_random_weights(target: str | os.PathLike, seed: int = 0, architecture: Architecture = VGG19) -> Path:
    """The seeded random VGG written in torchvision's layout, replacing what is at `target`."""
    return save_state_dict(random_vgg_state_dict(seed, architecture), target, overwrite=True)
