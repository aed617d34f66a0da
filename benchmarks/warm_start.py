"""The fast mode and the warm start: `python benchmarks/warm_start.py [--quick] [--sizes 256,512] [--out warm.json]`.

On the real VGG16 and real photos (real_weights.py's: scikit-image's cat, the
bundled waves), per size:

1. today's default run (init content, 300 steps) against runs started from
   the fast mode's result (`--init fast`, at each `--blends` share of the fast
   result, the rest the content), all judged every `--every` steps (judging
   left out of the clock, the fast pass counted in);
2. when each warm run is first as good as the default's finished picture, by
   two judges: core/quality.py's style distance (a Gram distance, which
   favours the Gram loss) and its sliced Wasserstein distance of VGG features
   (not a Gram distance), each with the structure score no more than
   STRUCTURE_SLACK below the default's. The feed-forward network's own style
   vector is not used to judge: it would judge its own start;
3. the fast mode alone: its time at 256, 512 and 1024 px (median of
   REPEATS passes, the model loaded), and its pictures at 1024 px painted at
   the 512 px working size and at 1024 px.

Prints a table, writes JSON and a contact sheet: content, style, fast,
warm-started at 30/60/100 steps, the default's result; a row per size.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # real_weights.py sits next to this file
    sys.path.insert(0, str(HERE))

from nst_nodes.core.fast import FastSettings, fast_stylize  # noqa: E402
from nst_nodes.core.fast_nets import FastModel  # noqa: E402
from nst_nodes.core.fast_weights import load_fast_model, locate_fast_model  # noqa: E402
from nst_nodes.core.quality import sliced_style_distance, structure_score, style_distance  # noqa: E402
from nst_nodes.core.settings import RunSettings  # noqa: E402
from nst_nodes.core.style import StyleSpec  # noqa: E402
from nst_nodes.core import transfer  # noqa: E402

from real_weights import contact_sheet, curve, inputs, real_model, write_results  # noqa: E402

STRUCTURE_SLACK = 0.03
SNAPSHOTS = (30, 60, 100)
REPEATS = 5
FAST_SIZES = (256, 512, 1024)


def _reach(points: list[tuple], style: float, sliced: float, structure: float) -> dict[str, Any]:
    """When a curve is first at least as good as (style, sliced, structure), by each judge."""
    found = {}
    for judge, index, limit in (("gram", 2, style), ("sliced", 3, sliced)):
        hit = next((p for p in points if p[index] <= limit and p[4] >= structure - STRUCTURE_SLACK), None)
        found[judge] = None if hit is None else {"seconds": hit[0], "step": hit[1]}
    return found


def fast_times(fast_model: FastModel, device: torch.device) -> dict[str, Any]:
    """Seconds of one fast-mode pass at each size (median of REPEATS after a first one), and the 1024 px pictures."""
    content, style = inputs(max(FAST_SIZES))
    spec = StyleSpec([style])
    seconds = {}
    for size in FAST_SIZES:
        run = RunSettings(size=size)
        fast_stylize(fast_model, content, spec, run, device=device)  # the first pass pays for allocations
        times = []
        for _ in range(REPEATS):
            started = time.perf_counter()
            fast_stylize(fast_model, content, spec, run, device=device)
            times.append(time.perf_counter() - started)
        seconds[str(size)] = statistics.median(times)
    large = RunSettings(size=max(FAST_SIZES))
    pictures = [fast_stylize(fast_model, content, spec, large, FastSettings(working_size=w), device).image for w in (512, 0)]
    return {"seconds": seconds, "sheet": [content, style, *pictures]}


def figures(sizes: list[int], steps: int, warm_steps: int, every: int, blends: list[float], device: torch.device) -> dict[str, Any]:
    model = real_model()
    fast_model = load_fast_model(locate_fast_model())
    results: dict[str, Any] = {"model": model.describe(), "steps": steps, "warm_steps": warm_steps, "blends": blends, "sizes": {}}
    rows = []
    for size in sizes:
        content, style = inputs(size)

        def judge(image: torch.Tensor) -> tuple[float, float, float]:
            return style_distance(model, image, style), sliced_style_distance(model, image, style), structure_score(image, content)

        default = curve(model, content, style, RunSettings(size=size, steps=steps), every, judge=judge)
        _, _, d_style, d_sliced, d_structure = default.points[-1]
        entry: dict[str, Any] = {
            "default": {"seconds": default.points[-1][0], "style": d_style, "sliced": d_sliced, "structure": d_structure},
            "curves": {"default": default.points},
            "warm": {},
        }
        started = time.perf_counter()
        fast = fast_stylize(fast_model, content, StyleSpec([style]), RunSettings(size=size), device=device).image
        entry["fast"] = {"seconds": time.perf_counter() - started, **dict(zip(("style", "sliced", "structure"), judge(fast)))}
        snapshots: dict[int, torch.Tensor] = {}
        for blend in blends:
            transfer.WARM_BLEND = blend
            warm = curve(model, content, style, RunSettings(size=size, steps=warm_steps, init="fast"), every, judge=judge,
                         fast_model=fast_model, keep_steps=SNAPSHOTS)  # fmt: skip
            entry["curves"][f"warm {blend:g}"] = warm.points
            entry["warm"][f"{blend:g}"] = {
                "reach": _reach(warm.points, d_style, d_sliced, d_structure),
                "at": {str(s): p for s in SNAPSHOTS for p in warm.points if p[1] == s},
                "final": warm.points[-1],
            }
            if blend == blends[0]:  # a run shorter than a snapshot's step shows its result there
                snapshots = {step: warm.snapshots.get(step, warm.image) for step in SNAPSHOTS}
        rows.append([content, style, fast, *(snapshots[s] for s in SNAPSHOTS), default.image])
        results["sizes"][str(size)] = entry
    transfer.WARM_BLEND = blends[0]
    timing = fast_times(fast_model, device)
    results["fast_seconds"] = timing["seconds"]
    rows.append(timing["sheet"])
    results["sheet"] = rows
    return results


def table(results: dict[str, Any]) -> str:
    lines = [
        f"default: init content, {results['steps']} steps; warm: init fast at each blend, {results['warm_steps']} steps; reach: first as good as the "
        f"default's result by the judge, structure within {STRUCTURE_SLACK}",
        "",
        "size | run | seconds | style (Gram) | sliced W. | structure | reaches default (Gram judge) | (sliced judge)",
        "---|---|---|---|---|---|---|---",
    ]
    for size, entry in results["sizes"].items():
        d, f = entry["default"], entry["fast"]
        lines.append(f"{size} | default | {d['seconds']:.1f} | {d['style']:.4f} | {d['sliced']:.4f} | {d['structure']:.3f} | |")
        lines.append(f"{size} | fast only | {f['seconds']:.2f} | {f['style']:.4f} | {f['sliced']:.4f} | {f['structure']:.3f} | |")
        for blend, warm in entry["warm"].items():
            t, step, style, sliced, structure = warm["final"]
            reach = [
                "never" if r is None else f"{r['seconds']:.1f} s (step {r['step']}): {r['seconds'] / d['seconds']:.2f}"
                for r in (warm["reach"]["gram"], warm["reach"]["sliced"])
            ]
            lines.append(f"{size} | warm {blend} | {t:.1f} | {style:.4f} | {sliced:.4f} | {structure:.3f} | {reach[0]} | {reach[1]}")
    seconds = ", ".join(f"{size} px {s:.2f} s" for size, s in results["fast_seconds"].items())
    return "\n".join(lines + ["", f"fast mode alone: {seconds}"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run at 128 px, 40 steps")
    parser.add_argument("--sizes", default="256,512")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--warm-steps", type=int, default=150, help="the warm runs' length (the target is a quarter of the default's time)")
    parser.add_argument("--every", type=int, default=10)
    parser.add_argument("--blends", default="1,0.7", help="shares of the fast result in the start, e.g. 1,0.7")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=Path("warm_start.json"))
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    sizes, steps, warm_steps = ([128], 40, 40) if args.quick else ([int(s) for s in args.sizes.split(",")], args.steps, args.warm_steps)
    blends = [float(b) for b in args.blends.split(",")]
    results = figures(sizes, steps, warm_steps, 10 if args.quick else args.every, blends, torch.device(args.device))
    write_results(args.out, results, contact_sheet(results.pop("sheet")), table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
