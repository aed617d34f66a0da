"""Reading odd image files, sizes, and writing results safely."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from nst_nodes.core.errors import InputError
from nst_nodes.core.images import fit_size, load_image, parse_exact_size, save_image


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


def test_sizes():
    assert fit_size(300, 400, 200) == (150, 200)
    assert fit_size(1, 1, 64) == (64, 64)
    assert parse_exact_size("256x192") == (192, 256)
    with pytest.raises(InputError, match="under the 32 px"):
        fit_size(10, 1000, 256)
    with pytest.raises(InputError, match="WIDTHxHEIGHT"):
        parse_exact_size("256")


def test_save_refuses_existing_and_leaves_no_partial(tmp_path):
    path = tmp_path / "out.png"
    path.write_bytes(b"precious")
    image = torch.rand(1, 3, 8, 8)
    with pytest.raises(InputError, match="already exists"):
        save_image(image, path)
    assert path.read_bytes() == b"precious"
    save_image(image, path, overwrite=True)
    assert Image.open(path).size == (8, 8)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]


def test_written_files_get_the_usual_permissions(tmp_path):
    import os

    mask = os.umask(0o022)
    try:
        path = save_image(torch.rand(1, 3, 8, 8), tmp_path / "out.png")
    finally:
        os.umask(mask)
    assert oct(path.stat().st_mode & 0o777) == oct(0o644)
