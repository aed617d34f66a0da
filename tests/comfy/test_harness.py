"""Prove the ComfyUI harness against a real ComfyUI 0.3.75, using built-in nodes only."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from PIL import Image

from nst_nodes.client.server import Server, ServerUnreachable

from comfy_harness import (
    COMFYUI_VERSION,
    PACK_LINK_NAME,
    REPO_ROOT,
    ComfyServer,
    ComfyServerError,
    collect_prompt,
    collect_until,
    comfy_requirements,
    ensure_comfyui,
    import_failures,
    output_images,
    run_quick_test,
    terminate_process,
)

# Idempotent: if tests/conftest.py already registered the plugin, this is a no-op.
pytest_plugins = ["fixtures_comfy"]


def _png_bytes(color: tuple[int, int, int], size: tuple[int, int] = (8, 6)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


# ------------------------------------------------------------- no server needed


def test_import_failures_parses_comfy_log() -> None:
    output = ("Import times for custom nodes:\n"
              "   0.0 seconds: /b/custom_nodes/ok\n"
              "   0.1 seconds (IMPORT FAILED): /b/custom_nodes/nst-nodes\n"
              "IMPORT FAILED: nodes_audio.py\n")
    assert import_failures(output) == ["/b/custom_nodes/nst-nodes"]


def test_terminate_process_kills_group_when_sigint_ignored() -> None:
    code = ("import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); "
            "print('up', flush=True); time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            start_new_session=True)
    assert proc.stdout is not None and proc.stdout.readline() == b"up\n"
    started = time.monotonic()
    assert terminate_process(proc, timeout=0.5) == -9
    assert time.monotonic() - started < 10
    proc.stdout.close()


# ---------------------------------------------------------------------- build


def test_ensure_comfyui_is_complete_and_reused_fast(comfyui_dir: Path) -> None:
    assert (comfyui_dir / "main.py").is_file()
    assert not (comfyui_dir / "extra_model_paths.yaml").exists()
    assert f'__version__ = "{COMFYUI_VERSION}"' in (comfyui_dir / "comfyui_version.py").read_text()
    started = time.perf_counter()
    assert ensure_comfyui(comfyui_dir.parent) == comfyui_dir
    assert time.perf_counter() - started < 2.0


def test_requirements_never_include_torch(comfyui_dir: Path) -> None:
    names = [Requirement(line).name.lower() for line in comfy_requirements(comfyui_dir)]
    assert not {"torch", "torchvision", "torchaudio"} & set(names)
    assert "requests" in names and "aiohttp" in names


def test_quick_test_for_ci_exits_zero(comfyui_dir: Path, tmp_path: Path) -> None:
    code, output = run_quick_test(comfyui_dir, tmp_path)
    assert code == 0, output[-4000:]
    assert f"ComfyUI version: {COMFYUI_VERSION}" in output
    assert (tmp_path / "custom_nodes" / PACK_LINK_NAME).resolve() == REPO_ROOT


# ------------------------------------------------------------- shared server


def test_system_stats(comfy_server: ComfyServer) -> None:
    stats = comfy_server.api.get_json("/system_stats")
    assert stats["system"]["comfyui_version"] == COMFYUI_VERSION
    assert stats["devices"][0]["type"] == "cpu"
    assert str(comfy_server.base_dir) in stats["system"]["argv"]
    assert "--cache-none" in stats["system"]["argv"]


def test_object_info_lists_builtin_nodes(comfy_server: ComfyServer) -> None:
    info = comfy_server.api.object_info()
    assert {"LoadImage", "SaveImage", "ImageInvert"} <= info.keys()
    assert "image" in comfy_server.api.object_info("LoadImage")["LoadImage"]["input"]["required"]


def test_unknown_node_is_rejected(comfy_server: ComfyServer) -> None:
    code, body = comfy_server.api.post_prompt({"1": {"class_type": "NoSuchNode", "inputs": {}}})
    assert code == 400
    assert body["error"]["type"] == "invalid_prompt"
    assert "node_errors" in body


def test_invalid_inputs_give_node_errors(comfy_server: ComfyServer) -> None:
    prompt = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "missing.png"}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "x"}},
    }
    code, body = comfy_server.api.post_prompt(prompt)
    assert code == 400
    assert "1" in body["node_errors"]
    assert body["node_errors"]["1"]["errors"][0]["type"] == "custom_validation_failed"


def test_upload_run_view_roundtrip(comfy_server: ComfyServer, tmp_path: Path) -> None:
    source = tmp_path / "red.png"
    source.write_bytes(_png_bytes((255, 0, 0)))
    uploaded = comfy_server.api.upload(source)
    assert uploaded == "red.png"
    assert (comfy_server.input_dir / "red.png").is_file()

    prompt = {
        "1": {"class_type": "LoadImage", "inputs": {"image": uploaded}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "roundtrip"}},
    }
    run = comfy_server.run_prompt(prompt, timeout=60)
    assert run.status == "success", run.history
    kinds = [event["type"] for event in run.events]
    for kind in ("execution_start", "executing", "executed", "execution_success"):
        assert kind in kinds
    (image,) = output_images(run.history)
    saved = Image.open(io.BytesIO(comfy_server.api.view(image["filename"], image["subfolder"], image["type"])))
    assert saved.size == (8, 6)
    assert saved.convert("RGB").getpixel((0, 0)) == (0, 255, 255)


def test_execution_error_is_reported_and_server_survives(comfy_server: ComfyServer,
                                                         tmp_path: Path) -> None:
    source = tmp_path / "blue.png"
    source.write_bytes(_png_bytes((0, 0, 255)))
    name = comfy_server.api.upload(source)
    prompt = {
        "1": {"class_type": "LoadImage", "inputs": {"image": name}},
        # Validation passes; SaveImage raises at run time for a path outside output/.
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "../escape"}},
    }
    run = comfy_server.run_prompt(prompt, timeout=60)
    assert run.status == "error"
    (error,) = run.messages("execution_error")
    assert error["node_type"] == "SaveImage"
    assert error["exception_message"]
    assert any(event["type"] == "execution_error" for event in run.events)
    assert comfy_server.api.get_json("/system_stats")["system"]["comfyui_version"] == COMFYUI_VERSION


def test_websocket_handshake_and_feature_flags(comfy_server: ComfyServer) -> None:
    with comfy_server.api.events(preview_metadata=True) as stream:
        status = stream.recv(timeout=10)
        assert status is not None and status["type"] == "status"
        assert status["data"]["sid"] == stream.client_id
        flags = collect_until(stream, lambda event: event["type"] == "feature_flags", timeout=10)[-1]
        assert flags["data"]["supports_preview_metadata"] is True


def _slow_blur_chain(length: int) -> dict[str, dict]:
    """A graph of built-in nodes that takes a while on CPU; interrupts land between nodes."""
    prompt: dict[str, dict] = {"1": {"class_type": "EmptyImage", "inputs": {
        "width": 640, "height": 640, "batch_size": 1, "color": 0}}}
    for index in range(2, length + 2):
        prompt[str(index)] = {"class_type": "ImageBlur", "inputs": {
            "image": [str(index - 1), 0], "blur_radius": 31, "sigma": 10.0}}
    prompt["out"] = {"class_type": "PreviewImage", "inputs": {"images": [str(length + 1), 0]}}
    return prompt


def test_interrupt_stops_running_prompt(comfy_server: ComfyServer) -> None:
    comfy_server.api.interrupt(prompt_id="not-running")  # idle: a no-op, still HTTP 200 (else it raises)
    with comfy_server.api.events() as stream:
        code, body = comfy_server.api.post_prompt(_slow_blur_chain(30), client_id=stream.client_id)
        assert code == 200, body
        prompt_id = body["prompt_id"]
        collect_until(stream, lambda e: e["type"] == "executing" and e["data"].get("node") == "3", 60)
        comfy_server.api.interrupt()  # raises unless HTTP 200
        events = collect_prompt(stream, prompt_id, timeout=60)
    assert "execution_interrupted" in [event["type"] for event in events]
    history = comfy_server.wait_for_history(prompt_id, timeout=10)
    assert history["status"]["status_str"] == "error"
    assert "out" not in history["outputs"]


def test_rss_and_log(comfy_server: ComfyServer) -> None:
    assert comfy_server.rss_bytes() > 100 * 2**20
    assert "Starting server" in comfy_server.log_text()


# ---------------------------------------------------------------- lifecycle


def test_server_lifecycle_layout_and_stop(comfyui_dir: Path, tmp_path: Path) -> None:
    base = tmp_path / "base"
    with ComfyServer(comfyui_dir, base, vgg_files={"dummy.pth": b"not a model"}) as server:
        pid = server.pid
        assert pid is not None and Path(f"/proc/{pid}").exists()
        assert os.getpgid(pid) == pid
        assert (base / "custom_nodes" / PACK_LINK_NAME).resolve() == REPO_ROOT
        assert (base / "models" / "vgg" / "dummy.pth").read_bytes() == b"not a model"
        for sub in ("user", "input", "output"):
            assert (base / sub).is_dir()
        assert server.api.get_json("/system_stats")["system"]["comfyui_version"] == COMFYUI_VERSION
        url = server.url
    assert server.proc is not None and server.proc.returncode == 0
    assert not Path(f"/proc/{pid}").exists()
    assert base.is_dir()  # a caller's base directory is kept (logs stay readable)
    assert "Starting server" in server.log_text()
    with pytest.raises(ServerUnreachable, match="Connection refused"):
        Server(url).get_json("/system_stats")


def test_startup_failure_raises_with_log_tail(comfyui_dir: Path) -> None:
    server = ComfyServer(comfyui_dir, extra_args=["--no-such-flag"], startup_timeout=60)
    with pytest.raises(ComfyServerError, match="no-such-flag"):
        server.start()
    server.stop()
    assert not server.base_dir.exists()
