"""Speed benchmarks of issue #7: `python benchmarks/run.py [--quick] [--out results.json]`.

Prints a table and writes JSON. Every figure is a ratio or a percentage of
two things measured in this same run, so the numbers mean something on a
busy machine too; the load average is recorded at the start and the end.

1. seconds per step, ours (the engine as the CLI runs it) vs the tutorial
   pattern in baseline.py, at two sizes; also bf16 vs fp32, and the glibc
   allocator setting on vs off;
2. achieved GFLOP/s of our step (FLOPs counted by torch's FlopCounterMode)
   as a percentage of this machine's matmul peak, measured in between;
3. time to quality is measured on real features, by real_weights.py (a
   loss on random features says nothing about the picture);
4. the rotation search, from bench_search.py when it exists;
5. peak memory: RSS of a fresh process (CUDA max allocated on a GPU).

Step timings and memory come from child processes (one per measurement,
variants interleaved, repeated; medians reported), because the allocator
setting and peak RSS are per process. Weights are a seeded random VGG19 in
torchvision's layout: FLOPs and timings do not depend on their values.
On a CUDA machine the same figures are measured on the GPU as extra rows.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # baseline.py and bench_search.py sit next to this file
    sys.path.insert(0, str(HERE))

from inputs import random_vgg19, samples  # noqa: E402
from nst_nodes.core.allocator import tune_allocator  # noqa: E402
from nst_nodes.core.geometry import resize  # noqa: E402
from nst_nodes.core.run_setup import Workload, prepare_run  # noqa: E402
from nst_nodes.core.optimize import StepInfo  # noqa: E402
from nst_nodes.core.settings import LossSettings, RunSettings  # noqa: E402
from nst_nodes.core.style import StyleSpec  # noqa: E402
from nst_nodes.core.transfer import stylize  # noqa: E402
from nst_nodes.core.vgg import VGGModel  # noqa: E402

GB = 2**30
# ---------------------------------------------------------------- shared inputs


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


# ---------------------------------------------------------------- child processes


def child_steps(spec: dict[str, Any]) -> dict[str, Any]:
    """Time `steps` optimiser steps of one implementation in this (fresh) process.

    The first step is left out of the timings (it pays one-off costs); page
    faults are counted over the timed steps; peak RSS covers the whole run.
    """
    if spec["allocator"]:
        tune_allocator()
    device = torch.device(spec["device"])
    model = random_vgg19()
    content, style = samples()
    size, steps = int(spec["size"]), int(spec["steps"])
    stamps: list[tuple[float, int]] = []
    first_loss = float("nan")
    if spec["impl"] == "ours":
        run = RunSettings(size=size, steps=steps, scales="off", dtype=spec["dtype"])

        def on_step(info: StepInfo) -> None:
            stamps.append((time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF).ru_minflt))

        result = stylize(model, content, StyleSpec([style]), run, device=device, on_step=on_step)
        first_loss = result.metrics.history[0]["total"]
    else:
        from baseline import TutorialModel, TutorialRun

        run, loss = RunSettings(size=size), LossSettings()
        hw = (size, size)
        image, target = resize(content, hw).to(device), resize(style, hw).to(device)
        tutorial = TutorialModel(
            model.features,
            image,
            target,
            loss.content_layers,
            loss.style_layers,
            loss.content_weight,
            loss.style_weight,
            freeze=spec["impl"] == "baseline",
        )
        tutorial_run = TutorialRun(tutorial, image, run.optimizer, run.learning_rate)
        for step in range(steps):
            step_loss = tutorial_run.step()
            sync(device)
            stamps.append((time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF).ru_minflt))
            if step == 0:
                first_loss = step_loss
    times = [b[0] - a[0] for a, b in zip(stamps, stamps[1:])]
    faults = (stamps[-1][1] - stamps[0][1]) / max(1, len(stamps) - 1)
    out = {
        "times": times,
        "faults_per_step": faults,
        "max_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "first_loss": first_loss,
    }
    if device.type == "cuda":
        out["cuda_max_allocated_bytes"] = torch.cuda.max_memory_allocated(device)
    return out


def spawn(spec: dict[str, Any]) -> dict[str, Any]:
    """Run child_steps(spec) in a fresh interpreter and return its JSON answer."""
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"child {spec} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- matmul peak and FLOPs


def matmul_gflops(dtype: torch.dtype, device: torch.device, n: int, repeats: int) -> list[float]:
    """GFLOP/s of n x n matrix products, one sample per product (after a warm-up)."""
    generator = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(n, n, generator=generator, device=device).to(dtype)
    b = torch.randn(n, n, generator=generator, device=device).to(dtype)
    torch.mm(a, b)
    sync(device)
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        torch.mm(a, b)
        sync(device)
        samples.append(2 * n**3 / (time.perf_counter() - started) / 1e9)
    return samples


def conv_gflops(dtype: torch.dtype, device: torch.device, repeats: int) -> list[float]:
    """GFLOP/s of one 3x3, 256-channel convolution on a 64x64 map (NHWC), the kind of layer VGG is made of.

    A second yardstick next to the matmul peak: torch's fp32 matmul goes
    through MKL, which on some CPUs (AMD) runs slower code than oneDNN's
    convolutions, so a step can exceed that "peak".
    """
    generator = torch.Generator(device=device).manual_seed(0)
    x = torch.randn(1, 256, 64, 64, generator=generator, device=device).to(dtype, memory_format=torch.channels_last)
    w = torch.randn(256, 256, 3, 3, generator=generator, device=device).to(dtype, memory_format=torch.channels_last)
    flops = 2 * 256 * 256 * 9 * 64 * 64
    with torch.no_grad():
        torch.nn.functional.conv2d(x, w, padding=1)
        sync(device)
        samples = []
        for _ in range(repeats):
            started = time.perf_counter()
            torch.nn.functional.conv2d(x, w, padding=1)
            sync(device)
            samples.append(flops / (time.perf_counter() - started) / 1e9)
    return samples


def step_flops(model: VGGModel, content: torch.Tensor, style: torch.Tensor, size: int, device: torch.device) -> float:
    """FLOPs of one of our steps (forward, gradient to the image, Grams, losses), counted by torch."""
    from torch.utils.flop_counter import FlopCounterMode

    setup = prepare_run(model, content, StyleSpec([style]), LossSettings(), RunSettings(dtype="fp32"), device, Workload((size, size)))
    objective = setup.objective_at(setup.content)
    image = setup.content.to(device).requires_grad_(True)
    with FlopCounterMode(display=False) as counter:
        objective(image)["total"].sum().backward()
    return float(counter.get_total_flops())


# ---------------------------------------------------------------- loss curves (time to quality)


def figure4(quick: bool) -> dict[str, Any]:
    """bench_search.measure(quick), the rotation search's own benchmark."""
    import bench_search

    return bench_search.measure(quick=quick)


