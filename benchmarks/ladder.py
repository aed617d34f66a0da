"""Where coarse-to-fine starts to pay: one scale against the ladder, on the real VGG16, size by size.

`python benchmarks/ladder.py [--quick] [--sizes 384,512,768,1024] [--steps 100] [--out ladder.json]`

At each size both runs get the same steps (the ladder spends most of them at
its small sizes, so it also takes less time). Judged by core/quality.py:
the structure score, the style distance at full size, and the style
distance of the result shrunk to 256 px (`canvas_style_distance`: is the
style at the canvas' scale?). A contact sheet of both results per size is
written beside the JSON. The cross-over these figures show is the size above
which `--scales auto` (the default) climbs the ladder (scales.LADDER_FROM).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import torch

from nst_nodes.core.quality import canvas_style_distance, structure_score, style_distance  # noqa: E402
from nst_nodes.core.settings import RunSettings  # noqa: E402
from nst_nodes.core.style import StyleSpec  # noqa: E402
from nst_nodes.core.transfer import stylize  # noqa: E402

from real_weights import contact_sheet, inputs, real_model, write_results  # noqa: E402

CELL = 320


def figures(sizes: list[int], steps: int) -> tuple[dict[str, Any], list[list[torch.Tensor]]]:
    model = real_model()
    results: dict[str, Any] = {"steps": steps, "sizes": {}}
    rows = []
    for size in sizes:
        content, style = inputs(size)
        row, judged = [content, style], {}
        for scales in ("off", "on"):
            result = stylize(model, content, StyleSpec([style]), RunSettings(size=size, steps=steps, scales=scales))
            judged[scales] = {
                "seconds": result.metrics.seconds,
                "ladder": [scale["size"][0] for scale in result.metrics.scales],
                "structure": structure_score(result.image, content),
                "style": style_distance(model, result.image, style),
                "canvas_style": canvas_style_distance(model, result.image, style),
            }
            row.append(result.image)
            sys.stderr.write(f"{size} px {scales}: {judged[scales]}\n")
        results["sizes"][size] = judged
        rows.append(row)
    return results, rows


def table(results: dict[str, Any]) -> str:
    lines = [
        f"{results['steps']} steps each; style distances: lower is closer to the style",
        "",
        "size | scales | seconds | structure | style distance | style distance at 256 px",
        "---|---|---|---|---|---",
    ]
    for size, judged in results["sizes"].items():
        for scales, row in judged.items():
            name = "one scale" if scales == "off" else "ladder " + "-".join(str(s) for s in row["ladder"])
            lines.append(f"{size} | {name} | {row['seconds']:.1f} | {row['structure']:.3f} | {row['style']:.4f} | {row['canvas_style']:.4f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run at 192 px, 10 steps")
    parser.add_argument("--sizes", default="384,512,768,1024")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--out", type=Path, default=Path("ladder.json"))
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    sizes, steps = ([192], 10) if args.quick else ([int(s) for s in args.sizes.split(",")], args.steps)
    results, rows = figures(sizes, steps)
    # content | style | one scale | ladder, a row per size
    write_results(args.out, results, contact_sheet(rows, side=CELL), table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
