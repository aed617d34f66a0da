"""`nst run-workflow` (cli/run_workflow.py) with no server to talk to: an unreachable one is a usage error."""

from __future__ import annotations

from helpers import run_workflow
from paths import WORKFLOWS


def test_unreachable_server_is_a_usage_error(tmp_path):
    proc = run_workflow(str(WORKFLOWS / "api" / "basic_style_transfer.json"), "--server", "http://127.0.0.1:9",
               "--out", str(tmp_path / "out"), cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 2 and "cannot reach it" in proc.stderr and proc.stderr.count("\n") == 1
