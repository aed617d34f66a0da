"""Which arithmetic and memory layout a run uses on a device.

In bf16 or fp16 the VGG trunk's weights and activations are converted once
per run; Grams come out in fp32 and losses are fp32 (losses.py). `auto`
asks of reduced precision that it costs no quality at equal wall time; the
README's speed section has the measurements this rests on (step time and
loss of bf16 against fp32 on this project's CPU). So `auto` means bf16 on
CPUs with native bf16 instructions, fp32 on other CPUs (they emulate bf16)
and on MPS (not measured). On CUDA, `auto` takes bf16 where the GPU
supports it, the usual mixed-precision trade, and fp32 elsewhere: fp16's
range needs the loss scaling that optimize_pixels applies, which has not
been measured on a GPU here, so `auto` never picks fp16.
"""

from __future__ import annotations

import functools
from pathlib import Path

import torch

from .checks import check_choice
from .errors import InputError

DTYPE_CHOICES = ("auto", "fp32", "bf16", "fp16")
_REDUCED = {"bf16": torch.bfloat16, "fp16": torch.float16}
# fp16 gradients of the loss at VGG's early layers are around 1e-9 for a loss
# of about 1, below fp16's smallest subnormal (6e-8); the backward pass runs
# on the loss scaled so that it starts at this value, and the gradient is
# scaled back. Image gradients then stay far from fp16's 65504 limit.
FP16_LOSS_SCALE = 2.0**16


def compute_dtype(choice: str, device: torch.device) -> torch.dtype | None:
    """The dtype of the VGG trunk's arithmetic for a `dtype` setting, None for fp32.

    fp16 on the CPU is refused: it is emulated there and slower than fp32,
    and bf16 is the CPU's fast format.
    """
    check_choice(choice, DTYPE_CHOICES, "dtype")
    if choice == "auto":
        if device.type == "cuda" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        if device.type == "cpu" and cpu_has_native_bf16():
            return torch.bfloat16
        return None
    if choice == "fp16" and device.type == "cpu":
        raise InputError(
            "fp16 is a GPU format and is slower than fp32 on the CPU; use bf16 for the fast mode or fp32", "dtype"
        )
    return _REDUCED.get(choice)


@functools.cache
def cpu_has_native_bf16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether this CPU multiplies bf16 in hardware (x86 avx512_bf16 or AMX), as Linux reports it.

    Elsewhere (macOS, Windows, ARM) the answer is False: bf16 stays a choice
    there until it is measured.
    """
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return False
    flags = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags.update(line.partition(":")[2].split())
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def dtype_name(dtype: torch.dtype | None) -> str:
    """'fp32', 'bf16' or 'fp16': how metrics name a compute dtype."""
    return {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(dtype, "fp32") if dtype is not None else "fp32"


def prefers_channels_last(device: torch.device, dtype: torch.dtype | None = None) -> bool:
    """Whether VGG runs faster on NHWC activations on this device with this compute dtype.

    CPU: a step takes less time (oneDNN's convolutions are NHWC-native;
    README, speed section). CUDA: cuDNN's tensor-core kernels for
    bf16/fp16 are NHWC; fp32 keeps NCHW, where NHWC is not reliably faster.
    MPS: not measured, so its default layout is kept.
    """
    if device.type == "cpu":
        return True
    return device.type == "cuda" and dtype is not None


def feature_bytes(dtype: torch.dtype | None) -> int:
    """Bytes of one feature value in the VGG passes: 2 for bf16/fp16, 4 for fp32 (None)."""
    return 4 if dtype is None else torch.finfo(dtype).bits // 8
