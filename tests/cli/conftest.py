"""Fixtures of the CLI tests: small input images written to files."""

from __future__ import annotations

import pytest

from nst_nodes.core.images import save_image

from helpers import stripes


@pytest.fixture
def cli_inputs(tmp_path):
    """A content and a style for a quick `nst stylize`."""
    content, style = tmp_path / "content.png", tmp_path / "style.png"
    save_image(stripes(48, 48, 0.0, seed=1), content)
    save_image(stripes(48, 48, 45.0, seed=2), style)
    return content, style


@pytest.fixture
def search_images(tmp_path):
    """A content and two styles for the rotation search and `nst stylize --rotate`."""
    content, style_a, style_b = tmp_path / "content.png", tmp_path / "a.png", tmp_path / "b.png"
    save_image(stripes(36, 48, 0.0, seed=1), content)
    save_image(stripes(40, 40, 45.0, seed=2), style_a)
    save_image(stripes(40, 40, 100.0, seed=3), style_b)
    return content, style_a, style_b
