"""What masks cost: `python benchmarks/bench_masks.py [--quick] [--out FILE.json]`.

Times optimiser steps at 512 px (256 with --quick) of the same run without
masks and with two regional styles (left/right halves), interleaved in one
process so that both see the same machine load, and reports the ratio of the
medians. Weights are the seeded random VGG19: the cost does not depend on
their values.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from inputs import random_vgg19, samples
from nst_nodes.core.allocator import tune_allocator
from nst_nodes.core.settings import RunSettings
from nst_nodes.core.style import StyleSpec
from nst_nodes.core.transfer import stylize


def step_seconds(model, content, spec: StyleSpec, size: int, steps: int) -> float:
    """Median seconds per step of a short run, its first step (one-off costs) left out."""
    stamps: list[float] = []
    stylize(model, content, spec, RunSettings(size=size, steps=steps), on_step=lambda _: stamps.append(time.perf_counter()))
    return statistics.median(b - a for a, b in zip(stamps, stamps[1:]))


def measure(quick: bool) -> dict[str, float]:
    tune_allocator()  # as `nst stylize` runs: keep activations' pages mapped between steps
    model = random_vgg19()
    content, style = samples()
    size, steps, rounds = (256, 4, 1) if quick else (512, 6, 3)
    left = torch.zeros(1, 1, 64, 64)
    left[..., :32] = 1
    plain = StyleSpec([style, torch.flip(style, dims=(-1,))])
    masked = StyleSpec(plain.images, masks=[left, 1 - left])
    timings: dict[str, list[float]] = {"unmasked": [], "two masks": []}
    for spec in (plain, masked):  # warm-up: oneDNN builds its kernels for a size on first use
        step_seconds(model, content, spec, size, 3)
    for _ in range(rounds):
        timings["unmasked"].append(step_seconds(model, content, plain, size, steps))
        timings["two masks"].append(step_seconds(model, content, masked, size, steps))
    medians = {name: statistics.median(values) for name, values in timings.items()}
    return {"size": size, **{f"{k} s/step": round(v, 3) for k, v in medians.items()},
            "masked / unmasked": round(medians["two masks"] / medians["unmasked"], 2)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="256 px, one round")
    parser.add_argument("--out", metavar="FILE.json", help="also write the figures as JSON")
    args = parser.parse_args()
    figures = measure(args.quick)
    for key, value in figures.items():
        print(f"{key:<24} {value}")
    if args.out:
        Path(args.out).write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
