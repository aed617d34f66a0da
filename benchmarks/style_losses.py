"""The style and content losses side by side on real features, at equal wall time: `python benchmarks/style_losses.py [--quick]`.

Each of `--style-loss gram|w2|sliced` with each `--content-loss
mse|self-similarity` paints scikit-image's astronaut in the bundled waves
style on the real VGG16 (real_weights.py), at each size, with one scale and
with the ladder. Today's default (gram, mse) runs `--steps` steps; the others
are given the steps that take its time (a run over it by more than 5 % is
run again with fewer), so a loss that costs more per step is not also given
more time. Every result is judged by every judge in core/quality.py, none of
which is the w2, sliced or self-similarity loss being optimised: the Gram
style distance (at full size and at 256 px), the sliced Wasserstein distance
of VGG features (its own seed and directions), the colour-histogram
distance, the structure score. Writes JSON, a contact sheet (a row per size,
ladder and content loss: content, style, gram, w2, sliced) and a sheet of
1:1 crops of the face and of the top-left border of each pair's largest result.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from nst_nodes.core.images import tensor_to_pil
from nst_nodes.core.content_stats import CONTENT_LOSSES
from nst_nodes.core.settings import LossSettings, RunSettings
from nst_nodes.core.style import StyleSpec
from nst_nodes.core.style_stats import STYLE_LOSSES
from nst_nodes.core.transfer import stylize

from real_weights import contact_sheet, every_judge, photo, real_model, waves, write_results

CELL = 256
# Where the astronaut's face and the picture's top-left border are, as fractions of (rows, columns).
CROPS = {"face": ((0.12, 0.42), (0.38, 0.68)), "border": ((0.0, 0.25), (0.0, 0.25))}
# A loss over the default's time by more than this is run again with fewer steps.
TIME_SLACK = 1.05


def run_at_equal_time(model, content, style, size: int, scales: str, steps: int, loss: LossSettings, seconds: float | None):
    """(result, steps used): `steps`, or for losses slower than the default's `seconds`, the steps that fit in them."""
    result = stylize(model, content, StyleSpec([style]), RunSettings(size=size, steps=steps, scales=scales), loss)
    if seconds is not None and result.metrics.seconds > TIME_SLACK * seconds:
        steps = max(1, int(steps * seconds / result.metrics.seconds))
        result = stylize(model, content, StyleSpec([style]), RunSettings(size=size, steps=steps, scales=scales), loss)
    return result, steps


def figures(
    sizes: list[int], ladders: list[str], content_losses: list[str], steps: int, style_losses: Sequence[str] = STYLE_LOSSES
) -> tuple[dict[str, Any], list[list[torch.Tensor]], dict[str, torch.Tensor]]:
    model = real_model()
    results: dict[str, Any] = {"steps": steps, "runs": []}
    rows: list[list[torch.Tensor]] = []
    largest: dict[str, torch.Tensor] = {}
    for size in sizes:
        content, style = photo("astronaut", size), waves()
        for scales in ladders:
            default_seconds = None
            for content_loss in content_losses:
                row = [content, style]
                for style_loss in style_losses:
                    loss = LossSettings(style_loss=style_loss, content_loss=content_loss)
                    result, used = run_at_equal_time(model, content, style, size, scales, steps, loss, default_seconds)
                    if default_seconds is None:  # the first pair is today's default (gram, mse): the baseline
                        default_seconds = result.metrics.seconds
                    judged = {"size": size, "scales": scales, "style_loss": style_loss, "content_loss": content_loss,
                              "steps": used, "seconds": result.metrics.seconds,
                              **every_judge(model, result.image, content, style)}  # fmt: skip
                    results["runs"].append(judged)
                    sys.stderr.write(f"{judged}\n")
                    row.append(result.image)
                    largest[f"{style_loss}, {content_loss}"] = result.image
                rows.append(row)
    return results, rows, largest


def crop(image: torch.Tensor, box: tuple[tuple[float, float], tuple[float, float]]) -> torch.Tensor:
    (top, bottom), (left, right) = box
    height, width = image.shape[-2:]
    return image[..., round(top * height) : round(bottom * height), round(left * width) : round(right * width)]


def crop_sheet(largest: dict[str, torch.Tensor]) -> Image.Image:
    """1:1 crops, a row per place (face, border), a column per pair of losses."""
    cells = [[tensor_to_pil(crop(image, box)) for image in largest.values()] for box in CROPS.values()]
    width = max(sum(c.width for c in row) for row in cells)
    sheet = Image.new("RGB", (width, sum(max(c.height for c in row) for row in cells)), "white")
    y = 0
    for row in cells:
        x = 0
        for cell in row:
            sheet.paste(cell, (x, y))
            x += cell.width
        y += max(c.height for c in row)
    return sheet


def table(results: dict[str, Any]) -> str:
    lines = [
        f"gram with mse {results['steps']} steps; the others the steps that fit in its time. "
        "Distances: lower is closer; structure: higher keeps more",
        "",
        "size | scales | style loss | content loss | steps | seconds | structure | Gram style | Gram style at 256 px | sliced style | colour",
        "---|---|---|---|---|---|---|---|---|---|---",
    ]
    for r in results["runs"]:
        lines.append(
            f"{r['size']} | {r['scales']} | {r['style_loss']} | {r['content_loss']} | {r['steps']} | {r['seconds']:.1f} | "
            f"{r['structure']:.3f} | {r['gram_style']:.4f} | {r['canvas_style']:.4f} | {r['sliced_style']:.4f} | {r['color']:.3f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run at 128 px, 5 steps, one scale")
    parser.add_argument("--sizes", default="512,1024")
    parser.add_argument("--scales", default="off,on", help="ladders to try: off (one scale), on")
    parser.add_argument("--content-losses", default=",".join(CONTENT_LOSSES), help="content losses to try")
    parser.add_argument("--style-losses", default=",".join(STYLE_LOSSES), help="style losses to try, gram first (the baseline)")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--out", type=Path, default=Path("style_losses.json"))
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    if args.quick:
        sizes, ladders, steps = [128], ["off"], 5
    else:
        sizes, ladders, steps = [int(s) for s in args.sizes.split(",")], args.scales.split(","), args.steps
    results, rows, largest = figures(sizes, ladders, args.content_losses.split(","), steps, args.style_losses.split(","))
    write_results(args.out, results, contact_sheet(rows, side=CELL), table(results))
    crop_sheet(largest).save(args.out.with_name(args.out.stem + "_crops.png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
