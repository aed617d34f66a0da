"""`nst inspect` (cli/inspect.py): one PNG per layer; unknown layers and existing files refused."""

from __future__ import annotations

import subprocess
import sys

from PIL import Image

from nst_nodes.core.images import save_image

from helpers import stripes


def test_inspect_command_writes_one_png_per_layer_and_refuses_bad_layers(tmp_path, vgg_path):
    image = tmp_path / "in.png"
    save_image(stripes(40, 60, 20.0), image)
    out = tmp_path / "maps"
    base = [sys.executable, "-m", "nst_nodes", "inspect", "--image", str(image), "--out", str(out), "--weights", str(vgg_path)]
    proc = subprocess.run(base + ["--layers", "relu1_1,relu3_1", "--channels", "4", "--size", "64"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    names = sorted(p.name for p in out.iterdir())
    assert names == ["relu1_1_features.png", "relu1_1_gram.png", "relu3_1_features.png", "relu3_1_gram.png"]
    assert Image.open(out / "relu3_1_gram.png").size[0] > 256
    proc = subprocess.run(base + ["--layers", "relu1_1,relu3_9"], capture_output=True, text=True)
    assert proc.returncode == 2 and "unknown layer(s) relu3_9" in proc.stderr
    proc = subprocess.run(base + ["--layers", "relu1_1"], capture_output=True, text=True)
    assert proc.returncode == 2 and "already exists" in proc.stderr
