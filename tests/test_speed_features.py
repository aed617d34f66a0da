"""The speed options keep results right: dtype, channels_last, the scale ladder, the allocator setting.

No timings here (benchmarks/ measures speed); these check that each fast
path computes what the plain path computes, within a stated tolerance.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import torch

from nst_nodes.cli import build_parser
from nst_nodes.cli.common import run_settings_from_args
from nst_nodes.core import allocator, precision
from nst_nodes.core import transfer as transfer_module
from nst_nodes.core.errors import InputError
from nst_nodes.core.losses import gram_matrix
from nst_nodes.core.run_setup import build_objective
from nst_nodes.core.optimize import optimize_pixels
from nst_nodes.core.settings import LossSettings, RunSettings
from nst_nodes.core.transfer import stylize
from nst_nodes.core.precision import FP16_LOSS_SCALE, compute_dtype, cpu_has_native_bf16
from nst_nodes.core.scales import LADDER_FROM, LADDER_RATIO, LADDER_START, parse_scales, scale_ladder, split_steps
from nst_nodes.core.style import StyleSpec

from helpers import pil_resize, settings

FAST = dict(size=48, content_layers=("relu3_1",), style_layers=("relu1_1", "relu2_1", "relu3_1"), style_weight=10.0)
LAYERS = ["relu1_1", "relu2_1", "relu3_1"]
CPU = torch.device("cpu")


def _cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.nn.functional.cosine_similarity(a.flatten(), b.flatten(), dim=0))


# ---------------------------------------------------------------- dtype


def test_bf16_on_cpu_gives_finite_losses_close_to_fp32(vgg_model, small_images):
    content, style = small_images
    runs = {
        dtype: stylize(vgg_model, content, StyleSpec([style]), *settings(**FAST, steps=6, optimizer="adam", dtype=dtype))
        for dtype in ("fp32", "bf16")
    }
    fp32, bf16 = (runs[d].metrics for d in ("fp32", "bf16"))
    assert bf16.params["compute_dtype"] == "bf16" and fp32.params["compute_dtype"] == "fp32"
    assert all(torch.isfinite(torch.tensor(list(record.values()))).all() for record in bf16.history)
    # Same starting image: bf16 rounds each conv output to 8 significant bits
    # (relative error 2**-9, 0.2 %); losses are means, so the errors mostly
    # average out. Measured 0.03 %; 1 % leaves room across CPUs.
    assert bf16.history[0]["total"] == pytest.approx(fp32.history[0]["total"], rel=0.01)
    # After 6 Adam steps the paths have diverged a little (measured 0.2 % after 10; L-BFGS, which
    # amplifies any difference through its curvature pairs, is no test of the arithmetic).
    assert bf16.final["total"] == pytest.approx(fp32.final["total"], rel=0.1)
    assert bf16.final["total"] < 0.9 * bf16.history[0]["total"]


def test_bf16_extractor_converts_its_own_copy_of_the_weights_once(vgg_model):
    extractor = vgg_model.extractor(LAYERS, CPU, channels_last=True, compute_dtype=torch.bfloat16)
    assert {p.dtype for p in extractor.trunk.parameters()} == {torch.bfloat16}
    assert {p.dtype for p in vgg_model.features.parameters()} == {torch.float32}  # the shared model is untouched
    image = torch.rand(1, 3, 40, 40, generator=torch.Generator().manual_seed(6))
    features = extractor(image)
    assert all(f.dtype == torch.bfloat16 and f.is_contiguous(memory_format=torch.channels_last) for f in features.values())
    reference = vgg_model.extractor(LAYERS, CPU)(image)
    for layer in LAYERS:  # bf16 keeps 8 significant bits per layer; the maps agree to a few per cent
        assert _cosine(features[layer].float(), reference[layer]) > 0.999, layer


def test_fp16_on_cpu_is_refused_with_a_way_out(vgg_model, small_images):
    content, style = small_images
    with pytest.raises(InputError, match="dtype: fp16 .* use bf16"):
        stylize(vgg_model, content, StyleSpec([style]), *settings(**FAST, steps=1, dtype="fp16"))
    with pytest.raises(InputError, match="dtype: 'fp64' is not one of auto, fp32, bf16, fp16"):
        RunSettings(dtype="fp64")


@pytest.mark.parametrize(("native", "expected"), [(True, torch.bfloat16), (False, None)])
def test_auto_dtype_on_cpu_is_bf16_only_with_native_bf16(monkeypatch, native, expected):
    """Both kinds of CPU, whichever one runs the test: README's `auto` is bf16 with native bf16, fp32 (None) without."""
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: native)
    assert compute_dtype("auto", CPU) is expected
    assert compute_dtype("bf16", CPU) == torch.bfloat16 and compute_dtype("fp32", CPU) is None


