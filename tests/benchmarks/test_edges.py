"""benchmarks/edges.py keeps working: its smoke run judges each padding, the zeros-padded judge for all. No timings are asserted."""

from __future__ import annotations

import json
import subprocess
import sys

from PIL import Image

from paths import REPO


def test_the_smoke_run_judges_each_padding(tmp_path, hed_checkpoints):
    out = tmp_path / "edges.json"
    subprocess.run([sys.executable, str(REPO / "benchmarks" / "edges.py"), "--quick", "--out", str(out)], check=True, cwd=REPO)
    runs = json.loads(out.read_text())["runs"]
    assert [(run["photo"], run["padding"]) for run in runs] == [
        (photo, padding) for photo in ("astronaut", "chelsea") for padding in ("zeros", "replicate", "reflect")
    ]
    assert all(run["border_excess"] > 0 for run in runs)
    assert Image.open(tmp_path / "edges_corners.png").size == (3 * 4 * 48, 2 * 4 * 48)
