"""What each knob trades on the ladder, structure against style at the canvas' scale: `python benchmarks/ladder_structure.py [--quick]`.

The coarse-to-fine ladder (the default from 768 px) paints the style at the
canvas' scale and loses structure doing it. This paints scikit-image's
astronaut in the bundled waves on the real VGG16 (real_weights.py) with
today's default ladder and with each knob that could keep more structure:
a ladder that starts higher, a heavier content weight, shallower content
layers, style layers weighted towards the shallow ones (crowsonkb's
256:64:16:4:1), the self-similarity content loss. The default runs
`--steps` steps; the others the steps that fit in its time
(style_losses.run_at_equal_time). Every result is judged by every judge of
core/quality.py; writes JSON, a contact sheet (content, style, then each
variant) and 1:1 crops of the face and the top-left border.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import torch

from nst_nodes.core.scales import LADDER_START, scale_ladder
from nst_nodes.core.settings import LossSettings

from real_weights import contact_sheet, every_judge, photo, real_model, waves, write_results
from style_losses import crop_sheet, run_at_equal_time

CELL = 256
# crowsonkb/style-transfer-pytorch's style-layer weights, relu1_1 to relu5_1, scaled to average 1 as ours do.
SHALLOW_STYLE = tuple(5 * w / 341 for w in (256, 64, 16, 4, 1))
# name: (the ladder's smallest longest side in px, the loss settings that differ from the defaults)
VARIANTS: dict[str, tuple[int, dict[str, Any]]] = {
    "default": (LADDER_START, {}),
    "ladder from 181 px": (181, {}),
    "ladder from 256 px": (256, {}),
    "content weight 3": (LADDER_START, {"content_weight": 3.0}),
    "content relu3_1+relu4_2": (LADDER_START, {"content_layers": ("relu3_1", "relu4_2")}),
    "style layers 256:64:16:4:1": (LADDER_START, {"style_layer_weights": SHALLOW_STYLE}),
    "self-similarity relu3_1+relu4_2": (LADDER_START, {"content_loss": "self-similarity", "content_layers": ("relu3_1", "relu4_2")}),
}


def ladder_from(size: int, start: int) -> str:
    """The `scales` setting of the default ladder for a square `size` with its scales under `start` px left out."""
    sides = [max(hw) for hw in scale_ladder((size, size), "on")[:-1]]
    kept = [side for side in sides if side >= start - 1]  # the ladder's sides are rounded: 181 stands for 128 * sqrt(2)
    return ",".join(str(side) for side in kept) if kept else "off"


def figures(size: int, steps: int, equal_time: bool = True) -> tuple[dict[str, Any], list[torch.Tensor], dict[str, torch.Tensor]]:
    model = real_model()
    content, style = photo("astronaut", size), waves()
    results: dict[str, Any] = {"size": size, "steps": steps, "runs": []}
    images: dict[str, torch.Tensor] = {}
    default_seconds = None
    for name, (start, changes) in VARIANTS.items():
        scales = ladder_from(size, start)
        result, used = run_at_equal_time(model, content, style, size, scales, steps, LossSettings(**changes), default_seconds)
        if default_seconds is None and equal_time:  # the first variant is today's default: the baseline
            default_seconds = result.metrics.seconds
        judged = {"variant": name, "scales": scales, "steps": used, "seconds": result.metrics.seconds,
                  **every_judge(model, result.image, content, style)}  # fmt: skip
        results["runs"].append(judged)
        sys.stderr.write(f"{judged}\n")
        images[name] = result.image
    return results, [content, style, *images.values()], images


def table(results: dict[str, Any]) -> str:
    lines = [
        f"{results['size']} px; the default {results['steps']} steps, the others the steps that fit in its time. "
        "Distances: lower is closer; structure: higher keeps more",
        "",
        "variant | scales | steps | seconds | structure | Gram style | Gram style at 256 px | sliced style | colour",
        "---|---|---|---|---|---|---|---|---",
    ]
    for r in results["runs"]:
        lines.append(
            f"{r['variant']} | {r['scales']} | {r['steps']} | {r['seconds']:.1f} | {r['structure']:.3f} | "
            f"{r['gram_style']:.4f} | {r['canvas_style']:.4f} | {r['sliced_style']:.4f} | {r['color']:.3f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run at 256 px, 4 steps each (no equal-time cuts)")
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--out", type=Path, default=Path("ladder_structure.json"))
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    size, steps = (256, 4) if args.quick else (args.size, args.steps)
    results, row, images = figures(size, steps, equal_time=not args.quick)
    write_results(args.out, results, contact_sheet([row], side=CELL), table(results))
    crop_sheet(images).save(args.out.with_name(args.out.stem + "_crops.png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
