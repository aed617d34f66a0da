"""Fixtures of the core tests on real features: a photo pair, and the default run on it (made once)."""

from __future__ import annotations

import pytest
import torch

from nst_nodes.core.style import StyleSpec
from nst_nodes.core.transfer import stylize

from helpers import photo, settings


@pytest.fixture(scope="session")
def pair() -> tuple[torch.Tensor, torch.Tensor]:
    """Content: a cat; style: a stained-tissue micrograph, strongly textured and coloured."""
    return photo("chelsea", 192), photo("immunohistochemistry", 192)


@pytest.fixture(scope="session")
def default_run(real_vgg16, pair):
    content, style = pair
    return stylize(real_vgg16, content, StyleSpec([style]), *settings(size=192)).image
