"""The guard every run goes through (core/guard.py): out of memory as a clear error, other errors as they are, inference mode."""

from __future__ import annotations

import pytest
import torch

from nst_nodes.core.errors import OutOfMemoryError
from nst_nodes.core.style import StyleSpec
from nst_nodes.core.transfer import stylize
from nst_nodes.core.vgg import FeatureExtractor

from helpers import FAST, settings

SMALL = dict(size=48, steps=4, content_layers=("relu2_1",), style_layers=("relu1_1", "relu2_1"))


def test_out_of_memory_is_reported_and_the_next_run_works(vgg_model, small_images, monkeypatch):
    content, style = small_images
    real_stream = FeatureExtractor.stream  # forward and the run's losses both go through it
    calls = []

    def failing_stream(self, image):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory")
        return real_stream(self, image)

    monkeypatch.setattr(FeatureExtractor, "stream", failing_stream)
    with pytest.raises(OutOfMemoryError, match="out of memory on cpu at size 48; use a smaller size"):
        stylize(vgg_model, content, StyleSpec([style]), *settings(**SMALL))
    monkeypatch.setattr(FeatureExtractor, "stream", real_stream)
    result = stylize(vgg_model, content, StyleSpec([style]), *settings(**SMALL))
    assert torch.isfinite(result.image).all()


def test_other_runtime_errors_are_not_disguised(vgg_model, small_images, monkeypatch):
    content, style = small_images

    def broken(self, image):
        raise RuntimeError("a real bug")

    monkeypatch.setattr(FeatureExtractor, "forward", broken)
    with pytest.raises(RuntimeError, match="a real bug"):
        stylize(vgg_model, content, StyleSpec([style]), *settings(**SMALL))


def test_inputs_untouched_and_inference_mode_ok(vgg_model, small_images):
    content, style = small_images
    content_copy, style_copy = content.clone(), style.clone()
    with torch.inference_mode():
        frozen_content, frozen_style = content.clone(), style.clone()
        result = stylize(vgg_model, frozen_content, StyleSpec([frozen_style]), *settings(**FAST, steps=3))
    assert torch.equal(frozen_content, content_copy) and torch.equal(frozen_style, style_copy)
    assert result.image.shape == (1, 3, 36, 48)
    assert all(not p.requires_grad for p in vgg_model.features.parameters())
