"""`nst run-workflow`: its graph handling offline, then end to end against real ComfyUI servers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image

from comfy_harness import ComfyServer
from nst_nodes.client import jobs, workflow
from nst_nodes.client.server import Server, describe_rejection
from nst_nodes.core.errors import InputError
from nst_nodes.core.images import save_image

from nst_comfy import TEST_SIZE, WORKFLOWS, nst_server

# A small /object_info in ComfyUI's layout, enough for the conversions below.
OBJECT_INFO: dict[str, Any] = {
    "Source": {
        "input": {"required": {"seed": ["INT", {"control_after_generate": True}], "mode": [["a", "b"], {}]}},
        "input_order": {"required": ["seed", "mode"]},
        "output": ["IMAGE"], "display_name": "Source",
    },
    "Sink": {
        "input": {"required": {"images": ["IMAGE", {}], "prefix": ["STRING", {}]},
                  "optional": {"extra": ["FLOAT", {}], "linked": ["INT", {"forceInput": True}]}},
        "input_order": {"required": ["images", "prefix"], "optional": ["extra", "linked"]},
        "output": [], "display_name": "Sink",
    },
    "LoadImage": {
        "input": {"required": {"image": [["x.png"], {"image_upload": True}]}},
        "input_order": {"required": ["image"]}, "output": ["IMAGE", "MASK"], "display_name": "Load Image",
    },
}  # fmt: skip


def _ui(nodes: list[dict[str, Any]], links: list[Any]) -> dict[str, Any]:
    return {"nodes": nodes, "links": links, "version": 0.4}


def test_ui_to_api_widgets_links_reroutes_and_muted_nodes():
    data = _ui(
        [
            {"id": 1, "type": "Source", "mode": 0, "title": "Content image", "widgets_values": [5, "randomize", "b"]},
            {"id": 2, "type": "Reroute", "mode": 0, "inputs": [{"name": "", "type": "*", "link": 1}]},
            {"id": 3, "type": "Sink", "mode": 0, "widgets_values": ["out", 0.5],
             "inputs": [{"name": "images", "type": "IMAGE", "link": 2}, {"name": "linked", "type": "INT", "link": None}]},
            {"id": 4, "type": "Note", "mode": 0, "widgets_values": ["a comment"]},
            {"id": 5, "type": "Sink", "mode": 2, "widgets_values": ["muted", 1.0]},
        ],
        [[1, 1, 0, 2, 0, "IMAGE"], {"id": 2, "origin_id": 2, "origin_slot": 0, "target_id": 3, "target_slot": 0}],
    )  # fmt: skip
    assert workflow.ui_to_api(data, OBJECT_INFO) == {
        "1": {"inputs": {"seed": 5, "mode": "b"}, "class_type": "Source", "_meta": {"title": "Content image"}},
        "3": {"inputs": {"prefix": "out", "extra": 0.5, "images": ["1", 0]}, "class_type": "Sink", "_meta": {"title": "Sink"}},
    }


@pytest.mark.parametrize(
    "node, message",
    [
        ({"id": 1, "type": "Mystery", "mode": 0}, r"node 1 has type 'Mystery', which the server does not have"),
        ({"id": 1, "type": "Source", "mode": 4, "widgets_values": [1, "fixed", "a"]}, r"node 1 \(Source\) is bypassed"),
    ],
)
def test_ui_to_api_refuses_what_it_cannot_convert(node, message):
    with pytest.raises(InputError, match=message):
        workflow.ui_to_api(_ui([node], []), OBJECT_INFO)


def test_api_format_detection(tmp_path):
    graph = {"1": {"class_type": "Source", "inputs": {"seed": 1, "mode": "a"}}}
    assert workflow.api_prompt({"prompt": graph}) == graph == workflow.api_prompt(graph)
    assert not workflow.is_ui_format(graph) and workflow.is_ui_format(_ui([], []))
    with pytest.raises(InputError, match="not a ComfyUI workflow"):
        workflow.api_prompt({"1": {"inputs": {}}})
    broken = tmp_path / "broken.json"
    broken.write_text("{nope")
    with pytest.raises(InputError, match=r"^workflow: .*broken.json is not a readable JSON file"):
        workflow.load_workflow(broken)


def _prompt() -> dict[str, Any]:
    return {
        "1": {"class_type": "Source", "inputs": {"seed": 1, "mode": "a"}, "_meta": {"title": "Content image"}},
        "2": {"class_type": "Source", "inputs": {"seed": 1, "mode": "a"}, "_meta": {"title": "Style image"}},
        "3": {"class_type": "Sink", "inputs": {"images": ["1", 0], "prefix": "x"}, "_meta": {"title": "Result"}},
        "4": {"class_type": "LoadImage", "inputs": {"image": "x.png"}, "_meta": {"title": "Photo"}},
    }


def test_set_by_id_or_title_with_json_values():
    prompt = _prompt()
    workflow.apply_sets(prompt, ["3.prefix=nst/out", "Content image.seed=42", "result.extra=1e3", "2.mode=[1, 2]"])
    assert prompt["3"]["inputs"]["prefix"] == "nst/out" and prompt["3"]["inputs"]["extra"] == 1000.0
    assert prompt["1"]["inputs"]["seed"] == 42 and prompt["2"]["inputs"]["mode"] == [1, 2]
    with pytest.raises(InputError, match=r"^set: 'steps=5' is not NODE.INPUT=VALUE"):
        workflow.apply_sets(prompt, ["steps=5"])
    with pytest.raises(InputError, match=r"^set: no node '9' in the workflow; nodes are 1 \(Content image\)"):
        workflow.apply_sets(prompt, ["9.steps=5"])
    assert workflow.find_node(prompt, "style", "set") == "2"  # a unique prefix of a title is enough
    prompt["2"]["_meta"]["title"] = "Content image 2"
    with pytest.raises(InputError, match=r"^set: 'content' matches several nodes \(1, 2\); use a node id"):
        workflow.find_node(prompt, "content", "set")


def test_inputs_go_to_image_inputs_or_replace_image_nodes():
    prompt = _prompt()
    photo = workflow.resolve_input(prompt, "Photo", OBJECT_INFO)
    assert (photo.node, photo.input, photo.replace_node) == ("4", "image", False)
    content = workflow.resolve_input(prompt, "content", OBJECT_INFO)
    assert (content.node, content.replace_node) == ("1", True)
    workflow.set_uploaded(prompt, content, "mine.png")
    assert prompt["1"] == {"inputs": {"image": "mine.png"}, "class_type": "LoadImage", "_meta": {"title": "Content image"}}
    assert prompt["3"]["inputs"]["images"] == ["1", 0]  # links into the replaced node still hold
    named = workflow.resolve_input(prompt, "3.prefix", OBJECT_INFO)
    assert (named.node, named.input) == ("3", "prefix")
    with pytest.raises(InputError, match=r"^input: node 3 \(Sink\) takes no image"):
        workflow.resolve_input(prompt, "Result", OBJECT_INFO)


@pytest.mark.parametrize(
    "name, safe",
    [("nst_00001_.png", "nst_00001_.png"), ("../../etc/passwd", "passwd"), ("..\\..\\x.png", "x.png"),
     (".hidden", "hidden"), ("..", "output"), ("a b/c?d*.png", "c_d_.png"), ("", "output")],
)  # fmt: skip
def test_safe_name(name, safe):
    assert jobs.safe_name(name) == safe


class FakeServer:
    """Stands in for a Server where only /view is needed."""

    url = "http://fake:1"

    def view(self, filename: str, subfolder: str, kind: str) -> bytes:
        return f"{subfolder}|{filename}|{kind}".encode()


def test_outputs_never_leave_the_out_folder(tmp_path):
    out = tmp_path / "out"
    history = {"outputs": {
        "7": {"images": [{"filename": "../../evil.png", "subfolder": "../..", "type": "output"}]},
        "9": {"images": [{"filename": "evil.png", "subfolder": "", "type": "output"},
                         {"filename": "ComfyUI_temp_abc_00001_.png", "subfolder": "", "type": "temp"}],
              "text": ['{"a": 1}']},
    }}  # fmt: skip
    prompt = {"9": {"class_type": "X", "inputs": {}, "_meta": {"title": "../Loss curves"}}}
    written = jobs.save_outputs(FakeServer(), history, prompt, out, overwrite=False)
    assert sorted(p.name for p in written) == ["Loss_curves-2.png", "Loss_curves.json", "evil-9.png", "evil.png"]
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == sorted(p.name for p in written)
    assert all(p.parent == out.resolve() for p in written)
    with pytest.raises(InputError, match="already exists; pass --overwrite"):
        jobs.save_outputs(FakeServer(), history, prompt, out, overwrite=False)


def test_rejection_message_carries_the_servers_words():
    body = {"error": {"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation", "details": ""},
            "node_errors": {"5": {"class_type": "NST_Optimize", "errors": [
                {"message": "Value -3 smaller than min of 1", "details": "steps"}]}}}  # fmt: skip
    assert describe_rejection(body) == (
        "Prompt outputs failed validation; node 5 (NST_Optimize): Value -3 smaller than min of 1: steps"
    )


def test_jobs_go_to_free_servers_and_a_lost_servers_job_is_retried(monkeypatch, tmp_path):
    servers = [Server("http://a:1"), Server("http://b:2")]
    queued = [jobs.Job(name=f"j{i}", prompt={}, uploads=[], out_dir=tmp_path / f"j{i}") for i in range(5)]
    taken: list[tuple[str, str]] = []
    a_lost = threading.Event()

    def fake_run_job(server, job, position=0, overwrite=False, timeout=0):
        taken.append((server.url, job.name))
        if server.url == "http://a:1":  # a dies during its first job
            a_lost.set()
            return jobs.JobResult(job=job, server=server.url, error="server http://a:1: cannot reach it", server_lost=True)
        a_lost.wait(60)  # b stays busy until then, so a surely takes a job
        return jobs.JobResult(job=job, server=server.url)

    monkeypatch.setattr(jobs, "run_job", fake_run_job)
    results = jobs.run_jobs(servers, queued)
    assert [r.job.name for r in results] == [j.name for j in queued]
    assert all(r.error is None and r.server == "http://b:2" for r in results)
    (lost,) = [name for url, name in taken if url == "http://a:1"]  # a took no job after it was lost
    assert ("http://b:2", lost) in taken  # its job was run again elsewhere


def test_jobs_left_when_every_server_is_lost(monkeypatch, tmp_path):
    def lost(server, job, position=0, overwrite=False, timeout=0):
        return jobs.JobResult(job=job, server=server.url, error="server x: cannot reach it", server_lost=True)

    monkeypatch.setattr(jobs, "run_job", lost)
    queued = [jobs.Job(name="j", prompt={}, uploads=[], out_dir=tmp_path)]
    (result,) = jobs.run_jobs([Server("http://a:1")], queued)
    assert result.error == "not run: no server was left to take it (server x: cannot reach it)"


# ------------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def server(comfy_server_factory, tmp_path_factory) -> ComfyServer:
    return nst_server(comfy_server_factory, tmp_path_factory)


def nst(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nst_nodes", "run-workflow", *args],
        capture_output=True, text=True, cwd=cwd, timeout=600, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip


SMALL = ["--set", f"Optimize.size={TEST_SIZE}", "--set", "Optimize.steps=2"]


def test_api_workflow_end_to_end(server, tmp_path):
    out = tmp_path / "out"
    proc = nst(str(WORKFLOWS / "api" / "basic_style_transfer.json"), "--server", server.url, *SMALL, "--out", str(out), cwd=tmp_path)
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
    proc = nst(str(WORKFLOWS / "two_style_mix.json"), "--server", server.url, *SMALL,
               "--input", f"Content image={photo}", "--out", str(out), cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (result,) = [p for p in out.iterdir() if p.name.startswith("two_style_mix_")]
    assert Image.open(result).size == (TEST_SIZE, TEST_SIZE // 2)  # the upload's 2:1 shape, not the sample's
    params = json.loads((out / "Metrics.json").read_text())["params"]
    assert params["style_mix_weights"] == [0.25, 0.75]


def test_failing_node_exits_non_zero_with_the_servers_message(server, tmp_path):
    out = tmp_path / "out"
    proc = nst(str(WORKFLOWS / "api" / "basic_style_transfer.json"), "--server", server.url, *SMALL,
               "--set", "Style.weight_1=0", "--out", str(out), cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 1
    assert f"nst: error: server {server.url}: node 4 (NST_StyleMix) failed: weight_1: all weights are zero" in proc.stderr
    assert not out.exists() or not any(out.iterdir())


def test_validation_400_exits_non_zero_with_the_servers_message(server, tmp_path):
    proc = nst(str(WORKFLOWS / "api" / "basic_style_transfer.json"), "--server", server.url,
               "--set", "Optimize.steps=0", "--out", str(tmp_path / "out"), cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 1
    assert "rejected the workflow (HTTP 400)" in proc.stderr and "node 5 (NST_Optimize)" in proc.stderr
    assert "steps" in proc.stderr


def test_unreachable_server_is_a_usage_error(tmp_path):
    proc = nst(str(WORKFLOWS / "api" / "basic_style_transfer.json"), "--server", "http://127.0.0.1:9",
               "--out", str(tmp_path / "out"), cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 2 and "cannot reach it" in proc.stderr and proc.stderr.count("\n") == 1


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
    proc = nst(str(WORKFLOWS / "api" / "basic_style_transfer.json"), "--server", server.url, "--server", second.url,
               *SMALL, "--batch", str(batch), "--out", str(out), cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "4 of 4 jobs done on 2 server(s)" in proc.stderr
    for name, (height, width) in shapes.items():
        (result,) = (out / name).glob("basic_*.png")
        expected = (TEST_SIZE, TEST_SIZE * height // width) if width >= height else (TEST_SIZE * width // height, TEST_SIZE)
        assert Image.open(result).size == expected, name
    ran = {s.url: len(s.api.get_json("/history")) - before[s.url] for s in (server, second)}
    assert sum(ran.values()) == 4 and all(count >= 1 for count in ran.values()), ran
