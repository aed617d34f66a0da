"""benchmarks/style_losses.py keeps working: its smoke run writes every judge of every loss, and its sheets. No timings are asserted."""

from __future__ import annotations

import json
import subprocess
import sys

from PIL import Image

from paths import REPO


def test_the_smoke_run_judges_each_pair_of_losses_by_every_judge(tmp_path, hed_checkpoints):
    out = tmp_path / "style_losses.json"
    subprocess.run([sys.executable, str(REPO / "benchmarks" / "style_losses.py"), "--quick", "--out", str(out)], check=True, cwd=REPO)
    runs = json.loads(out.read_text())["runs"]
    pairs = [(run["style_loss"], run["content_loss"]) for run in runs]
    assert pairs == [(s, c) for c in ("mse", "self-similarity") for s in ("gram", "w2", "sliced")]
    for run in runs:
        assert {"structure", "gram_style", "canvas_style", "sliced_style", "color", "seconds", "steps"} <= set(run)
    assert Image.open(out.with_suffix(".png")).size[1] == 2 * 256  # a row per content loss: content, style, three results
    assert Image.open(tmp_path / "style_losses_crops.png").size[1] > 0


def test_the_losses_tried_can_be_narrowed_to_the_baseline(tmp_path, hed_checkpoints):
    out = tmp_path / "gram_only.json"
    command = [sys.executable, str(REPO / "benchmarks" / "style_losses.py"), "--quick", "--style-losses", "gram",
               "--content-losses", "mse", "--out", str(out)]  # fmt: skip
    subprocess.run(command, check=True, cwd=REPO)
    runs = json.loads(out.read_text())["runs"]
    assert [(run["style_loss"], run["content_loss"]) for run in runs] == [("gram", "mse")]
