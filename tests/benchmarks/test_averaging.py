"""benchmarks/averaging.py keeps working: its smoke run judges each decay by every judge. No timings are asserted."""

from __future__ import annotations

import json
import subprocess
import sys

from paths import REPO


def test_the_smoke_run_judges_each_decay(tmp_path, hed_checkpoints):
    out = tmp_path / "averaging.json"
    subprocess.run([sys.executable, str(REPO / "benchmarks" / "averaging.py"), "--quick", "--out", str(out)], check=True, cwd=REPO)
    runs = json.loads(out.read_text())["runs"]
    assert [run["average"] for run in runs] == [0.0, 0.9, 0.98]
    for run in runs:
        assert {"structure", "gram_style", "canvas_style", "sliced_style", "color"} <= set(run)
    assert (tmp_path / "averaging_faces.png").is_file() and out.with_suffix(".png").is_file()
