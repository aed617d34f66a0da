"""benchmarks/ladder_structure.py keeps working: its smoke run judges each variant by every judge, on the ladders it names. No timings are asserted."""

from __future__ import annotations

import json
import subprocess
import sys

from PIL import Image

from paths import REPO


def test_the_smoke_run_judges_each_variant_on_its_own_ladder(tmp_path, hed_checkpoints):
    out = tmp_path / "ladder_structure.json"
    subprocess.run([sys.executable, str(REPO / "benchmarks" / "ladder_structure.py"), "--quick", "--out", str(out)], check=True, cwd=REPO)
    runs = {run["variant"]: run for run in json.loads(out.read_text())["runs"]}
    assert runs["default"]["scales"] == "128,181" and runs["ladder from 181 px"]["scales"] == "181"
    assert runs["ladder from 256 px"]["scales"] == "off"  # at 256 px a ladder from 256 px is one scale
    for run in runs.values():
        assert {"structure", "gram_style", "canvas_style", "sliced_style", "color", "seconds", "steps"} <= set(run)
    assert Image.open(out.with_suffix(".png")).size[1] == 256
    assert Image.open(tmp_path / "ladder_structure_crops.png").size[1] > 0
