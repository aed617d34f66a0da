"""The rotation search's benchmark (issue #3): `python benchmarks/bench_search.py [--quick] [--out FILE.json]`.

Measures, in one run on this machine's CPU (and on the GPU too when torch
sees CUDA):
1. a default search: SearchSettings() as shipped (K = 1, popsize 8 per
   parameter as scipy counts it, at most 10 generations, 96 px proxy, 10
   Adam steps) with LossSettings()'s layers, on the bundled samples;
2. one generation's proxy runs as one batch (what the search does) against
   the same members optimised one at a time, repeated with the two
   interleaved; the ratio of the medians is reported.
Prints a table and writes JSON. Weights are a seeded random VGG19 in
torchvision's layout: timings do not depend on their values. The load
average is recorded at the start and the end, since other work on the
machine slows both variants.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import torch

from inputs import random_vgg19, samples
from nst_nodes.core.rotation import RotationSpec
from nst_nodes.core.search import Proxy, search_rotation
from nst_nodes.core.settings import LossSettings, SearchSettings
from nst_nodes.core.style import StyleSpec
from nst_nodes.core.vgg import VGGModel

T = TypeVar("T")


def _inputs() -> tuple[torch.Tensor, StyleSpec]:
    content, style = samples()
    return content, StyleSpec([style])


def _timed(device: torch.device, work: Callable[[], T]) -> tuple[float, T]:
    """(seconds, result) of `work`, with the GPU's queue drained at both ends."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    started = time.perf_counter()
    value = work()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - started, value


def default_search(model: VGGModel, device: torch.device, generations: int) -> dict[str, Any]:
    """A search with the shipped settings (but `generations`), timed end to end."""
    content, style = _inputs()
    settings = SearchSettings(generations=generations)
    seconds, result = _timed(device, lambda: search_rotation(model, content, style, settings, device=device))
    return {
        "seconds": round(seconds, 2),
        "generations run": result.generations,
        "converged (DE tolerance met)": result.converged,
        "proxy runs": result.evaluations,
        "seconds per generation": round(seconds / (result.generations + 1), 2),
        "best angle": round(result.best.angles[0], 1),
    }


def batch_vs_sequential(model: VGGModel, device: torch.device, repeats: int) -> dict[str, Any]:
    """One default generation (8 members, 10 steps at 96 px) batched vs member by member."""
    content, style = _inputs()
    settings = SearchSettings()
    proxy = Proxy(model, content, style, settings, LossSettings(), device)
    angles = random.Random(0).sample(range(360), settings.popsize)
    targets_seconds, targets = _timed(device, lambda: [proxy.targets(RotationSpec([float(a)]), None) for a in angles])
    proxy.run(targets, None)  # warm-up: first-call costs belong to neither variant
    batched, sequential = [], []
    for _ in range(repeats):
        batched.append(_timed(device, lambda: proxy.run(targets, None))[0])
        sequential.append(_timed(device, lambda: [proxy.run([one], None) for one in targets])[0])
    batch_s, sequential_s = statistics.median(batched), statistics.median(sequential)
    return {
        "members": len(targets),
        "proxy steps": settings.proxy_steps,
        "proxy px": list(proxy.hw),
        "batched s (median)": round(batch_s, 3),
        "one at a time s (median)": round(sequential_s, 3),
        "sequential / batched": round(sequential_s / batch_s, 2),
        "targets s (all members)": round(targets_seconds, 3),
        "repeats": repeats,
    }


def measure(quick: bool = False) -> dict[str, Any]:
    """Flat name -> value figures (benchmarks/run.py shows them as rows of its figure 4)."""
    model = random_vgg19()
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    figures: dict[str, Any] = {"load average at start": round(os.getloadavg()[0], 2), "threads": torch.get_num_threads()}
    for device in devices:
        generations = 2 if quick else SearchSettings().generations
        for key, value in default_search(model, device, generations).items():
            figures[f"{device.type}: default search (max {generations} generations) {key}"] = value
        for key, value in batch_vs_sequential(model, device, repeats=1 if quick else 3).items():
            figures[f"{device.type}: one generation {key}"] = value
    figures["load average at end"] = round(os.getloadavg()[0], 2)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 generations and one repeat: a smoke run")
    parser.add_argument("--out", default="bench_search.json", help="where to write the JSON (default ./bench_search.json)")
    args = parser.parse_args()
    figures = measure(quick=args.quick)
    width = max(len(key) for key in figures)
    for key, value in figures.items():
        print(f"{key:<{width}}  {value}")
    Path(args.out).write_text(json.dumps(figures, indent=2) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
