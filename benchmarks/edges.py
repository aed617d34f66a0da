"""What VGG's first padding does at the picture's border: `python benchmarks/edges.py [--quick]`.

Paints scikit-image's astronaut and cat in the bundled waves style on the
real VGG16 (real_weights.py) with `--padding zeros|replicate|reflect`, the
defaults otherwise. Judged by core/quality.py: `border_excess` (how much
more the outer 4 px depart from the content than the inside: 1 = no frame),
the structure score, the Gram and sliced style distances and the colour
distance. Writes JSON, a contact sheet (a row per photo: content, style,
each padding) and a sheet of each result's top-left corner, 48 px at 4x.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from nst_nodes.core.quality import border_excess
from nst_nodes.core.settings import RunSettings
from nst_nodes.core.style import StyleSpec
from nst_nodes.core.transfer import stylize
from nst_nodes.core.vgg import PADDING_CHOICES
from nst_nodes.core.weights import load_model

from real_weights import contact_sheet, every_judge, photo, real_weights_path, waves, write_results

PHOTOS = ("astronaut", "chelsea")
CORNER, ZOOM = 48, 4


def figures(size: int, steps: int) -> tuple[dict[str, Any], list[list[torch.Tensor]], list[list[torch.Tensor]]]:
    style = waves()
    judge = load_model(real_weights_path())
    results: dict[str, Any] = {"size": size, "steps": steps, "runs": []}
    rows, corners = [], []
    for name in PHOTOS:
        content = photo(name, size)
        row, corner_row = [content, style], []
        for padding in PADDING_CHOICES:
            model = load_model(real_weights_path(), padding=padding)
            image = stylize(model, content, StyleSpec([style]), RunSettings(size=size, steps=steps)).image
            judged = {"photo": name, "padding": padding, "border_excess": border_excess(image, content),
                      **every_judge(judge, image, content, style)}  # fmt: skip
            results["runs"].append(judged)
            sys.stderr.write(f"{judged}\n")
            row.append(image)
            corner_row.append(F.interpolate(image[..., :CORNER, :CORNER], scale_factor=ZOOM, mode="nearest"))
        rows.append(row)
        corners.append(corner_row)
    return results, rows, corners


def table(results: dict[str, Any]) -> str:
    lines = [
        f"{results['size']} px, {results['steps']} steps, the defaults otherwise; border excess 1 = no frame",
        "",
        "photo | padding | border excess | structure | Gram style | sliced style | colour",
        "---|---|---|---|---|---|---",
    ]
    for r in results["runs"]:
        lines.append(
            f"{r['photo']} | {r['padding']} | {r['border_excess']:.2f} | {r['structure']:.3f} | "
            f"{r['gram_style']:.4f} | {r['sliced_style']:.4f} | {r['color']:.3f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run at 96 px, 3 steps")
    parser.add_argument("--size", type=int, default=384)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--out", type=Path, default=Path("edges.json"))
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    size, steps = (96, 3) if args.quick else (args.size, args.steps)
    results, rows, corners = figures(size, steps)
    write_results(args.out, results, contact_sheet(rows, side=256), table(results))
    contact_sheet(corners, side=CORNER * ZOOM).save(args.out.with_name(args.out.stem + "_corners.png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
