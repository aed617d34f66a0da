"""Pictures and masks in (core/images.py): odd and broken image files, masks from alpha or grey."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from nst_nodes.core.errors import InputError
from nst_nodes.core.images import load_image, load_mask


def test_rgba_composited_over_white(tmp_path):
    array = np.zeros((10, 12, 4), dtype=np.uint8)
    array[..., 0] = 255  # red, fully transparent on the left half
    array[:, 6:, 3] = 255
    path = tmp_path / "rgba.png"
    Image.fromarray(array, "RGBA").save(path)
    image = load_image(path)
    assert image.shape == (1, 3, 10, 12)
    torch.testing.assert_close(image[0, :, 0, 0], torch.ones(3))
    torch.testing.assert_close(image[0, :, 0, 11], torch.tensor([1.0, 0.0, 0.0]))


def test_sixteen_bit_and_greyscale(tmp_path):
    grey16 = (np.arange(20 * 30, dtype=np.uint16).reshape(20, 30) * 100).astype(np.uint16)
    path16 = tmp_path / "g16.png"
    Image.fromarray(grey16).save(path16)
    image = load_image(path16)
    assert image.shape == (1, 3, 20, 30)
    assert image.max().item() == pytest.approx(grey16.max() / 65535, abs=1e-6)
    path8 = tmp_path / "g8.png"
    Image.fromarray((grey16 >> 8).astype(np.uint8)).save(path8)
    assert load_image(path8).shape == (1, 3, 20, 30)


@pytest.mark.parametrize(
    "content, message", [(b"", "not an image"), (b"hello, I am text", "not an image")]
)
def test_unreadable_files_named(tmp_path, content, message):
    path = tmp_path / "bad.png"
    path.write_bytes(content)
    with pytest.raises(InputError, match=f"style: {path} is {message}"):
        load_image(path, "style")


def test_truncated_png(tmp_path):
    path = tmp_path / "cut.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(path)
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(InputError, match="truncated or corrupt"):
        load_image(path, "content")


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="content: file not found"):
        load_image(tmp_path / "nope.png", "content")


def test_mask_files_read_alpha_or_grey(tmp_path):
    grey = tmp_path / "grey.png"
    Image.new("L", (8, 4), 255).save(grey)
    alpha = tmp_path / "alpha.png"
    picture = Image.new("RGBA", (8, 4), (255, 255, 255, 0))
    picture.paste((0, 0, 0, 255), (0, 0, 4, 4))
    picture.save(alpha)
    assert torch.allclose(load_mask(grey, "m"), torch.ones(1, 1, 4, 8))
    found = load_mask(alpha, "m")  # black but opaque on the left: the alpha, not the colour, is the mask
    assert found.shape == (1, 1, 4, 8) and found[..., :4].min() == 1 and found[..., 4:].max() == 0
