"""`nst stylize` (cli/stylize.py) end to end on small images, through a real subprocess or `main`."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image

from nst_nodes.cli import build_parser, main
from nst_nodes.cli.inputs import fast_settings_from_args, run_settings_from_args
from nst_nodes.core.images import save_image
from nst_nodes.core.settings import DEFAULT_STEPS, WARM_STEPS

from helpers import FAST_FLAGS, image_size, nst, stripes

METRIC_KEYS = {"steps", "seconds", "seconds_per_step", "device", "size", "final", "history", "params"}


@pytest.fixture
def images(tmp_path):
    content = tmp_path / "content.png"
    save_image(stripes(60, 80, 0.0, seed=1), content)
    style_a, style_b = tmp_path / "a.png", tmp_path / "b.png"
    save_image(stripes(64, 64, 45.0, seed=2), style_a)
    save_image(torch.rand(1, 3, 50, 70, generator=torch.Generator().manual_seed(3)), style_b)
    return content, style_a, style_b


def _base(images, out, weights):
    content, style_a, style_b = images
    return [
        "stylize", "--content", str(content), "--style", str(style_a), "--style", str(style_b),
        "--style-weights", "0.25,0.75", "--out", str(out), "--size", "64", "--steps", "6",
        "--content-layers", "relu3_1", "--style-layers", "relu1_1,relu2_1,relu3_1", "--weights", str(weights),
        "--device", "cpu",
    ]  # fmt: skip


def test_stylize_end_to_end(tmp_path, images, vgg_path):
    out, metrics = tmp_path / "res" / "out.png", tmp_path / "m.json"
    plot = tmp_path / "loss.png"
    proc = nst(*_base(images, out, vgg_path), "--metrics", str(metrics), "--plot", str(plot), "--optimizer", "adam", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[0] == str(out) and len(lines) == 2 and "6 steps" in lines[1]
    assert Image.open(out).size == (64, 48)
    data = json.loads(metrics.read_text())
    assert METRIC_KEYS <= set(data)
    assert data["size"] == [48, 64] and data["steps"] == 6 and data["device"] == "cpu"
    assert set(data["final"]) == {"content", "style", "tv", "total"}
    assert data["history"][0]["step"] == 0 and data["history"][-1]["step"] == 6
    assert {"step", "content", "style", "tv", "total"} <= set(data["history"][0])
    assert data["params"]["style_mix_weights"] == [0.25, 0.75] and data["params"]["optimizer"] == "adam"
    assert data["params"]["lr"] == 0.02  # README: Adam's default step size
    assert Image.open(plot).size == (768, 480)


def test_the_memory_plan_is_shown_before_the_run(tmp_path, images, vgg_path):
    proc = nst(*_base(images, tmp_path / "o.png", vgg_path), "--size", "80", "--tile", "64", "--steps", "1", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.startswith("nst: 80x60 in tiles of 64 px: about "), proc.stderr
    refused = nst(*_base(images, tmp_path / "p.png", vgg_path), "--tile", "16", cwd=tmp_path)
    assert refused.returncode == 2 and refused.stderr.startswith("nst: error: --tile: 16 px is smaller than 64 px")


def test_exact_size_and_seed_reproducible(tmp_path, images, vgg_path):
    outs = []
    for name in ("first.png", "second.png"):
        out = tmp_path / name
        args = _base(images, out, vgg_path) + ["--exact", "40x32", "--init", "noise", "--seed", "3"]
        args.remove("--size"), args.remove("64")
        proc = nst(*args, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        outs.append(out.read_bytes())
    assert Image.open(tmp_path / "first.png").size == (40, 32)
    assert outs[0] == outs[1]


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing", "content: file not found"),
        ("corrupt", "could not be decoded"),
        ("zero", "all weights are zero"),
        ("negative", "negative weight"),
        ("exists", "already exists; pass --overwrite"),
        ("layer", "unknown layer"),
        ("weights", "does not exist"),
    ],
)
def test_bad_input_one_clear_line(tmp_path, images, vgg_path, case, message):
    out = tmp_path / "out.png"
    args = _base(images, out, vgg_path)
    if case == "missing":
        args[args.index("--content") + 1] = str(tmp_path / "nope.png")
    elif case == "corrupt":
        broken = tmp_path / "broken.png"
        save_image(torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(9)), broken)
        broken.write_bytes(broken.read_bytes()[:400])
        args[args.index("--content") + 1] = str(broken)
    elif case == "zero":
        args[args.index("--style-weights") + 1] = "0,0"
    elif case == "negative":
        at = args.index("--style-weights")
        args[at : at + 2] = ["--style-weights=-0.5,1"]
    elif case == "exists":
        out.write_bytes(b"user data")
    elif case == "layer":
        args[args.index("--style-layers") + 1] = "relu1_1,relu6_1"
    elif case == "weights":
        args[args.index("--weights") + 1] = str(tmp_path / "none.pth")
    proc = nst(*args, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("nst: error: ") and message in proc.stderr
    assert "Traceback" not in proc.stderr
    if case == "exists":
        assert out.read_bytes() == b"user data"
    else:
        assert not out.exists()


def test_overwrite_flag(tmp_path, images, vgg_path):
    out = tmp_path / "out.png"
    out.write_bytes(b"old")
    proc = nst(*_base(images, out, vgg_path), "--overwrite", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert Image.open(out).size == (64, 48)


def test_stylize_with_rotations_records_them(tmp_path, search_images, vgg_path):
    content, style_a, style_b = search_images
    out, metrics = tmp_path / "out.png", tmp_path / "m.json"
    args = [
        "stylize", "--content", str(content), "--style", str(style_a), "--style", str(style_b), "--out", str(out),
        "--metrics", str(metrics), "--weights", str(vgg_path), *FAST_FLAGS, "--rotate", "60:0.5,150:0.5", "--rotation-weight", "0.5",
    ]  # fmt: skip
    assert main(args) == 0
    rotation = json.loads(metrics.read_text())["params"]["style_rotation"]
    assert rotation == {"angles": [60.0, 150.0], "weights": [0.5, 0.5], "rho": 0.5, "mode": "image"}
    assert image_size(out) == (48, 36)


# ------------------------------------------------------------------ --fast and --init fast


def _args(*extra: str):
    return build_parser().parse_args(["stylize", "--content", "c", "--style", "s", "--out", "o", *extra])


def test_a_warm_start_takes_the_warm_steps_unless_told():
    assert run_settings_from_args(_args("--init", "fast")).steps == WARM_STEPS
    assert run_settings_from_args(_args()).steps == DEFAULT_STEPS
    assert run_settings_from_args(_args("--init", "fast", "--steps", "7")).steps == 7


def test_fast_flags_reach_the_fast_settings():
    assert _args("--fast").method == _args("--method", "feedforward").method == "feedforward"
    fast = fast_settings_from_args(_args("--fast", "--strength", "0.4", "--working-size", "256"))
    assert (fast.strength, fast.working_size) == (0.4, 256)


def test_fast_mode_end_to_end_needs_no_vgg(tmp_path, cli_inputs, fast_model_path):
    content, style = cli_inputs
    out, metrics = tmp_path / "fast.png", tmp_path / "fast.json"
    proc = nst(
        "stylize", "--content", str(content), "--style", str(style), "--style", str(content), "--style-weights", "3,1",
        "--fast", "--strength", "0.8", "--size", "40", "--out", str(out), "--metrics", str(metrics),
        "--fast-weights", str(fast_model_path), "--offline", "--device", "cpu", cwd=tmp_path,
    )  # fmt: skip  (--offline and no VGG weights anywhere: the fast mode never loads VGG)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == str(out) and "fast mode: 40x40" in proc.stdout
    assert Image.open(out).size == (40, 40)
    params = json.loads(metrics.read_text())["params"]
    assert params["method"] == "fast" and params["strength"] == 0.8 and params["style_mix_weights"] == [0.75, 0.25]


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--fast", "--steps", "5"], "--steps: the fast mode takes no steps"),
        (["--fast", "--init", "noise"], "--init: the fast mode paints from the content"),
        (["--fast", "--plot", "p.png"], "--plot: the fast mode has no losses"),
        (["--strength", "0.5"], "--strength: applies to the fast mode only"),
        (["--fast", "--strength", "2"], "--strength: 2.0 is outside [0, 1]"),
        (["--fast", "--working-size", "5"], "--working-size: 5 is out of range"),
    ],
)
def test_what_one_method_cannot_take_is_refused_by_its_flag(tmp_path, cli_inputs, fast_model_path, extra, message):
    content, style = cli_inputs
    out = tmp_path / "never.png"
    proc = nst(
        "stylize", "--content", str(content), "--style", str(style), "--out", str(out), "--fast-weights",
        str(fast_model_path), "--device", "cpu", *extra, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 2 and message in proc.stderr and not out.exists()


def test_init_fast_loads_the_fast_networks_and_runs(tmp_path, cli_inputs, vgg_path, fast_model_path):
    content, style = cli_inputs
    out, metrics = tmp_path / "warm.png", tmp_path / "warm.json"
    proc = nst(
        "stylize", "--content", str(content), "--style", str(style), "--out", str(out), "--metrics", str(metrics),
        "--init", "fast", "--steps", "2", "--size", "40", "--content-layers", "relu2_1", "--style-layers", "relu1_1",
        "--weights", str(vgg_path), "--fast-weights", str(fast_model_path), "--device", "cpu", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    data = json.loads(metrics.read_text())
    assert data["steps"] == 2 and data["params"]["init"] == "fast"


def test_offline_without_the_fast_networks_names_where_they_go(tmp_path, cli_inputs):
    content, style = cli_inputs
    proc = nst(
        "stylize", "--content", str(content), "--style", str(style), "--out", str(tmp_path / "o.png"), "--fast",
        "--offline", cwd=tmp_path, env_extra={"TORCH_HOME": str(tmp_path / "torch"), "NST_FAST_WEIGHTS": ""},
    )  # fmt: skip
    assert proc.returncode == 2
    assert str(tmp_path / "torch" / "hub" / "checkpoints") in proc.stderr and "--fast-weights" in proc.stderr