# ---------------------------------------------------------------- the run


@dataclass
class Plan:
    step_sizes: tuple[int, int]
    steps_per_child: dict[int, int]
    rounds: int
    memory_sizes: tuple[int, int]
    matmul_n: int


FULL = Plan((256, 512), {256: 6, 512: 4}, 3, (512, 1024), 2048)
QUICK = Plan((128,), {128: 4}, 1, (128,), 1024)


def step_figures(plan: Plan, device: torch.device, log: Callable[[str], None]) -> dict[str, Any]:
    """Figures 1, 2 and the allocator: step-timing children, interleaved with matmul-peak samples."""
    variants = {
        "ours_fp32": {"impl": "ours", "dtype": "fp32", "allocator": True},
        "ours_fp32_plain_malloc": {"impl": "ours", "dtype": "fp32", "allocator": False},
        "ours_bf16": {"impl": "ours", "dtype": "bf16", "allocator": True},
        "baseline": {"impl": "baseline", "dtype": "fp32", "allocator": False},
        "baseline_unfrozen": {"impl": "baseline_unfrozen", "dtype": "fp32", "allocator": False},
    }
    if device.type == "cuda":
        del variants["ours_fp32_plain_malloc"]  # host malloc does not touch GPU memory
    raw: dict[str, Any] = {"matmul_fp32": [], "matmul_bf16": [], "conv_fp32": [], "conv_bf16": []}
    for round_index in range(plan.rounds):
        for size in plan.step_sizes:
            raw["matmul_fp32"] += matmul_gflops(torch.float32, device, plan.matmul_n, 3)
            raw["matmul_bf16"] += matmul_gflops(torch.bfloat16, device, plan.matmul_n, 3)
            raw["conv_fp32"] += conv_gflops(torch.float32, device, 3)
            raw["conv_bf16"] += conv_gflops(torch.bfloat16, device, 3)
            for name, variant in variants.items():
                if name == "baseline_unfrozen" and size != plan.step_sizes[0]:
                    continue  # the slip's cost shows at one size; it is the slowest child
                spec = {**variant, "size": size, "steps": plan.steps_per_child[size], "device": str(device)}
                log(f"round {round_index + 1}/{plan.rounds}: {name} at {size} px")
                answer = spawn(spec)
                entry = raw.setdefault(f"{name}@{size}", {"times": [], "faults": [], "rss": [], "cuda": [], "loss": []})
                entry["times"] += answer["times"]
                entry["faults"].append(answer["faults_per_step"])
                entry["rss"].append(answer["max_rss_bytes"])
                entry["cuda"].append(answer.get("cuda_max_allocated_bytes"))
                entry["loss"].append(answer["first_loss"])
    return raw


