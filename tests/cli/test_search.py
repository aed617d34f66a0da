"""`nst search-rotation` (cli/search.py) end to end on small images: its report, renders and one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from nst_nodes.cli import main

from helpers import FAST_FLAGS, image_size

REPORT_KEYS = {"best", "history", "evaluations", "seconds", "top_k"}
BEST_KEYS = {"angles", "rotation_weight", "fusion_weights", "fitness"}
TINY_SEARCH = ["--popsize", "4", "--generations", "2", "--proxy-size", "44", "--proxy-steps", "2"]


def _search_args(images, weights, report, *extra):
    content, style_a, _ = images
    return [
        "search-rotation", "--content", str(content), "--style", str(style_a), "--report", str(report),
        "--weights", str(weights), *FAST_FLAGS, *TINY_SEARCH, *extra,
    ]  # fmt: skip


def test_search_end_to_end_with_render(tmp_path, search_images, vgg_path):
    report, out = tmp_path / "reports" / "search.json", tmp_path / "best.png"
    env = {**os.environ, "NST_VGG19_WEIGHTS": ""}
    proc = subprocess.run(
        [sys.executable, "-m", "nst_nodes", *_search_args(search_images, vgg_path, report, "--render", str(out), "--seed", "3")],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[0] == str(report) and lines[-1] == str(out) and "best angles" in lines[1]
    data = json.loads(report.read_text())
    assert REPORT_KEYS <= set(data) and BEST_KEYS <= set(data["best"])
    assert len(data["best"]["angles"]) == 1 and 0 <= data["best"]["angles"][0] <= 360
    assert data["best"]["rotation_weight"] == 1.0 and data["best"]["fusion_weights"] == [1.0]
    assert data["best"]["fitness"] == min(data["history"]) == data["top_k"][0]["fitness"]
    # scipy's population is max(5, popsize * parameters): 5 here, one batch per generation.
    assert data["evaluations"] == 5 * len(data["history"]) and data["settings"]["seed"] == 3
    assert image_size(out) == (48, 36)


def test_render_dir_writes_the_top_k(tmp_path, search_images, vgg_path, capsys):
    report, folder = tmp_path / "r.json", tmp_path / "renders"
    extra = ["--render-dir", str(folder), "--top-k", "2", "--min-separation", "1", "--rotations", "2"]
    assert main(_search_args(search_images, vgg_path, report, *extra)) == 0
    data = json.loads(report.read_text())
    assert len(data["top_k"]) == 2 and all(len(c["angles"]) == 2 for c in data["top_k"])
    assert data["best"]["fusion_weights"] == [0.5, 0.5]
    assert sorted(p.name for p in folder.iterdir()) == ["top1.png", "top2.png"]
    assert capsys.readouterr().out.strip().splitlines()[-2:] == [str(folder / "top1.png"), str(folder / "top2.png")]


@pytest.mark.parametrize(
    "command, extra, message",
    [
        ("search", ["--rotations", "0"], "rotations"),
        ("search", ["--angle-range", "10,5"], "--angle-range: the bounds are reversed"),
        ("search", ["--angle-range=-400,0"], "--angle-range: -400,0 must lie within [-360, 360]"),
        ("search", ["--angle-range", "ten"], "--angle-range: 'ten' is not LOW,HIGH"),
        ("search", ["--popsize", "3"], "popsize"),
        ("search", ["--proxy-size", "16"], "--proxy-size: 16 is out of range"),
        ("search", ["--report-exists"], "report: "),
        ("stylize", ["--rotate", "sixty"], "rotate"),
        ("stylize", ["--rotate", "45", "--rotation-mode", "dfr"], "dfr mode takes only"),
        ("stylize", ["--rotation-weight", "0.5"], "--rotation-weight"),
        ("stylize", ["--rotate", "45", "--rotation-weight", "2"], "--rotation-weight: 2.0 is outside [0, 1]"),
    ],
)
def test_bad_input_one_clear_line(tmp_path, search_images, vgg_path, capsys, command, extra, message):
    report, out = tmp_path / "r.json", tmp_path / "out.png"
    if extra == ["--report-exists"]:
        report.write_text("user data")
        extra = []
    if command == "search":
        args = _search_args(search_images, vgg_path, report, *extra)
    else:
        content, style_a, _ = search_images
        args = ["stylize", "--content", str(content), "--style", str(style_a), "--out", str(out), "--weights", str(vgg_path), *FAST_FLAGS, *extra]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("nst: error: ") and message in err, err
    assert not out.exists() and (not report.exists() or report.read_text() == "user data")
