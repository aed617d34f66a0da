"""benchmarks/peers.py keeps working: its smoke run, and how it lines the tools up. No timings are asserted."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from nst_nodes.core.images import load_image

from paths import REPO

sys.path.insert(0, str(REPO / "benchmarks"))

import peers  # noqa: E402


def test_every_tool_reads_the_same_style_at_the_contents_size(tmp_path):
    content = torch.rand(1, 3, 40, 60)
    style = torch.zeros(1, 3, 80, 80)
    style[..., 10:70, :] = 1  # covers the 53-row centre the content's 2:3 aspect keeps
    peers.prepare(tmp_path, content, style, _random_vgg16(tmp_path / "weights"))
    written = load_image(tmp_path / "style.png", "style")
    assert written.shape[-2:] == (40, 60)
    assert written.min() > 0.99  # cut from the centre, not squeezed: no black rows
    assert {p.name for p in tmp_path.glob("*.pth")} == {peers.NEURAL_STYLE_WEIGHTS, peers.TUTORIAL_WEIGHTS}


def test_a_run_at_equal_time_is_its_last_image_saved_by_then():
    curve = [peers.Point(n, seconds, 1.0, 1.0, 0.5) for n, seconds in ((50, 10.0), (100, 20.0), (150, 30.0))]
    assert peers.at_time(curve, 25.0).count == 100
    assert peers.at_time(curve, 20.0).count == 100
    assert peers.at_time(curve, 5.0) is None


def test_as_good_means_both_distances_at_most_the_others():
    peer = peers.Point(1000, 900.0, style=0.3, content=0.5, structure=0.4)
    assert peers.Point(100, 60.0, style=0.3, content=0.4, structure=0.1).as_good_as(peer)
    assert not peers.Point(100, 60.0, style=0.31, content=0.1, structure=0.9).as_good_as(peer)


def _random_vgg16(folder: Path) -> Path:
    from torchvision.models import vgg16

    torch.manual_seed(0)
    folder.mkdir()
    path = folder / "random-vgg16.pth"
    torch.save({f"features.{k}": v for k, v in vgg16().features.state_dict().items()}, path)
    return path


def _quick_peers(folder: Path, weights: Path, *args: str) -> subprocess.CompletedProcess:
    script = REPO / "benchmarks" / "peers.py"
    done = subprocess.run([sys.executable, str(script), "--quick", "--weights", str(weights), *args],
                          capture_output=True, text=True, cwd=folder, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def test_quick_run_lines_up_every_tool_on_the_real_vgg16(tmp_path, hed_checkpoints):
    out = tmp_path / "peers.json"
    done = _quick_peers(tmp_path, hed_checkpoints["caffe"], "--work", str(tmp_path / "work"), "--out", str(out))
    results = json.loads(out.read_text())
    runs = results["sizes"]["64"]["runs"]
    assert set(runs) == {"neural-style defaults", "tutorial defaults", "ours defaults", "ours L-BFGS",
                         "neural-style tuned", "tutorial tuned"}
    for name, entry in runs.items():
        assert entry["peak_rss_gib"] > 0.1, name
        for key in ("style", "content", "structure", "seconds"):
            assert math.isfinite(entry["final"][key]), (name, key)
        if entry["run"]["tool"] != "ours":
            assert set(entry["ours_reaches"]) == {"ours defaults", "ours L-BFGS"}, name
    # each tool was clocked from its own start, so its saved images come in order
    for entry in runs.values():
        times = [p["seconds"] for p in entry["curve"]]
        assert times == sorted(times) and times[0] > 0
    sheet = Image.open(out.with_suffix(".png"))
    assert sheet.width == 8 * 192 and sheet.height == 2 * (192 + 28)
    assert "nst-nodes, defaults" in done.stdout

    # --again judges the kept runs without running them: the same images, clocks and memory
    again = tmp_path / "again.json"
    _quick_peers(tmp_path, hed_checkpoints["caffe"], "--again", str(tmp_path / "work"), "--out", str(again))
    rejudged = json.loads(again.read_text())["sizes"]["64"]["runs"]
    for name, entry in runs.items():
        assert rejudged[name]["final"] == pytest.approx(entry["final"]), name
        assert rejudged[name]["peak_rss_gib"] == entry["peak_rss_gib"], name


def test_tuning_picks_the_saved_image_with_the_lowest_style_distance_plus_lost_structure():
    def entry(tool: str, setting: str, *points: tuple[int, float, float]) -> dict:
        return {"run": {"tool": tool, "setting": setting},
                "curve": [{"count": n, "seconds": n / 10, "style": s, "content": 2.0, "structure": k} for n, s, k in points]}  # fmt: skip

    runs = {
        "a": entry("neural-style", "noise", (100, 0.10, 0.05), (200, 0.09, 0.02)),  # style at any price
        "b": entry("neural-style", "from the content", (100, 0.17, 0.73), (500, 0.20, 0.46)),
        "c": entry("tutorial", "style weight 100", (100, 0.26, 0.38)),
    }
    best = peers.best_tuned({"sizes": {"256": {"runs": runs}}})
    assert {tool: (b["setting"], b["count"]) for tool, b in best.items()} == {
        "neural-style": ("from the content", 100), "tutorial": ("style weight 100", 100)}
