"""Large results: time and peak memory of whole, tiled and coarse-to-fine runs at 1024 px and beyond.

`python benchmarks/highres.py [--quick] [--sizes 1024,2048,4096] [--out highres.json]`

Every run is its own process, so that its peak RSS (ru_maxrss) is its own.
Per size:
- whole: `--steps` steps on the whole image (left out where it does not fit:
  the run would tile itself);
- tiled: the same steps in tiles of `--tile` px (exact: the same image);
- coarse-to-fine: `--ladder-steps` over the ladder (`--scales on`, tiles
  where a scale does not fit whole), its picture kept for the contact sheet.
On the real VGG16 (HED's trunk, as the tests make it), dtype auto, Adam. The
largest size the memory planner accepts on this machine is reported beside.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent

import torch  # noqa: E402

from nst_nodes.core.errors import InputError  # noqa: E402
from nst_nodes.core.geometry import MAX_SIDE  # noqa: E402
from nst_nodes.core.images import load_image, save_image  # noqa: E402
from nst_nodes.core.memory import MemoryPlan, available_bytes, largest_fitting, plan_memory  # noqa: E402
from nst_nodes.core.precision import compute_dtype  # noqa: E402
from nst_nodes.core.settings import LossSettings, RunSettings  # noqa: E402
from nst_nodes.core.style import StyleSpec  # noqa: E402
from nst_nodes.core.run_setup import footprint  # noqa: E402
from nst_nodes.core.transfer import stylize  # noqa: E402
from nst_nodes.core.vgg import VGGModel  # noqa: E402

from real_weights import contact_sheet, real_model, write_results  # noqa: E402

CELL = 384  # px of a contact-sheet cell


def _inputs() -> tuple[torch.Tensor, torch.Tensor]:
    from skimage import data

    photo = torch.from_numpy(data.astronaut()).permute(2, 0, 1)[None].float() / 255
    return photo, load_image(REPO / "samples" / "style_waves.png", "style")


def one_run(spec: dict[str, Any]) -> dict[str, Any]:
    """One measured run (in this process): the spec's size, tile, scales and steps."""
    import resource

    content, style = _inputs()
    run = RunSettings(exact=(spec["size"], spec["size"]), steps=spec["steps"], scales=spec["scales"], tile=spec["tile"])
    result = stylize(real_model(), content, StyleSpec([style]), run)
    if spec.get("image"):
        save_image(result.image, spec["image"], overwrite=True)
    final = result.metrics.scales[-1]
    return {
        **spec,
        "seconds": result.metrics.seconds,
        "final_scale_seconds_per_step": final["seconds"] / max(1, final["steps"]),
        "final_tile": final["tile"],
        "ladder": [scale["size"][0] for scale in result.metrics.scales],
        "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 2**30,
        "estimated_gib": result.metrics.params["estimated_bytes"] / 2**30,
    }


def measure(spec: dict[str, Any]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--one", json.dumps(spec)], capture_output=True, text=True, cwd=REPO
    )
    if done.returncode != 0:
        return {**spec, "failed": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "no output"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def plan(model: VGGModel, size: int) -> MemoryPlan:
    """What stylize plans for a size x size result at the defaults here (refuses what cannot fit)."""
    run, device = RunSettings(exact=(size, size)), torch.device("cpu")
    needs = footprint(model.architecture, LossSettings(), run.optimizer, compute_dtype(run.dtype, device))
    return plan_memory((size, size), needs, device, run.tile)


def largest_accepted(model: VGGModel) -> int | None:
    """The largest square the planner accepts here (tiled as needed)."""

    def accepted(hw: tuple[int, int]) -> bool:
        try:
            plan(model, hw[0])
        except InputError:  # refused: too large for this machine
            return False
        return True

    return largest_fitting((MAX_SIDE, MAX_SIDE), accepted)


def sheet_rows(content: torch.Tensor, style: torch.Tensor, images: dict[int, Path]) -> list[list[torch.Tensor]]:
    """content | style | the coarse-to-fine result at each size; below each result, a 1:1 crop of its centre."""
    results = [load_image(path, "result") for path in images.values()]
    blank = torch.ones(1, 3, CELL, CELL)
    crops = []
    for image in results:
        top, left = max(0, (image.shape[-2] - CELL) // 2), max(0, (image.shape[-1] - CELL) // 2)
        crops.append(image[..., top : top + CELL, left : left + CELL])
    return [[content, style, *results], [blank, blank, *crops]]


def table(results: dict[str, Any]) -> str:
    lines = [
        f"free memory at start: {results['free_gib']:.1f} GiB; largest size accepted: {results['largest_accepted']} px",
        "",
        "size | run | steps | seconds | s/step (final scale) | peak RSS GiB | estimate GiB",
        "---|---|---|---|---|---|---",
    ]
    for row in results["runs"]:
        name = row["mode"] + (f" (tiles {row['final_tile']} px)" if row.get("final_tile") else "")
        if "failed" in row:
            lines.append(f"{row['size']} | {row['mode']} | {row['steps']} | failed: {row['failed']} | | |")
            continue
        lines.append(
            f"{row['size']} | {name} | {row['steps']} | {row['seconds']:.1f} | {row['final_scale_seconds_per_step']:.2f} | "
            f"{row['peak_rss_gib']:.2f} | {row['estimated_gib']:.2f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run at 256 px")
    parser.add_argument("--sizes", default="1024,2048,4096")
    parser.add_argument("--steps", type=int, default=2, help="steps of the whole and tiled runs (default 2)")
    parser.add_argument("--ladder-steps", type=int, default=60, help="steps of the coarse-to-fine runs (default 60)")
    parser.add_argument("--tile", type=int, default=512, help="tile size of the tiled runs (default 512)")
    parser.add_argument("--out", type=Path, default=Path("highres.json"))
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(one_run(json.loads(args.one))))
        return 0
    sizes = [256] if args.quick else [int(s) for s in args.sizes.split(",")]
    tile = 128 if args.quick else args.tile
    steps, ladder_steps = (1, 4) if args.quick else (args.steps, args.ladder_steps)
    model = real_model()
    results: dict[str, Any] = {
        "free_gib": (available_bytes(torch.device("cpu")) or 0) / 2**30,
        "largest_accepted": largest_accepted(model),
        "runs": [],
    }
    images: dict[int, Path] = {}
    with tempfile.TemporaryDirectory(prefix="nst-highres-") as folder:
        for size in sizes:
            base = {"size": size, "steps": steps, "scales": "off"}
            if plan(model, size).tile is None:
                results["runs"].append(measure({**base, "mode": "whole", "tile": 0}))
            results["runs"].append(measure({**base, "mode": "tiled", "tile": tile}))
            images[size] = Path(folder) / f"ladder-{size}.png"
            ladder = {"size": size, "steps": ladder_steps, "scales": "on", "tile": 0, "mode": "coarse-to-fine"}
            results["runs"].append(measure({**ladder, "image": str(images[size])}))
            sys.stderr.write(table(results) + "\n\n")
        sheet = contact_sheet(sheet_rows(*_inputs(), {s: p for s, p in images.items() if p.is_file()}), side=CELL)
    write_results(args.out, results, sheet, table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
