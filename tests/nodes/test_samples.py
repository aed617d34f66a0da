"""The bundled sample images as an IMAGE (nodes/samples.py)."""

from __future__ import annotations

import pytest
import torch


def test_sample_image(comfy):
    image = comfy.samples.SampleImage.execute(sample="content.png")[0]
    assert image.shape == (1, 256, 256, 3) and image.dtype == torch.float32
    assert 0 <= float(image.min()) and float(image.max()) <= 1
    with pytest.raises(ValueError, match="^sample: 'nope.png' is not a bundled sample"):
        comfy.samples.SampleImage.execute(sample="nope.png")
