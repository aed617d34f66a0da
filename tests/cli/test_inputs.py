"""What the arguments of `nst` become (cli/inputs.py): engine settings, and input images read or refused by flag."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
from PIL import Image

from nst_nodes.cli import build_parser
from nst_nodes.cli.inputs import loss_settings_from_args, run_settings_from_args, search_settings_from_args
from nst_nodes.core.scales import scale_ladder

from helpers import stylize_args


def test_cli_passes_dtype_and_scales():
    args = build_parser().parse_args(
        ["stylize", "--content", "c.png", "--style", "s.png", "--out", "o.png", "--dtype", "bf16", "--scales", "128,256"]
    )
    chosen = run_settings_from_args(args)
    assert chosen.dtype == "bf16" and scale_ladder((512, 512), chosen.scales)[0] == (128, 128)
    defaults = run_settings_from_args(build_parser().parse_args(["stylize", "--content", "c", "--style", "s", "--out", "o"]))
    assert (defaults.dtype, defaults.scales, defaults.average) == ("auto", "auto", 0.0)  # README's knob table
    averaged = build_parser().parse_args(["stylize", "--content", "c", "--style", "s", "--out", "o", "--average", "0.9"])
    assert run_settings_from_args(averaged).average == 0.9


def test_region_flag_reaches_the_search_settings():
    args = build_parser().parse_args(["search-rotation", "--content", "c", "--style", "s", "--report", "r.json", "--region", "2"])
    assert search_settings_from_args(args).region == 2


def _odd_image(kind: str, tmp_path):
    path = tmp_path / f"{kind}.png"
    rng = np.random.default_rng(0)
    if kind == "grey":
        Image.fromarray(rng.integers(0, 255, (40, 40), dtype=np.uint8), "L").save(path)
    elif kind == "rgba":
        Image.fromarray(rng.integers(0, 255, (40, 40, 4), dtype=np.uint8), "RGBA").save(path)
    elif kind == "16bit":
        Image.fromarray(rng.integers(0, 65535, (40, 40), dtype=np.uint16)).save(path)
    elif kind == "1x1":
        Image.new("RGB", (1, 1), (10, 20, 30)).save(path)
    elif kind == "text":
        path.write_text("not an image at all")
    return path


@pytest.mark.parametrize("kind", ["grey", "rgba", "16bit"])
def test_odd_but_valid_images_work(tmp_path, cli_inputs, vgg_path, kind):
    out = tmp_path / "out.png"
    proc = subprocess.run(
        stylize_args(_odd_image(kind, tmp_path), cli_inputs[1], out, vgg_path), capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert Image.open(out).mode == "RGB"


@pytest.mark.parametrize("kind, message", [("1x1", "the image is 1x1 px"), ("text", "is not an image")])
def test_unusable_images_refused(tmp_path, cli_inputs, vgg_path, kind, message):
    out = tmp_path / "out.png"
    proc = subprocess.run(
        stylize_args(cli_inputs[0], _odd_image(kind, tmp_path), out, vgg_path), capture_output=True, text=True
    )
    assert proc.returncode == 2 and proc.stderr.startswith("nst: error: --style #1") and message in proc.stderr


def test_style_loss_flag_reaches_the_loss_settings():
    base = ["stylize", "--content", "c", "--style", "s", "--out", "o"]
    assert loss_settings_from_args(build_parser().parse_args(base)).style_loss == "gram"  # README: the default
    assert loss_settings_from_args(build_parser().parse_args([*base, "--style-loss", "w2"])).style_loss == "w2"
    with pytest.raises(SystemExit):
        build_parser().parse_args([*base, "--style-loss", "mse"])


def test_content_loss_flag_reaches_the_loss_settings():
    base = ["stylize", "--content", "c", "--style", "s", "--out", "o"]
    assert loss_settings_from_args(build_parser().parse_args(base)).content_loss == "mse"  # README: the default
    chosen = build_parser().parse_args([*base, "--content-loss", "self-similarity"])
    assert loss_settings_from_args(chosen).content_loss == "self-similarity"
    with pytest.raises(SystemExit):
        build_parser().parse_args([*base, "--content-loss", "gram"])
