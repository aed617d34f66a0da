"""The bundled video workflow on a real ComfyUI 0.3.75: Sample Video (or Load Video) -> Get Video Components ->
Stylize Video (NST) -> Create Video -> Save Video, shrunk to 64 px and a couple of steps a frame."""

from __future__ import annotations

import io
import json
from typing import Any

import av
import pytest
from PIL import Image

from comfy_harness import ComfyServer
from nst_comfy import TEST_SIZE, WORKFLOWS, interrupt_during, load_api, nodes_of, nst_server, shrink
from paths import SAMPLES

CLIP_FRAMES, CLIP_FPS = 12, 8
HEIGHT = TEST_SIZE * 3 // 4  # the clip is 4:3


@pytest.fixture(scope="module")
def server(comfy_server_factory, tmp_path_factory) -> ComfyServer:
    return nst_server(comfy_server_factory, tmp_path_factory)


def _video() -> dict[str, Any]:
    return shrink(load_api(WORKFLOWS / "api" / "video_style_transfer.json"))


def _only(prompt: dict[str, Any], class_type: str) -> str:
    (node_id,) = nodes_of(prompt, class_type)
    return node_id


def _decoded(data: bytes) -> tuple[list[Image.Image], float]:
    """A video file's frames and frame rate, read with PyAV."""
    with av.open(io.BytesIO(data)) as container:
        rate = float(container.streams.video[0].average_rate)
        return [frame.to_image() for frame in container.decode(video=0)], rate


def _load_video_instead(server: ComfyServer, prompt: dict[str, Any]) -> None:
    """Swap Sample Video for ComfyUI's own Load Video of the same clip, uploaded as a user would."""
    name = server.api.upload(SAMPLES / "clip.mp4")
    prompt[_only(prompt, "NST_SampleVideo")] = {"class_type": "LoadVideo", "inputs": {"file": name}}


def test_video_workflow_from_load_video_saves_a_stylised_clip_of_every_frame(server: ComfyServer):
    """As a user's own clip runs: Load Video in Sample Video's place (tests/comfy/test_nodes.py runs the workflow as bundled)."""
    prompt = _video()
    _load_video_instead(server, prompt)
    run = server.run_prompt(prompt, timeout=300)
    assert run.status == "success", run.messages("execution_error")
    outputs = run.history["outputs"]
    (saved,) = outputs[_only(prompt, "SaveVideo")]["images"]
    assert saved["filename"].endswith(".mp4") and saved["type"] == "output"
    frames, rate = _decoded(server.api.view(saved["filename"], saved["subfolder"], saved["type"]))
    assert len(frames) == CLIP_FRAMES and rate == CLIP_FPS  # Create Video took Get Video Components' fps
    assert {frame.size for frame in frames} == {(TEST_SIZE, HEIGHT)}
    masks = outputs[_only(prompt, "PreviewImage")]["images"]
    assert len(masks) == CLIP_FRAMES
    metrics = json.loads(outputs[_only(prompt, "PreviewAny")]["text"][0])
    assert metrics["frames"] == CLIP_FRAMES and metrics["per_frame"][0]["restarted"]
    assert [frame["steps"] for frame in metrics["per_frame"] if not frame["restarted"]]  # most frames followed on
    assert all(frame["steps"] == 1 for frame in metrics["per_frame"] if not frame["restarted"])  # shrunk later_steps
    assert 0 < metrics["warping_error_ratio"]
    # One progress bar over every frame's steps (grown by any scene cut's full run), ending full.
    stylize = _only(prompt, "NST_StylizeVideo")
    progress = [(e["data"]["value"], e["data"]["max"]) for e in run.events
                if e["type"] == "progress" and e["data"]["node"] == stylize]  # fmt: skip
    total = sum(frame["steps"] for frame in metrics["per_frame"])
    assert [value for value, _ in progress] == list(range(1, total + 1)) and progress[-1] == (total, total)


def test_interrupt_stops_stylize_video_and_nothing_is_saved(server: ComfyServer):
    prompt = _video()
    stylize = _only(prompt, "NST_StylizeVideo")
    prompt[stylize]["inputs"].update(steps=100_000, preview_interval=0)
    interrupted, events, history = interrupt_during(server, prompt, stylize)
    assert interrupted["node_type"] == "NST_StylizeVideo"
    assert _only(prompt, "SaveVideo") not in history["outputs"]
    assert not [e for e in events if e["type"] == "execution_error"]  # interrupted, not failed
