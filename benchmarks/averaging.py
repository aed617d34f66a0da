"""Whether averaging the iterates helps on real features: `python benchmarks/averaging.py [--quick]`.

Paints scikit-image's astronaut in the bundled waves on the real VGG16
(real_weights.py) with `--average` 0 (the last iterate), 0.9 and 0.98,
the defaults otherwise, at one scale and on the ladder. Averaging costs no
steps, so the runs take the same steps. Judged by every judge of
core/quality.py; writes JSON and a contact sheet (a row per size: content,
style, each decay) and 1:1 face crops.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import torch

from nst_nodes.core.settings import RunSettings
from nst_nodes.core.style import StyleSpec
from nst_nodes.core.transfer import stylize

from real_weights import contact_sheet, every_judge, photo, real_model, waves, write_results

DECAYS = (0.0, 0.9, 0.98)
FACE = ((0.12, 0.42), (0.38, 0.68))  # the astronaut's face, as fractions of (rows, columns)


def face(image: torch.Tensor) -> torch.Tensor:
    (top, bottom), (left, right) = FACE
    height, width = image.shape[-2:]
    return image[..., round(top * height) : round(bottom * height), round(left * width) : round(right * width)]


def figures(sizes: list[tuple[int, str]], steps: int) -> tuple[dict[str, Any], list[list[torch.Tensor]], list[list[torch.Tensor]]]:
    model = real_model()
    results: dict[str, Any] = {"steps": steps, "runs": []}
    rows, faces = [], []
    for size, scales in sizes:
        content, style = photo("astronaut", size), waves()
        row, face_row = [content, style], []
        for decay in DECAYS:
            result = stylize(model, content, StyleSpec([style]), RunSettings(size=size, steps=steps, scales=scales, average=decay))
            image = result.image
            judged = {"size": size, "scales": scales, "average": decay, "seconds": result.metrics.seconds,
                      **every_judge(model, image, content, style)}  # fmt: skip
            results["runs"].append(judged)
            sys.stderr.write(f"{judged}\n")
            row.append(image)
            face_row.append(face(image))
        rows.append(row)
        faces.append(face_row)
    return results, rows, faces


def table(results: dict[str, Any]) -> str:
    lines = [
        f"{results['steps']} steps each. Distances: lower is closer; structure: higher keeps more",
        "",
        "size | scales | average | structure | Gram style | Gram style at 256 px | sliced style | colour",
        "---|---|---|---|---|---|---|---",
    ]
    for r in results["runs"]:
        lines.append(
            f"{r['size']} | {r['scales']} | {r['average']:g} | {r['structure']:.3f} | {r['gram_style']:.4f} | "
            f"{r['canvas_style']:.4f} | {r['sliced_style']:.4f} | {r['color']:.3f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run at 96 px, 4 steps, one scale")
    parser.add_argument("--runs", default="384:off,768:on", help="SIZE:SCALES pairs (scales off or on)")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--out", type=Path, default=Path("averaging.json"))
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    if args.quick:
        sizes, steps = [(96, "off")], 4
    else:
        sizes = [(int(size), scales) for size, scales in (pair.split(":") for pair in args.runs.split(","))]
        steps = args.steps
    results, rows, faces = figures(sizes, steps)
    write_results(args.out, results, contact_sheet(rows, side=256), table(results))
    contact_sheet(faces, side=256).save(args.out.with_name(args.out.stem + "_faces.png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
