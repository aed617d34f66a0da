"""Faults: out of memory, Ctrl-C, untrusted weights files and odd images through the CLI."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import termios
import time

import numpy as np
import pytest
import torch
from PIL import Image

from nst_nodes.core.errors import OutOfMemoryError
from nst_nodes.core.images import save_image
from nst_nodes.core.transfer import stylize
from nst_nodes.core.style import StyleSpec
from nst_nodes.core.vgg import FeatureExtractor

from helpers import settings, stripes

SMALL = dict(size=48, steps=4, content_layers=("relu2_1",), style_layers=("relu1_1", "relu2_1"))


def test_out_of_memory_is_reported_and_the_next_run_works(vgg_model, small_images, monkeypatch):
    content, style = small_images
    real_stream = FeatureExtractor.stream  # forward and the run's losses both go through it
    calls = []

    def failing_stream(self, image):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory")
        return real_stream(self, image)

    monkeypatch.setattr(FeatureExtractor, "stream", failing_stream)
    with pytest.raises(OutOfMemoryError, match="out of memory on cpu at size 48; use a smaller size"):
        stylize(vgg_model, content, StyleSpec([style]), *settings(**SMALL))
    monkeypatch.setattr(FeatureExtractor, "stream", real_stream)
    result = stylize(vgg_model, content, StyleSpec([style]), *settings(**SMALL))
    assert torch.isfinite(result.image).all()


def test_other_runtime_errors_are_not_disguised(vgg_model, small_images, monkeypatch):
    content, style = small_images

    def broken(self, image):
        raise RuntimeError("a real bug")

    monkeypatch.setattr(FeatureExtractor, "forward", broken)
    with pytest.raises(RuntimeError, match="a real bug"):
        stylize(vgg_model, content, StyleSpec([style]), *settings(**SMALL))


@pytest.fixture
def cli_inputs(tmp_path):
    content, style = tmp_path / "content.png", tmp_path / "style.png"
    save_image(stripes(48, 48, 0.0, seed=1), content)
    save_image(stripes(48, 48, 45.0, seed=2), style)
    return content, style


def _stylize_args(content, style, out, weights, *extra):
    return [
        sys.executable, "-m", "nst_nodes", "stylize", "--content", str(content), "--style", str(style),
        "--out", str(out), "--size", "48", "--steps", "3", "--weights", str(weights), "--device", "cpu", *extra,
    ]  # fmt: skip


def test_ctrl_c_during_a_run_writes_nothing(tmp_path, cli_inputs, vgg_path):
    """SIGINT while the progress bar runs: exit 130, one line, no result and no temporary file."""
    out_dir = tmp_path / "results"
    out_dir.mkdir()
    args = _stylize_args(*cli_inputs, out_dir / "out.png", vgg_path)
    args[args.index("--steps") + 1] = "100000"
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a 0-column tty hides tqdm
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    try:
        seen = b""
        deadline = time.monotonic() + 120
        while b"step" not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1.0)
            if ready:
                seen += os.read(master, 4096)
        assert b"step" in seen, seen
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
        rest = b""
        while select.select([master], [], [], 0.2)[0]:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            rest += chunk
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    os.close(master)
    assert proc.returncode == 130
    assert b"interrupted; no result was written" in rest
    assert b"Traceback" not in rest
    assert list(out_dir.iterdir()) == []


def _bad_weights(kind: str, tmp_path, vgg_path):
    path = tmp_path / f"{kind}.pth"
    state = torch.load(vgg_path, weights_only=True)
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        path.write_bytes(vgg_path.read_bytes()[:1000])
    elif kind == "wrong-keys":
        torch.save({f"layer{i}": v for i, v in enumerate(state.values())}, path)
    elif kind == "wrong-shape":
        state["features.0.weight"] = torch.zeros(64, 3, 5, 5)
        torch.save(state, path)
    elif kind == "pickle":
        marker = tmp_path / "MARKER"
        path.write_bytes(
            b"\x80\x04\x95" + b"\x00" * 8
            + b"c" + b"builtins\nopen\n" + b"(" + b"X" + len(str(marker)).to_bytes(4, "little") + str(marker).encode()
            + b"X\x01\x00\x00\x00wtR."
        )  # fmt: skip
    return path


@pytest.mark.parametrize(
    "kind, message",
    [
        ("empty", "is empty"),
        ("truncated", "corrupt or truncated"),
        ("wrong-keys", "missing features.0.weight"),
        ("wrong-shape", "features.0.weight is (64, 3, 5, 5), expected (64, 3, 3, 3)"),
        ("pickle", "not a plain state dict"),
    ],
)
def test_bad_weights_files_through_the_cli(tmp_path, cli_inputs, vgg_path, kind, message):
    weights = _bad_weights(kind, tmp_path, vgg_path)
    out = tmp_path / "out.png"
    proc = subprocess.run(_stylize_args(*cli_inputs, out, weights), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("nst: error: weights: ") and message in proc.stderr
    assert proc.stderr.count("\n") == 1 and not out.exists()
    assert not (tmp_path / "MARKER").exists()


def _odd_image(kind: str, tmp_path):
    path = tmp_path / f"{kind}.png"
    rng = np.random.default_rng(0)
    if kind == "grey":
        Image.fromarray(rng.integers(0, 255, (40, 40), dtype=np.uint8), "L").save(path)
    elif kind == "rgba":
        Image.fromarray(rng.integers(0, 255, (40, 40, 4), dtype=np.uint8), "RGBA").save(path)
    elif kind == "16bit":
        Image.fromarray(rng.integers(0, 65535, (40, 40), dtype=np.uint16)).save(path)
    elif kind == "1x1":
        Image.new("RGB", (1, 1), (10, 20, 30)).save(path)
    elif kind == "text":
        path.write_text("not an image at all")
    return path


@pytest.mark.parametrize("kind", ["grey", "rgba", "16bit"])
def test_odd_but_valid_images_work(tmp_path, cli_inputs, vgg_path, kind):
    out = tmp_path / "out.png"
    proc = subprocess.run(
        _stylize_args(_odd_image(kind, tmp_path), cli_inputs[1], out, vgg_path), capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert Image.open(out).mode == "RGB"


@pytest.mark.parametrize("kind, message", [("1x1", "the image is 1x1 px"), ("text", "is not an image")])
def test_unusable_images_refused(tmp_path, cli_inputs, vgg_path, kind, message):
    out = tmp_path / "out.png"
    proc = subprocess.run(
        _stylize_args(cli_inputs[0], _odd_image(kind, tmp_path), out, vgg_path), capture_output=True, text=True
    )
    assert proc.returncode == 2 and proc.stderr.startswith("nst: error: --style #1") and message in proc.stderr
