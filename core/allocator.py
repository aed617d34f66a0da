"""Keep glibc's malloc from handing memory back to the OS between steps.

Every step of a run allocates and frees the same activations. glibc serves
blocks over 32 MiB (a 512 px conv1 output is 64 MiB) with a fresh mmap and
unmaps them on free, so each step page-faults its activations in again
(the benchmarks' speed section has the cost). Serving every block from the heap
and never trimming it keeps those pages mapped from one step to the next.
The price is that the process keeps its peak memory until it exits, so only
a process that does nothing but the job (`nst stylize`) makes this call; a
long-lived host such as a ComfyUI server does not, and importing the package
never does.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform

# glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_MAX = -4
_INT_MAX = 2**31 - 1
_TOP_PAD = 64 * 2**20

_applied = False


def _glibc() -> ctypes.CDLL | None:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


def tune_allocator() -> bool:
    """Serve large blocks from the heap and stop trimming it; True if the setting is in effect.

    Idempotent; returns False and changes nothing where the C library is not
    glibc (macOS, Windows, musl), where these knobs do not exist.
    """
    global _applied
    if _applied:
        return True
    libc = _glibc()
    if libc is None:
        return False
    # mallopt returns 1 on success; all three must hold for the effect.
    _applied = all(
        libc.mallopt(param, value) == 1
        for param, value in ((_M_MMAP_MAX, 0), (_M_TRIM_THRESHOLD, _INT_MAX), (_M_TOP_PAD, _TOP_PAD))
    )
    return _applied
