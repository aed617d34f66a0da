"""Arithmetic and memory layout (core/precision.py): bf16, fp16 with loss scaling and channels_last compute what fp32 does.

No timings here (benchmarks/ measures speed); these check that each fast
path computes what the plain path computes, within a stated tolerance.
"""

from __future__ import annotations

import pytest
import torch

from nst_nodes.core import precision
from nst_nodes.core.errors import InputError
from nst_nodes.core.optimize import optimize_pixels
from nst_nodes.core.precision import FP16_LOSS_SCALE, compute_dtype, cpu_has_native_bf16
from nst_nodes.core.settings import LossSettings, RunSettings
from nst_nodes.core.style import StyleSpec
from nst_nodes.core.transfer import stylize

from helpers import cosine, objective_for, settings

FAST = dict(size=48, content_layers=("relu3_1",), style_layers=("relu1_1", "relu2_1", "relu3_1"), style_weight=10.0)
LAYERS = ["relu1_1", "relu2_1", "relu3_1"]
CPU = torch.device("cpu")


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
        assert cosine(features[layer].float(), reference[layer]) > 0.999, layer


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
        objective = objective_for(extractor, content, StyleSpec([style]), loss)
        return optimize_pixels(objective, init, 1, "adam", 0.02, backward_scale=scale).image - init

    reference, flushed, scaled = step(None, 1.0), step(torch.float16, 1.0), step(torch.float16, FP16_LOSS_SCALE)
    assert reference.abs().max() > 0
    assert torch.count_nonzero(flushed) == 0  # every gradient underflowed: Adam did not move
    assert cosine(scaled, reference) > 0.99  # measured 0.9998


def test_channels_last_gives_the_same_losses_and_gradient(vgg_model, small_images):
    content, style = small_images
    _, loss = settings(**FAST)
    generator = torch.Generator().manual_seed(4)
    image = torch.rand(content.shape, generator=generator)
    results = {}
    for channels_last in (False, True):
        extractor = vgg_model.extractor(LAYERS, CPU, channels_last=channels_last)
        objective = objective_for(extractor, content, StyleSpec([style]), loss)
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