@pytest.mark.parametrize(
    ("flags", "native"),
    [
        ("fpu sse2 avx2 avx512f avx512bw avx512_bf16 avx512_vnni", True),  # AMD Zen 4, Intel Cooper Lake
        ("fpu sse2 avx2 avx512f amx_bf16 amx_tile", True),  # Intel Sapphire Rapids
        ("fpu sse2 avx2 avx512f avx512bw avx512_vnni", False),  # AVX-512 without bf16: emulated
        ("fpu sse2 avx2", False),
    ],
)
def test_native_bf16_is_read_from_the_cpu_flags(tmp_path, flags, native):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: {flags}\n\nprocessor\t: 1\nflags\t\t: {flags}\n")
    assert cpu_has_native_bf16(str(cpuinfo)) is native
    assert cpu_has_native_bf16(str(tmp_path / "missing")) is False  # not Linux: fp32 stays the default


def test_fp16_loss_scaling_keeps_small_gradients(vgg_model, small_images):
    """fp16 flushes VGG's small gradients to zero; the scaled backward pass recovers fp32's step.

    The CPU runs fp16 convolutions too (slowly), which lets this check the GPU path's scaling.
    """
    content, style = small_images
    generator = torch.Generator().manual_seed(3)
    init = (content + 0.2 * (torch.rand(content.shape, generator=generator) - 0.5)).clamp(0, 1)
    loss = LossSettings(content_layers=("relu2_1",), style_layers=("relu1_1",), content_weight=1e-3, style_weight=0)

    def step(dtype: torch.dtype | None, scale: float) -> torch.Tensor:
        extractor = vgg_model.extractor(["relu1_1", "relu2_1"], CPU, compute_dtype=dtype)
        objective = build_objective(extractor, content, StyleSpec([style]), loss, CPU)
        return optimize_pixels(objective, init, 1, "adam", 0.02, backward_scale=scale).image - init

    reference, flushed, scaled = step(None, 1.0), step(torch.float16, 1.0), step(torch.float16, FP16_LOSS_SCALE)
    assert reference.abs().max() > 0
    assert torch.count_nonzero(flushed) == 0  # every gradient underflowed: Adam did not move
    assert _cosine(scaled, reference) > 0.99  # measured 0.9998


# ---------------------------------------------------------------- Gram matrices


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_gram_backward_matches_the_numerical_gradient_and_keeps_the_layout(layout):
    features = torch.randn(2, 5, 4, 3, dtype=torch.float64).contiguous(memory_format=layout).requires_grad_(True)
    assert torch.autograd.gradcheck(gram_matrix, (features,))
    (gram_matrix(features) * torch.randn(2, 5, 5, dtype=torch.float64)).sum().backward()
    assert features.grad.is_contiguous(memory_format=layout)  # no reorder for the conv below


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_gram_of_bf16_features_is_fp32_with_a_bf16_gradient(layout):
    generator = torch.Generator().manual_seed(5)
    features = torch.randn(1, 8, 6, 6, generator=generator).bfloat16().contiguous(memory_format=layout)
    features.requires_grad_(True)
    gram = gram_matrix(features)
    assert gram.dtype == torch.float32
    # The CPU multiplies bf16 maps in bf16 with fp32 sums: only the result is
    # rounded, to 8 significant bits (relative error at most 2**-8).
    exact = gram_matrix(features.detach().double())
    assert torch.allclose(gram.double(), exact, rtol=2**-8, atol=1e-6)
    weights = torch.randn(1, 8, 8, generator=generator)
    (gram * weights).sum().backward()
    assert features.grad.dtype == torch.bfloat16 and features.grad.is_contiguous(memory_format=layout)
    wide = features.detach().double().requires_grad_(True)
    (gram_matrix(wide) * weights.double()).sum().backward()
    assert _cosine(features.grad.double(), wide.grad) > 0.999


@pytest.mark.parametrize("batch", [1, 3])
def test_gram_is_the_same_for_either_layout(batch):
    """Property: the memory layout (and the view taken for a batch of one) never changes the Gram."""
    generator = torch.Generator().manual_seed(batch)
    features = torch.randn(batch, 16, 9, 7, generator=generator, dtype=torch.float64)
    nchw = gram_matrix(features)
    nhwc = gram_matrix(features.contiguous(memory_format=torch.channels_last))
    flat = features.reshape(batch, 16, 63)
    torch.testing.assert_close(nhwc, nchw)
    torch.testing.assert_close(nchw, flat @ flat.transpose(1, 2) / (16 * 63))


