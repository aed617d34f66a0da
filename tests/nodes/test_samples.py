"""The bundled sample images as an IMAGE and the sample clip as a VIDEO (nodes/samples.py)."""

from __future__ import annotations

import pytest
import torch


def test_sample_image(comfy):
    image = comfy.samples.SampleImage.execute(sample="content.png")[0]
    assert image.shape == (1, 256, 256, 3) and image.dtype == torch.float32
    assert 0 <= float(image.min()) and float(image.max()) <= 1
    with pytest.raises(ValueError, match="^sample: 'nope.png' is not a bundled sample"):
        comfy.samples.SampleImage.execute(sample="nope.png")


def test_sample_video_is_a_video_as_load_video_gives(comfy):
    """What Get Video Components reads: the bundled clip's 12 frames of 160 x 120 px at 8 fps."""
    video = comfy.samples.SampleVideo.execute(sample="clip.mp4")[0]
    components = video.get_components()
    assert components.images.shape == (12, 120, 160, 3) and float(components.frame_rate) == 8
    assert video.get_dimensions() == (160, 120) and components.audio is None
    with pytest.raises(ValueError, match="^sample: 'nope.mp4' is not a bundled clip"):
        comfy.samples.SampleVideo.execute(sample="nope.mp4")
