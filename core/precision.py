"""Which arithmetic and memory layout a run uses on a device.

bf16 autocast runs VGG's convolutions in bf16; Grams and losses stay fp32.
Measured on this project's 2-core AMD EPYC (native bf16, torch 2.14, see
benchmarks/run.py): a step is about 1.65x faster; with Adam the loss after
300 steps at 256 px is 1 % higher at equal steps and 6-14 % lower at equal
wall time. The issue that asked for this option measured the loss stalling
25 % higher over 200 steps, and L-BFGS, the default optimiser, builds its
curvature model from gradient differences that bf16 rounding blurs; CPUs
without bf16 instructions emulate it (not measured here). So on the CPU (and MPS,
not measured) `auto` means fp32 and bf16 is the user's choice. On CUDA,
`auto` takes bf16 where the GPU supports it, the usual mixed-precision
trade, and fp32 elsewhere: fp16's range needs the loss scaling that
optimize_pixels applies, which has not been measured on a GPU here, so
`auto` never picks fp16.
"""

from __future__ import annotations

import torch

from .errors import InputError

DTYPE_CHOICES = ("auto", "fp32", "bf16", "fp16")
_REDUCED = {"bf16": torch.bfloat16, "fp16": torch.float16}
# fp16 gradients of the loss at VGG's early layers are around 1e-9 for a loss
# of about 1, below fp16's smallest subnormal (6e-8); the backward pass runs
# on the loss scaled so that it starts at this value, and the gradient is
# scaled back. Image gradients then stay far from fp16's 65504 limit.
FP16_LOSS_SCALE = 2.0**16


def autocast_dtype(choice: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of the VGG forward pass for a `dtype` setting, None for fp32.

    fp16 on the CPU is refused: it is emulated there and slower than fp32,
    and bf16 is the CPU's fast format.
    """
    if choice not in DTYPE_CHOICES:
        raise InputError(f"dtype: {choice!r} is not one of {', '.join(DTYPE_CHOICES)}")
    if choice == "auto":
        if device.type == "cuda" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return None
    if choice == "fp16" and device.type == "cpu":
        raise InputError(
            "dtype: fp16 is a GPU format and is slower than fp32 on the CPU; use bf16 for the fast mode or fp32"
        )
    return _REDUCED.get(choice)


def dtype_name(dtype: torch.dtype | None) -> str:
    """'fp32', 'bf16' or 'fp16': how metrics name an autocast dtype."""
    return {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(dtype, "fp32") if dtype is not None else "fp32"


def prefers_channels_last(device: torch.device, dtype: torch.dtype | None = None) -> bool:
    """Whether VGG runs faster on NHWC activations on this device with this autocast dtype.

    CPU: measured, a 256 px step takes about 5-10 % less time (oneDNN's
    convolutions are NHWC-native). CUDA: cuDNN's tensor-core kernels for
    bf16/fp16 are NHWC; fp32 keeps NCHW, where NHWC is not reliably faster.
    MPS: not measured, so its default layout is kept.
    """
    if device.type == "cpu":
        return True
    return device.type == "cuda" and dtype is not None
