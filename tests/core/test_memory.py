"""The memory estimate and plan (core/memory.py): runs that cannot fit are refused before allocating, others tiled."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from nst_nodes.core import memory
from nst_nodes.core.errors import InputError
from nst_nodes.core.memory import Footprint, check_fits, estimate_run_bytes, plan_memory
from nst_nodes.core.style import StyleSpec
from nst_nodes.core.transfer import stylize
from nst_nodes.core.vgg import VGG19

from helpers import content_and_stripes, settings

LAYERS = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu4_2", "relu5_1"]
CPU = torch.device("cpu")
NEEDS = Footprint(["relu4_2", "relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"], ["relu4_2"], "adam")


def test_estimate_grows_with_pixels_and_optimizer_history():
    small = estimate_run_bytes((256, 256), Footprint(LAYERS, optimizer="adam"))
    large = estimate_run_bytes((512, 512), Footprint(LAYERS, optimizer="adam"))
    assert 3.0 < (large - 280 * 2**20) / (small - 280 * 2**20) < 4.5
    assert estimate_run_bytes((512, 512), Footprint(LAYERS, optimizer="lbfgs")) > large
    assert estimate_run_bytes((512, 512), Footprint(["relu1_1"], optimizer="adam")) < large
    assert estimate_run_bytes((256, 256), Footprint(LAYERS, optimizer="adam", batch=4)) > 3 * small - 3 * 280 * 2**20


def test_the_self_similarity_matrices_are_counted_and_bounded_whatever_the_size():
    from dataclasses import replace

    from nst_nodes.core.run_setup import footprint
    from nst_nodes.core.settings import LossSettings

    paired = footprint(VGG19, LossSettings(content_loss="self-similarity"), "adam", None)
    assert paired.paired_positions == 1024 and footprint(VGG19, LossSettings(), "adam", None).paired_positions == 0
    plain = replace(paired, paired_positions=0)
    small = (128, 128)  # relu4_2: 16 x 16 = 256 positions, all paired
    assert estimate_run_bytes(small, paired) - estimate_run_bytes(small, plain) == 16 * 256**2
    for hw in ((512, 512), (2048, 2048)):  # 4096 and 65536 positions: 1024 of them paired
        assert estimate_run_bytes(hw, paired) - estimate_run_bytes(hw, plain) == 16 * 1024**2


def test_refusal_names_size_and_suggests_one_that_fits():
    free = 2 * 2**30
    with pytest.raises(InputError, match=r"size: a 2048x2048 run needs about .* GiB but cpu has 2.0 GiB free; use a size of (\d+) px") as info:
        check_fits((2048, 2048), Footprint(LAYERS, optimizer="adam"), torch.device("cpu"), available=free)
    suggested = int(str(info.value).split("use a size of ")[1].split(" px")[0])
    assert 32 <= suggested < 2048
    check_fits((suggested, suggested), Footprint(LAYERS, optimizer="adam"), torch.device("cpu"), available=free)


def test_huge_run_refused_before_allocation(vgg_model, monkeypatch):
    monkeypatch.setattr(memory, "available_bytes", lambda device: 4 * 2**30)
    content = torch.rand(1, 3, 64, 64)
    chosen = settings(exact=(8192, 8192), steps=1)
    with pytest.raises(InputError, match="8192x8192 run needs about .* even in tiles"):
        stylize(vgg_model, content, StyleSpec([content]), *chosen)


@pytest.mark.parametrize("style_loss", ["gram", "sliced"])
def test_estimate_bounds_measured_peak(vgg_path, style_loss):
    """Run a real step in a fresh process and compare its peak growth of anonymous memory with the estimate.

    Anonymous memory is what a run allocates. The whole RSS also counts the
    pages of torch's libraries, which the kernel drops and maps again under
    memory pressure (a long test session): measured so, the same run's growth
    read twice as large there as alone. A thread samples RssAnon every
    millisecond; a step's activations live for far longer than that.
    """
    code = f"""
import threading, time, torch
from nst_nodes.core.weights import load_model
from nst_nodes.core.settings import LossSettings, RunSettings
from nst_nodes.core.transfer import stylize
from nst_nodes.core.style import StyleSpec