# ---------------------------------------------------------------- channels_last


def test_channels_last_gives_the_same_losses_and_gradient(vgg_model, small_images):
    content, style = small_images
    _, loss = settings(**FAST)
    generator = torch.Generator().manual_seed(4)
    image = torch.rand(content.shape, generator=generator)
    results = {}
    for channels_last in (False, True):
        extractor = vgg_model.extractor(LAYERS, CPU, channels_last=channels_last)
        objective = build_objective(extractor, content, StyleSpec([style]), loss, CPU)
        pixels = image.clone().requires_grad_(True)
        terms = objective(pixels)
        terms["total"].sum().backward()
        features = extractor(image)["relu2_1"]
        assert features.is_contiguous(memory_format=torch.channels_last) == channels_last
        results[channels_last] = ({k: float(v.detach()) for k, v in terms.items()}, pixels.grad)
    (plain_terms, plain_grad), (fast_terms, fast_grad) = results[False], results[True]
    for key, value in plain_terms.items():
        assert fast_terms[key] == pytest.approx(value, rel=1e-4, abs=1e-9), key
    assert torch.allclose(fast_grad, plain_grad, rtol=1e-3, atol=1e-6 * float(plain_grad.abs().max()))


def test_optimised_image_stays_nchw_under_lbfgs(vgg_model, small_images):
    content, style = small_images
    seen = []
    result = stylize(
        vgg_model,
        content,
        StyleSpec([style]),
        *settings(**FAST, steps=3, optimizer="lbfgs"),
        on_step=lambda info: seen.append(info.preview().is_contiguous()),
    )
    assert result.metrics.params["channels_last"] is True  # the CPU's fast layout is in use
    assert seen == [True] * 3 and result.image.is_contiguous()


# ---------------------------------------------------------------- the scale ladder

SHAPES = [(512, 512), (300, 500), (1024, 768), (257, 129), (40, 900), (181, 181), (182, 100), (64, 64)]


@pytest.mark.parametrize("output_hw", SHAPES)
def test_ladder_grows_by_sqrt2_to_the_requested_size_keeping_the_aspect(output_hw):
    ladder = scale_ladder(output_hw, "on")
    assert ladder[-1] == output_hw
    height, width = output_hw
    for (h1, w1), (h2, w2) in zip(ladder, ladder[1:]):
        assert h1 <= h2 and w1 <= w2 and h1 * w1 < h2 * w2
        assert max(h2, w2) / max(h1, w1) == pytest.approx(LADDER_RATIO, abs=0.02)
    for h, w in ladder:
        assert min(h, w) >= 32
        assert abs(h * width - w * height) <= max(height, width)  # aspect kept to within rounding
    if len(ladder) > 1:
        assert LADDER_START <= max(ladder[0]) < LADDER_START * LADDER_RATIO
    else:
        assert max(output_hw) < LADDER_START * LADDER_RATIO or min(output_hw) * LADDER_START / max(output_hw) < 32


def test_auto_climbs_the_ladder_from_the_measured_size_on():
    assert scale_ladder((LADDER_FROM - 1, LADDER_FROM - 1), "auto") == [(LADDER_FROM - 1, LADDER_FROM - 1)]
    assert scale_ladder((LADDER_FROM, 500), "auto") == scale_ladder((LADDER_FROM, 500), "on")
    assert len(scale_ladder((LADDER_FROM, 500), "auto")) > 1


def test_explicit_and_off_ladders():
    assert scale_ladder((384, 512), "off") == [(384, 512)]
    assert scale_ladder((384, 512), "128,256") == [(96, 128), (192, 256), (384, 512)]
    assert scale_ladder((384, 512), [128, 512]) == [(96, 128), (384, 512)]
    assert parse_scales(" AUTO ") == "auto" and parse_scales("64, 128") == (64, 128)
    for bad, message in (("256,128", "must increase"), ("abc", "not auto, on, off"), ("16", "outside"), ([], "empty")):
        with pytest.raises(InputError, match=message):
            parse_scales(bad)
    with pytest.raises(InputError, match="beyond the result's longest side"):
        scale_ladder((384, 512), "640")


@pytest.mark.parametrize("steps", [1, 2, 5, 37, 300, 1000])
def test_steps_split_sums_to_the_total_with_most_at_small_scales(steps):
    ladder = scale_ladder((512, 512), "on")
    counts = split_steps(ladder, steps)
    assert sum(counts) == steps and len(counts) == len(ladder)
    assert counts[-1] >= 1 and min(counts) >= 0
    assert all(a >= b for a, b in zip(counts[:-1], counts[1:-1]))  # remainder aside, coarser scales get more
    if steps >= 100:
        assert counts[0] > counts[-1] and sum(counts[:-1]) > steps / 2


