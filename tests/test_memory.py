"""The memory estimate refuses runs that cannot fit, before allocating anything."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from nst_nodes.core.errors import InputError
from nst_nodes.core import memory
from nst_nodes.core.memory import check_fits, estimate_run_bytes
from nst_nodes.core.transfer import stylize
from nst_nodes.core.style import StyleSpec

from helpers import settings

LAYERS = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu4_2", "relu5_1"]


def test_estimate_grows_with_pixels_and_optimizer_history():
    small = estimate_run_bytes(256, 256, LAYERS, "adam")
    large = estimate_run_bytes(512, 512, LAYERS, "adam")
    assert 3.0 < (large - 280 * 2**20) / (small - 280 * 2**20) < 4.5
    assert estimate_run_bytes(512, 512, LAYERS, "lbfgs") > large
    assert estimate_run_bytes(512, 512, ["relu1_1"], "adam") < large
    assert estimate_run_bytes(256, 256, LAYERS, "adam", batch=4) > 3 * small - 3 * 280 * 2**20


def test_refusal_names_size_and_suggests_one_that_fits():
    free = 2 * 2**30
    with pytest.raises(InputError, match=r"size: a 2048x2048 run needs about .* GiB but cpu has 2.0 GiB free; use a size of (\d+) px") as info:
        check_fits(2048, 2048, LAYERS, "adam", torch.device("cpu"), available=free)
    suggested = int(str(info.value).split("use a size of ")[1].split(" px")[0])
    assert 32 <= suggested < 2048
    check_fits(suggested, suggested, LAYERS, "adam", torch.device("cpu"), available=free)


def test_huge_run_refused_before_allocation(vgg_model, monkeypatch):
    monkeypatch.setattr(memory, "available_bytes", lambda device: 4 * 2**30)
    content = torch.rand(1, 3, 64, 64)
    chosen = settings(exact=(8192, 8192), steps=1)
    with pytest.raises(InputError, match="8192x8192 run needs about .* even in tiles"):
        stylize(vgg_model, content, StyleSpec([content]), *chosen)


def test_estimate_bounds_measured_peak(vgg_path):
    """Run a real step in a fresh process and compare its peak RSS growth with the estimate."""
    code = f"""
import resource, torch
from nst_nodes.core.vgg import VGGModel
from nst_nodes.core.weights import load_model
from nst_nodes.core.settings import RunSettings
from nst_nodes.core.transfer import stylize
from nst_nodes.core.style import StyleSpec
model = load_model({str(vgg_path)!r})
content = torch.rand(1, 3, 320, 320)
import gc
gc.collect()
base = int([l for l in open("/proc/self/status") if l.startswith("VmRSS:")][0].split()[1])
stylize(model, content, StyleSpec([content]), RunSettings(size=320, steps=2))
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) * 1024)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    measured = int(out.stdout.strip().splitlines()[-1])
    estimate = estimate_run_bytes(320, 320, ["relu4_2", "relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"], "lbfgs")
    assert measured < estimate < 4 * measured + 300 * 2**20


def test_estimate_knows_vgg16_is_smaller():
    """VGG16 has one conv fewer in each of blocks 3-5: fewer activations to keep, and it has no relu5_4."""
    from nst_nodes.core.vgg import VGG16, VGG19

    vgg16 = estimate_run_bytes(512, 512, LAYERS, "adam", architecture=VGG16)
    vgg19 = estimate_run_bytes(512, 512, LAYERS, "adam", architecture=VGG19)
    assert 0.6 * vgg19 < vgg16 < 0.95 * vgg19
    with pytest.raises(InputError, match="VGG16"):
        estimate_run_bytes(512, 512, ["relu5_4"], "adam", architecture=VGG16)