def anonymous():
    return int([l for l in open("/proc/self/status") if l.startswith("RssAnon:")][0].split()[1]) * 1024

model = load_model({str(vgg_path)!r})
content = torch.rand(1, 3, 320, 320)
import gc
gc.collect()
base, peak, done = anonymous(), [0], threading.Event()
def sample():
    while not done.is_set():
        peak[0] = max(peak[0], anonymous())
        time.sleep(0.001)
sampler = threading.Thread(target=sample)
sampler.start()
stylize(model, content, StyleSpec([content]), RunSettings(size=320, steps=2), LossSettings(style_loss={style_loss!r}))
done.set()
sampler.join()
print(max(peak[0], anonymous()) - base)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    measured = int(out.stdout.strip().splitlines()[-1])
    style_layers = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]
    sliced = dict(style_layers=style_layers, style_working_bytes=16) if style_loss == "sliced" else {}
    estimate = estimate_run_bytes((320, 320), Footprint(["relu4_2", *style_layers], optimizer="lbfgs", **sliced))
    assert measured < estimate < 4 * measured + 300 * 2**20


def test_estimate_knows_vgg16_is_smaller():
    """VGG16 has one conv fewer in each of blocks 3-5: fewer activations to keep, and it has no relu5_4."""
    from nst_nodes.core.vgg import VGG16, VGG19

    vgg16 = estimate_run_bytes((512, 512), Footprint(LAYERS, optimizer="adam", architecture=VGG16))
    vgg19 = estimate_run_bytes((512, 512), Footprint(LAYERS, optimizer="adam", architecture=VGG19))
    assert 0.6 * vgg19 < vgg16 < 0.95 * vgg19
    with pytest.raises(InputError, match="VGG16"):
        estimate_run_bytes((512, 512), Footprint(["relu5_4"], optimizer="adam", architecture=VGG16))


def _free_between(low: int, high: int) -> int:
    return (low + high) // 2


def test_a_size_that_only_fits_tiled_runs_tiled(vgg_model, monkeypatch):
    """With free memory between the tiled and the whole estimate, the run tiles itself and finishes."""
    hw, layers = (320, 320), ["relu3_1", "relu1_1", "relu2_1"]  # shallow layers: short halos, a cheap test
    needs = Footprint(layers, ["relu3_1"], "adam", VGG19)
    whole = memory.estimate_run_bytes(hw, needs)
    tiled = memory.estimate_tiled_bytes(hw, 256, needs)
    assert tiled < whole
    monkeypatch.setattr(memory, "available_bytes", lambda device: _free_between(tiled, whole))
    content, style = content_and_stripes(hw)
    chosen = settings(exact=hw, steps=2, dtype="fp32", content_layers=["relu3_1"], style_layers=layers[1:] + ["relu3_1"])
    result = stylize(vgg_model, content, StyleSpec([style]), *chosen)
    assert result.metrics.scales[-1]["tile"] == 256
    assert tiled <= result.metrics.params["estimated_bytes"] < whole
    assert torch.isfinite(result.image).all()


def test_a_size_that_cannot_fit_is_refused_naming_the_largest_that_does(monkeypatch):
    free = 3 * 2**30
    with pytest.raises(InputError, match=r"size: a 8192x8192 run needs about .* GiB even in tiles of 256 px but cpu has 3.0 GiB free; use a size of (\d+) px") as info:
        plan_memory((8192, 8192), NEEDS, CPU, available=free)
    largest = int(str(info.value).split("use a size of ")[1].split(" px")[0])
    assert plan_memory((largest, largest), NEEDS, CPU, available=free).tile is not None
    with pytest.raises(InputError):
        plan_memory((largest + 16, largest + 16), NEEDS, CPU, available=free)


def test_plan_is_whole_when_it_fits_and_an_asked_tile_is_kept():
    assert plan_memory((512, 512), NEEDS, CPU, available=2**40).tile is None
    assert plan_memory((512, 512), NEEDS, CPU, tile=256, available=2**40).tile == 256
    assert plan_memory((200, 200), NEEDS, CPU, tile=256, available=2**40).tile is None