def summarise_steps(raw: dict[str, Any], flops: dict[int, float], sizes: Sequence[int]) -> dict[str, Any]:
    peak32, peak16 = median(raw["matmul_fp32"]), median(raw["matmul_bf16"])
    conv32, conv16 = median(raw["conv_fp32"]), median(raw["conv_bf16"])
    out: dict[str, Any] = {
        "matmul_peak_gflops": {"fp32": peak32, "bf16": peak16},
        "conv_gflops": {"fp32": conv32, "bf16": conv16},
        "sizes": {},
    }
    for size in sizes:
        t = {name.split("@")[0]: median(v["times"]) for name, v in raw.items() if name.endswith(f"@{size}")}
        ours, base = raw[f"ours_fp32@{size}"], raw[f"baseline@{size}"]
        row: dict[str, Any] = {
            "seconds_per_step": t,
            "speedup_vs_baseline": t["baseline"] / t["ours_fp32"],
            "bf16_speedup_vs_fp32": t["ours_fp32"] / t["ours_bf16"],
            "gflop_per_step": flops[size] / 1e9,
            "fp32_percent_of_matmul_peak": 100 * flops[size] / 1e9 / t["ours_fp32"] / peak32,
            "bf16_percent_of_matmul_peak": 100 * flops[size] / 1e9 / t["ours_bf16"] / peak16,
            "fp32_percent_of_conv": 100 * flops[size] / 1e9 / t["ours_fp32"] / conv32,
            "bf16_percent_of_conv": 100 * flops[size] / 1e9 / t["ours_bf16"] / conv16,
            "same_loss_as_baseline": abs(median(ours["loss"]) / median(base["loss"]) - 1),
            "faults_per_step": {name.split("@")[0]: median(v["faults"]) for name, v in raw.items() if name.endswith(f"@{size}")},
        }
        if "ours_fp32_plain_malloc" in t:
            row["allocator_speedup"] = t["ours_fp32_plain_malloc"] / t["ours_fp32"]
        if "baseline_unfrozen" in t:
            row["unfrozen_baseline_vs_ours"] = t["baseline_unfrozen"] / t["ours_fp32"]
        out["sizes"][size] = row
    return out


def memory_figure(plan: Plan, raw: dict[str, Any], device: torch.device, log: Callable[[str], None]) -> dict[str, Any]:
    """Figure 5: peak RSS (or CUDA max allocated) of a short run in a fresh process, ours vs the baseline."""
    key = "cuda" if device.type == "cuda" else "rss"
    out: dict[str, Any] = {"measure": "cuda_max_allocated" if key == "cuda" else "peak_rss"}
    for size in plan.memory_sizes:
        found = {}
        for name, impl, allocator in (("ours_fp32", "ours", True), ("baseline", "baseline", False)):
            entry = raw.get(f"{name}@{size}")
            if entry is None:
                log(f"memory: {name} at {size} px")
                answer = spawn({"impl": impl, "dtype": "fp32", "allocator": allocator, "size": size, "steps": 2, "device": str(device)})
                value = answer.get("cuda_max_allocated_bytes") if key == "cuda" else answer["max_rss_bytes"]
            else:
                value = median([v for v in entry[key] if v is not None])
            found[name] = value / GB
        out[size] = {"ours_gb": found["ours_fp32"], "baseline_gb": found["baseline"], "ratio": found["ours_fp32"] / found["baseline"]}
    return out


def run_device(plan: Plan, device: torch.device, log: Callable[[str], None]) -> dict[str, Any]:
    model = random_vgg19()
    content, style = samples()
    raw = step_figures(plan, device, log)
    flops = {size: step_flops(model, content, style, size, device) for size in plan.step_sizes}
    figures: dict[str, Any] = {"steps": summarise_steps(raw, flops, plan.step_sizes)}
    figures["memory"] = memory_figure(plan, raw, device, log)
    tune_allocator()  # the CLI runs with it; the children above measured both ways
    figures["raw"] = raw
    return figures


# ---------------------------------------------------------------- the table


def _fmt(value: float | None, spec: str = ".2f", suffix: str = "") -> str:
    return "n/a" if value is None else f"{value:{spec}}{suffix}"


