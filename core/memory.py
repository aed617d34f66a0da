"""Will a run fit in memory? An estimate made before any large allocation.

Running out of memory half-way through a run wastes the user's time and, on
a shared ComfyUI server, can take other work down with it. The estimate is
deliberately generous: activations of every layer the run needs (kept for
the backward pass, plus gradients), L-BFGS's history, and the weights.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch

from .errors import InputError, OutOfMemoryError
from .vgg import VGG19, Architecture

# Measured on CPU at 512 px: peak use is 1.3 to 1.4 times the sum of all
# activations of one forward pass (plus the fixed costs below); 2 leaves room
# for allocator slack without refusing runs that would fit.
ACTIVATION_FACTOR = 2.0
WEIGHTS_BYTES = 80 * 2**20  # VGG19's convolutions up to conv5_4 in fp32 (VGG16's: 56 MiB)
FIXED_OVERHEAD = 200 * 2**20
LBFGS_HISTORY = 50


def activation_elements(height: int, width: int, deepest: str, architecture: Architecture = VGG19) -> int:
    """Number of values one forward pass through the VGG up to `deepest` produces."""
    total = 0
    h, w = height, width
    for name in architecture.layer_names[: architecture.layer_index[deepest] + 1]:
        if name.startswith("pool"):
            h, w = h // 2, w // 2
        total += architecture.channels(name) * h * w
    return total


def estimate_run_bytes(
    height: int,
    width: int,
    layers: Sequence[str],
    optimizer: str = "lbfgs",
    batch: int = 1,
    architecture: Architecture = VGG19,
) -> int:
    """Bytes a run of `batch` images of height x width needs at its peak (fp32)."""
    names = architecture.parse_layers(layers, "layers")
    deepest = max(names, key=architecture.layer_index.__getitem__)
    image_bytes = 3 * height * width * 4 * batch
    activations = activation_elements(height, width, deepest, architecture) * 4 * batch * ACTIVATION_FACTOR
    history = 2 * LBFGS_HISTORY * image_bytes if optimizer == "lbfgs" else 3 * image_bytes
    return int(activations + history + WEIGHTS_BYTES + FIXED_OVERHEAD)


def available_bytes(device: torch.device) -> int | None:
    """Memory a run may still take on `device`, or None where it cannot be known."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        reserved_unused = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
        return int(free + reserved_unused)
    if device.type == "mps":
        limit = getattr(torch.mps, "recommended_max_memory", None)
        return int(limit() - torch.mps.current_allocated_memory()) if limit else None
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_fits(
    height: int,
    width: int,
    layers: Sequence[str],
    optimizer: str,
    device: torch.device,
    batch: int = 1,
    what: str = "size",
    available: int | None = None,
    architecture: Architecture = VGG19,
) -> None:
    """Refuse a run that would not fit, saying which size would."""
    free = available_bytes(device) if available is None else available
    if free is None:
        return
    need = estimate_run_bytes(height, width, layers, optimizer, batch, architecture)
    if need <= free:
        return
    scale = math.sqrt(max(free - WEIGHTS_BYTES - FIXED_OVERHEAD, 0) / max(need - WEIGHTS_BYTES - FIXED_OVERHEAD, 1))
    longest = int(max(height, width) * scale) // 16 * 16
    hint = f"use a size of {longest} px or less" if longest >= 32 else "free memory or use another device"
    raise InputError(
        f"a {width}x{height} run needs about {need / 2**30:.1f} GiB but {device} has "
        f"{free / 2**30:.1f} GiB free; {hint}" + (" (or Adam instead of L-BFGS)" if optimizer == "lbfgs" else ""),
        what,
    )


def is_out_of_memory(exc: BaseException) -> bool:
    """True for CUDA's and the CPU allocator's out-of-memory failures."""
    if isinstance(exc, torch.OutOfMemoryError):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


@contextmanager
def gradient_run(device: torch.device, hint: str) -> Iterator[None]:
    """Autograd on (even under ComfyUI's inference mode); out-of-memory becomes a clear error.

    The failing run's tensors are gone once the exception leaves the run, so
    cached device memory is handed back before the error is raised and the
    next run starts clean.
    """
    try:
        with torch.inference_mode(False), torch.enable_grad():
            yield
    except (RuntimeError, torch.OutOfMemoryError) as exc:
        if not is_out_of_memory(exc):
            raise
        if device.type == "cuda":
            torch.cuda.empty_cache()
        raise OutOfMemoryError(f"out of memory on {device} {hint}") from None
