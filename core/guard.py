"""The guard every run goes through: autograd on under inference mode, out-of-memory as a clear error.

ComfyUI runs nodes under `torch.inference_mode()`; a run needs gradients.
Running out of memory half-way must not leave the device full for the next
prompt, nor reach the user as a bare traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from .errors import OutOfMemoryError


def is_out_of_memory(exc: BaseException) -> bool:
    """True for CUDA's and the CPU allocator's out-of-memory failures."""
    if isinstance(exc, torch.OutOfMemoryError):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


@contextmanager
def memory_named(device: torch.device, hint: str) -> Iterator[None]:
    """Out-of-memory becomes OutOfMemoryError saying what to do (`hint`).

    The failing run's tensors are gone once the exception leaves the run, so
    cached device memory is handed back before the error is raised and the
    next run starts clean.
    """
    try:
        yield
    except (RuntimeError, torch.OutOfMemoryError) as exc:
        if not is_out_of_memory(exc):
            raise
        if device.type == "cuda":
            torch.cuda.empty_cache()
        raise OutOfMemoryError(f"out of memory on {device} {hint}") from None


@contextmanager
def gradient_run(device: torch.device, hint: str) -> Iterator[None]:
    """Autograd on (even under ComfyUI's inference mode); out-of-memory becomes a clear error (memory_named)."""
    with memory_named(device, hint), torch.inference_mode(False), torch.enable_grad():
        yield
