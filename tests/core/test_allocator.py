"""The allocator setting (core/allocator.py): a no-op off glibc, applied once, and it stops page faults."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from nst_nodes.core import allocator


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
    assert allocator.tune_allocator() is False


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
