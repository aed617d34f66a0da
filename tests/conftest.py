"""Shared fixtures: a seeded random-weight VGG19 in torchvision's layout, small images."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from nst_nodes.core.vgg import VGGModel, random_vgg19_state_dict
from nst_nodes.core.weights import load_vgg19_features

from helpers import stripes

pytest_plugins = ["fixtures_comfy"]

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "samples"


@pytest.fixture(scope="session")
def vgg_state() -> dict[str, torch.Tensor]:
    return random_vgg19_state_dict(seed=1234)


@pytest.fixture(scope="session")
def vgg_path(tmp_path_factory: pytest.TempPathFactory, vgg_state) -> Path:
    """A features-only checkpoint written the way torch.save writes torchvision's."""
    path = tmp_path_factory.mktemp("weights") / "vgg19-random.pth"
    torch.save(vgg_state, path)
    return path


@pytest.fixture(scope="session")
def vgg_model(vgg_path: Path) -> VGGModel:
    """Loaded through the real loading code."""
    return VGGModel(load_vgg19_features(vgg_path), str(vgg_path))


@pytest.fixture
def small_images() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(5)
    content = torch.rand(1, 3, 48, 64, generator=generator)
    style = stripes(56, 56, 30.0)
    return content, style