def table(results: dict[str, Any]) -> str:
    """The figures as an aligned text table: what was measured, the ratio, the issue's target."""
    rows: list[tuple[str, str, str, str]] = []
    memory_rows: list[tuple[str, str, str, str]] = []
    for device, figures in results["devices"].items():
        steps = figures["steps"]
        peaks, convs = steps["matmul_peak_gflops"], steps["conv_gflops"]
        rows.append((f"{device}: matmul peak fp32 | bf16", f"{peaks['fp32']:.0f} | {peaks['bf16']:.0f} GFLOP/s", "", ""))
        rows.append((f"{device}: 3x3 conv (oneDNN/cuDNN) fp32 | bf16", f"{convs['fp32']:.0f} | {convs['bf16']:.0f} GFLOP/s", "", ""))
        for size, row in steps["sizes"].items():
            t = row["seconds_per_step"]
            rows.append((
                f"1. {device} s/step @{size}: ours fp32 | baseline",
                f"{t['ours_fp32']:.3f} | {t['baseline']:.3f} s",
                f"{row['speedup_vs_baseline']:.2f}x faster",
                ">=1.2x" if size == 512 else "",
            ))
            rows.append((
                f"   {device} s/step @{size}: ours bf16",
                f"{t['ours_bf16']:.3f} s",
                f"{row['bf16_speedup_vs_fp32']:.2f}x ours fp32",
                ">=1.8x",
            ))
            if "unfrozen_baseline_vs_ours" in row:
                rows.append((
                    f"   {device} s/step @{size}: baseline, weights not frozen",
                    f"{t['baseline_unfrozen']:.3f} s",
                    f"{row['unfrozen_baseline_vs_ours']:.2f}x ours",
                    "",
                ))
            if "allocator_speedup" in row:
                faults = row["faults_per_step"]
                rows.append((
                    f"   {device} @{size}: allocator setting off -> on",
                    f"{t['ours_fp32_plain_malloc']:.3f} -> {t['ours_fp32']:.3f} s, "
                    f"{faults['ours_fp32_plain_malloc']:.0f} -> {faults['ours_fp32']:.0f} faults/step",
                    f"{row['allocator_speedup']:.2f}x faster",
                    "",
                ))
            rows.append((
                f"2. {device} @{size}: step {row['gflop_per_step']:.0f} GFLOP, % of matmul peak",
                f"fp32 {row['fp32_percent_of_matmul_peak']:.0f} %, bf16 {row['bf16_percent_of_matmul_peak']:.0f} %",
                f"of conv: {row['fp32_percent_of_conv']:.0f} %, {row['bf16_percent_of_conv']:.0f} %",
                ">=90 % fp32",
            ))
            rows.append((f"   {device} @{size}: ours' loss vs baseline's, same image", f"{row['same_loss_as_baseline']:.1e} apart", "", "same"))
        memory = figures["memory"]
        for size, value in memory.items():
            if size != "measure":
                memory_rows.append((
                    f"5. {device} {memory['measure']} @{size}: ours | baseline",
                    f"{value['ours_gb']:.2f} | {value['baseline_gb']:.2f} GB",
                    f"{value['ratio']:.2f}x baseline",
                    "<6 GB" if str(size) == "1024" else "",
                ))
    rows += [(f"4. {key}", str(value), "", "") for key, value in results["search"].items()]
    rows += memory_rows
    header = ("figure", "measured", "ratio", "target")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(4)]
    lines = [" | ".join(h.ljust(w) for h, w in zip(header, widths)), "-+-".join("-" * w for w in widths)]
    lines += [" | ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    load = results["load"]
    lines.append(
        f"load average (1 min) at start {load['start'][0]:.2f}, at end {load['end'][0]:.2f}, "
        f"on {results['machine']['cpus']} CPUs; medians of {results['rounds']} round(s)"
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one round: a smoke test of a few minutes")
    parser.add_argument("--out", default="results.json", help="where to write the JSON (default results.json)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child_steps(json.loads(args.child))))
        return 0
    plan = QUICK if args.quick else FULL

    def log(message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    results: dict[str, Any] = {
        "quick": args.quick,
        "machine": {
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "python": platform.python_version(),
            "processor": platform.processor() or platform.machine(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        },
        "load": {"start": list(os.getloadavg())},
        "rounds": plan.rounds,
        "devices": {},
    }
    started = time.perf_counter()
    results["devices"]["cpu"] = run_device(plan, torch.device("cpu"), log)
    if torch.cuda.is_available():
        results["devices"]["cuda"] = run_device(plan, torch.device("cuda"), log)
    log("rotation search")
    results["search"] = figure4(args.quick)
    results["load"]["end"] = list(os.getloadavg())
    results["seconds"] = time.perf_counter() - started
    Path(args.out).write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(table(results))
    print(f"wrote {args.out} ({results['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