def test_coarse_to_fine_warm_starts_and_counts_steps_over_all_scales(vgg_model, small_images, monkeypatch):
    content, style = small_images
    calls = []
    real = transfer_module.optimize_pixels

    def spy(objective, init, steps, **kwargs):
        result = real(objective, init, steps, **kwargs)
        calls.append((init.clone(), result.image.clone(), kwargs["first_step"]))
        return result

    monkeypatch.setattr(transfer_module, "optimize_pixels", spy)
    seen = []
    chosen = settings(**{**FAST, "size": 96}, steps=6, scales="64", optimizer="adam")
    result = stylize(
        vgg_model, content, StyleSpec([style]), *chosen, on_step=lambda info: seen.append((info.step, info.total, info.preview().shape))
    )
    assert [tuple(init.shape[-2:]) for init, _, _ in calls] == [(48, 64), (72, 96)]
    assert [first for _, _, first in calls] == [0, 3]
    # The second scale starts from the first scale's result, upsampled (as PIL's bicubic does it): the warm start.
    torch.testing.assert_close(calls[1][0], pil_resize(calls[0][1], (72, 96)), atol=1e-5, rtol=0)
    assert seen == [(step, 6, (1, 3, 72, 96)) for step in range(1, 7)]
    metrics = result.metrics
    assert metrics.steps == 6 and [s["size"] for s in metrics.scales] == [[48, 64], [72, 96]]
    assert [s["steps"] for s in metrics.scales] == [3, 3] and metrics.params["scales"] == (64,)
    assert [record["step"] for record in metrics.history] == list(range(7))
    assert result.image.shape == (1, 3, 72, 96)


# ---------------------------------------------------------------- CLI


def test_cli_passes_dtype_and_scales():
    args = build_parser().parse_args(
        ["stylize", "--content", "c.png", "--style", "s.png", "--out", "o.png", "--dtype", "bf16", "--scales", "128,256"]
    )
    chosen = run_settings_from_args(args)
    assert chosen.dtype == "bf16" and scale_ladder((512, 512), chosen.scales)[0] == (128, 128)
    defaults = run_settings_from_args(build_parser().parse_args(["stylize", "--content", "c", "--style", "s", "--out", "o"]))
    assert (defaults.dtype, defaults.scales) == ("auto", "auto")  # README's knob table


# ---------------------------------------------------------------- allocator


class _FakeLibc:
    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []

    def mallopt(self, param: int, value: int) -> int:
        self.calls.append((param, value))
        return 1


def test_allocator_setting_is_a_no_op_off_glibc(monkeypatch):
    monkeypatch.setattr(allocator, "_applied", False)
    monkeypatch.setattr(allocator.platform, "libc_ver", lambda: ("", ""))

    def no_library(*args, **kwargs):
        raise AssertionError("no C library may be loaded off glibc")

    monkeypatch.setattr(allocator.ctypes, "CDLL", no_library)
    assert allocator.tune_allocator() is False and allocator.trim_allocator() is False


def test_allocator_setting_is_idempotent(monkeypatch):
    libc = _FakeLibc()
    monkeypatch.setattr(allocator, "_applied", False)
    monkeypatch.setattr(allocator, "_glibc", lambda: libc)
    assert allocator.tune_allocator() is True and allocator.tune_allocator() is True
    assert len(libc.calls) == 3  # applied once


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_allocator_setting_stops_page_faults_on_a_reused_large_block():
    """A freed 64 MiB block is unmapped by default and faulted in again; with the setting it stays."""
    script = textwrap.dedent(
        """
        import ctypes, importlib.util, resource, sys
        spec = importlib.util.spec_from_file_location("allocator", sys.argv[2])  # no torch import: fast
        allocator = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(allocator)
        if sys.argv[1] == "on":
            assert allocator.tune_allocator()
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc.restype = ctypes.c_void_p
        size = 64 * 2**20

        def use_a_block():
            block = libc.malloc(ctypes.c_size_t(size))
            ctypes.memset(block, 1, size)
            libc.free(ctypes.c_void_p(block))

        for _ in range(2):  # warm up: the heap settles
            use_a_block()
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(4):
            use_a_block()
        print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
        """
    )
    faults = {}
    for mode in ("off", "on"):
        command = [sys.executable, "-c", script, mode, allocator.__file__]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        faults[mode] = int(done.stdout.split()[-1])
    # Off: every block is faulted in again (16384 pages each, fewer with transparent huge pages).
    assert faults["off"] > 10 * (faults["on"] + 10), faults
