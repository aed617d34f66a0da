"""Writing files (core/files.py, here through save_image): nothing replaced, nothing half-written, the usual permissions."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from nst_nodes.core.errors import InputError
from nst_nodes.core.images import save_image


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
