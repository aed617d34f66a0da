"""`nst run-workflow` end to end against real ComfyUI servers: API and UI workflows, errors, a batch over two servers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from nst_nodes.core.images import save_image

from comfy_harness import ComfyServer
from helpers import run_workflow
from nst_comfy import TEST_SIZE, WORKFLOWS, nst_server


@pytest.fixture(scope="module")
def server(comfy_server_factory, tmp_path_factory) -> ComfyServer:
    return nst_server(comfy_server_factory, tmp_path_factory)


SMALL = ["--set", f"Optimize.size={TEST_SIZE}", "--set", "Optimize.steps=2"]


def test_api_workflow_end_to_end(server, tmp_path):
    out = tmp_path / "out"
    proc = run_workflow(str(WORKFLOWS / "api" / "basic_style_transfer.json"), "--server", server.url, *SMALL, "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    files = [Path(line) for line in proc.stdout.splitlines()]
    assert all(p.parent == out.resolve() and p.is_file() for p in files)
    (result,) = [p for p in files if p.name.startswith("basic_")]  # the Save node's own name
    assert sorted(p.name for p in files if p != result) == ["Loss_curves.png", "Metrics.json"]
    assert Image.open(result).size == (TEST_SIZE, TEST_SIZE)
    metrics = json.loads((out / "Metrics.json").read_text())
    assert metrics["steps"] == 2 and metrics["size"] == [TEST_SIZE, TEST_SIZE]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # nothing written beside --out


def test_ui_workflow_with_an_uploaded_input(server, tmp_path):
    photo = tmp_path / "wide.png"
    save_image(torch.rand(1, 3, 60, 120, generator=torch.Generator().manual_seed(4)), photo)
    out = tmp_path / "out"
    proc = run_workflow(str(WORKFLOWS / "two_style_mix.json"), "--server", server.url, *SMALL,
               "--input", f"Content image={photo}", "--out", str(out), cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (result,) = [p for p in out.iterdir() if p.name.startswith("two_style_mix_")]
    assert Image.open(result).size == (TEST_SIZE, TEST_SIZE // 2)  # the upload's 2:1 shape, not the sample's
    params = json.loads((out / "Metrics.json").read_text())["params"]
    assert params["style_mix_weights"] == [0.25, 0.75]


def test_failing_node_exits_non_zero_with_the_servers_message(server, tmp_path):
    out = tmp_path / "out"
    proc = run_workflow(str(WORKFLOWS / "api" / "basic_style_transfer.json"), "--server", server.url, *SMALL,
               "--set", "Style.weight_1=0", "--out", str(out), cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 1
    assert f"nst: error: server {server.url}: node 4 (NST_StyleMix) failed: weight_1: all weights are zero" in proc.stderr
    assert not out.exists() or not any(out.iterdir())


def test_validation_400_exits_non_zero_with_the_servers_message(server, tmp_path):
    proc = run_workflow(str(WORKFLOWS / "api" / "basic_style_transfer.json"), "--server", server.url,
               "--set", "Optimize.steps=0", "--out", str(tmp_path / "out"), cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 1
    assert "rejected the workflow (HTTP 400)" in proc.stderr and "node 5 (NST_Optimize)" in proc.stderr
    assert "steps" in proc.stderr


def test_batch_is_spread_over_two_servers(server, comfy_server_factory, tmp_path_factory, tmp_path):
    second = nst_server(comfy_server_factory, tmp_path_factory, name="nst-second")
    try:
        _run_batch(server, second, tmp_path)
    finally:
        second.stop()  # only this test needs it: give its memory back to the rest of the session


def _run_batch(server: ComfyServer, second: ComfyServer, tmp_path: Path) -> None:
    batch = tmp_path / "batch"
    batch.mkdir()
    shapes = {"a_wide": (40, 80), "b_tall": (80, 40), "c_square": (64, 64), "d_wide": (50, 100)}
    for name, (height, width) in shapes.items():
        save_image(torch.rand(1, 3, height, width, generator=torch.Generator().manual_seed(height + width)), batch / f"{name}.png")
    before = {s.url: len(s.api.get_json("/history")) for s in (server, second)}
    out = tmp_path / "out"
    proc = run_workflow(str(WORKFLOWS / "api" / "basic_style_transfer.json"), "--server", server.url, "--server", second.url,
               *SMALL, "--batch", str(batch), "--out", str(out), cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "4 of 4 jobs done on 2 server(s)" in proc.stderr
    for name, (height, width) in shapes.items():
        (result,) = (out / name).glob("basic_*.png")
        expected = (TEST_SIZE, TEST_SIZE * height // width) if width >= height else (TEST_SIZE * width // height, TEST_SIZE)
        assert Image.open(result).size == expected, name
    ran = {s.url: len(s.api.get_json("/history")) - before[s.url] for s in (server, second)}
    assert sum(ran.values()) == 4 and all(count >= 1 for count in ran.values()), ran
