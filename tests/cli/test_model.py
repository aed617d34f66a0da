"""The VGG a command runs (cli/model.py): bad weights files refused in one line, code in them never run, --padding honoured."""

from __future__ import annotations

import subprocess

import pytest
import torch

from helpers import stylize_args


def _bad_weights(kind: str, tmp_path, vgg_path):
    path = tmp_path / f"{kind}.pth"
    state = torch.load(vgg_path, weights_only=True)
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        path.write_bytes(vgg_path.read_bytes()[:1000])
    elif kind == "wrong-keys":
        torch.save({f"layer{i}": v for i, v in enumerate(state.values())}, path)
    elif kind == "wrong-shape":
        state["features.0.weight"] = torch.zeros(64, 3, 5, 5)
        torch.save(state, path)
    elif kind == "pickle":
        marker = tmp_path / "MARKER"
        path.write_bytes(
            b"\x80\x04\x95" + b"\x00" * 8
            + b"c" + b"builtins\nopen\n" + b"(" + b"X" + len(str(marker)).to_bytes(4, "little") + str(marker).encode()
            + b"X\x01\x00\x00\x00wtR."
        )  # fmt: skip
    return path


@pytest.mark.parametrize(
    "kind, message",
    [
        ("empty", "is empty"),
        ("truncated", "corrupt or truncated"),
        ("wrong-keys", "missing features.0.weight"),
        ("wrong-shape", "features.0.weight is (64, 3, 5, 5), expected (64, 3, 3, 3)"),
        ("pickle", "not a plain state dict"),
    ],
)
def test_bad_weights_files_through_the_cli(tmp_path, cli_inputs, vgg_path, kind, message):
    weights = _bad_weights(kind, tmp_path, vgg_path)
    out = tmp_path / "out.png"
    proc = subprocess.run(stylize_args(*cli_inputs, out, weights), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("nst: error: weights: ") and message in proc.stderr
    assert proc.stderr.count("\n") == 1 and not out.exists()
    assert not (tmp_path / "MARKER").exists()


def test_padding_flag_reaches_the_model(vgg_path):
    from nst_nodes.cli import build_parser
    from nst_nodes.cli.model import load_model_from_args

    base = ["stylize", "--content", "c", "--style", "s", "--out", "o", "--weights", str(vgg_path)]
    assert load_model_from_args(build_parser().parse_args(base)).padding == "zeros"
    assert load_model_from_args(build_parser().parse_args([*base, "--padding", "reflect"])).padding == "reflect"
