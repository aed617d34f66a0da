"""Side by side with the tools users would pick instead: `python benchmarks/peers.py [--quick] [--tune]`.

The peers (`pip install -e ".[bench]"`; the package never imports them):
- neural-style-pt (PyPI `neural-style`), run as its own command line;
- the PyTorch tutorial pattern (baseline.py) in its published loop: L-BFGS
  with torch's defaults (20 iterations a call, history 100), its layers
  (conv_1..conv_5 for style, conv_4 for content) and weights (1e6, 1),
  300 evaluations from the content.
pystiche 1.0.1 was tried: it does not import on torchvision >= 0.13.

Every run is a process of its own on the same real VGG16 (HED's trunk, in
the convention each tool expects), the same content (scikit-image's cat)
and style (the bundled waves) at each size. Each saves its image every few
iterations; its clock is the wall time from its process's start (loading
included) to each saved file, and its peak RSS is its own (wait4). Only then
does one judge (core/quality.py) score every saved PNG: style distance,
content distance, structure. Figures, each a ratio within this run:

1. every tool with its defaults, ours also with L-BFGS, and each peer with
   its best settings (TUNED: what `--tune` picked from TUNING at 256 px);
2. for each peer run, the time each of ours' runs first scores at least as
   well on both distances (and, apart, on style distance and structure),
   as a fraction of the peer's time;
3. every run at equal wall time: at ours' default run time.
Prints a table, writes JSON and a contact sheet beside it.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # baseline.py and real_weights.py sit next to this file
    sys.path.insert(0, str(HERE))

import torch  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from nst_nodes.core.hed import caffe_to_torchvision  # noqa: E402
from nst_nodes.core.geometry import fit_size, resize  # noqa: E402
from nst_nodes.core.images import load_image, save_image, tensor_to_pil  # noqa: E402
from nst_nodes.core.quality import content_distance, structure_score, style_distance  # noqa: E402
from nst_nodes.core.vgg import VGGModel  # noqa: E402
from nst_nodes.core.weights import load_model, read_state_dict  # noqa: E402

# Tools as this file names them; the sheet and table print LABELS.
NEURAL_STYLE, TUTORIAL, OURS = "neural-style", "tutorial", "ours"
LABELS = {NEURAL_STYLE: "neural-style-pt 0.5.7", TUTORIAL: "PyTorch tutorial", OURS: "nst-nodes"}
# neural-style picks VGG16 from a file name with "vgg" and "16" in it (and none of "19", "sod", "fcn32s", "pruning").
NEURAL_STYLE_WEIGHTS = "vgg16-caffe.pth"
TUTORIAL_WEIGHTS = "vgg16-torchvision.pth"
TUTORIAL_PUBLISHED = {
    "content_layers": ["conv2_2"],  # the tutorial's conv_4: the fourth convolution
    "style_layers": ["conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1"],  # its conv_1..conv_5
    "content_weight": 1.0,
    "style_weight": 1e6,
}


@dataclass(frozen=True)
class Run:
    """One tool with one setting: `length` of its own counting (iterations, evaluations, steps), saved every `every`.

    `own` is where its result is read when the run goes on past it (ours'
    defaults run on, so that their curve can reach the peers'); 0: the end.
    """

    tool: str
    setting: str
    length: int
    every: int
    options: dict[str, Any] = field(default_factory=dict)  # the tool's own: CLI flags, tutorial weights, ...
    own: int = 0

    @property
    def name(self) -> str:
        return f"{self.tool} {self.setting}"


def default_runs(quick: bool) -> list[Run]:
    """Each tool as shipped, each peer with TUNED, and ours with L-BFGS (Gatys et al.'s optimiser, as the peers run)."""
    scale = (lambda n: max(2, n // 50)) if quick else (lambda n: n)
    runs = [
        Run(NEURAL_STYLE, "defaults", scale(1000), scale(50)),
        Run(TUTORIAL, "defaults", scale(300), scale(20), TUTORIAL_PUBLISHED),
        Run(OURS, "defaults", scale(600), scale(20), own=scale(300)),
        Run(OURS, "L-BFGS", scale(300), scale(20), {"optimizer": "lbfgs"}),
    ]
    runs += [replace(run, length=scale(run.length), every=scale(run.every), own=run.own and scale(run.own)) for run in TUNED.values()]
    return runs


def _neural_style(flags: str) -> Run:
    return Run(NEURAL_STYLE, flags, 500, 100, {"flags": flags.split()})


def _tutorial(style_weight: float) -> Run:
    return Run(TUTORIAL, f"style weight {style_weight:g}", 300, 20, {**TUTORIAL_PUBLISHED, "style_weight": style_weight})


# What --tune tries at 256 px; it picks, per tool, the setting and length (a saved image) with the
# lowest style distance + (1 - structure). TUNED is what it picked; the README's peer section has the table.
TUNING: list[Run] = [
    _neural_style("-tv_weight 0 -style_weight 100"),
    _neural_style("-tv_weight 0 -style_weight 1000"),
    _neural_style("-tv_weight 0 -style_weight 10000"),
    _neural_style("-tv_weight 0 -init image -style_weight 300"),
    _neural_style("-tv_weight 0 -init image -style_weight 1000"),
    _neural_style("-tv_weight 0 -init image -style_weight 10000"),
    *[_tutorial(weight) for weight in (1.0, 10.0, 100.0, 1000.0)],
]
TUNED: dict[str, Run] = {
    NEURAL_STYLE: Run(NEURAL_STYLE, "tuned", 100, 20, TUNING[3].options),
    # Its loop stops a call (20 evaluations) past its length: read at the image --tune picked.
    TUTORIAL: Run(TUTORIAL, "tuned", 100, 20, TUNING[8].options, own=100),
}


# ---------------------------------------------------------------- running a tool


@dataclass
class Outcome:
    """A finished run: its saved images by count, the seconds from its start to each, its peak RSS."""

    run: Run
    images: dict[int, Path]
    seconds: dict[int, float]
    peak_rss_gib: float
    wall_seconds: float


def prepare(folder: Path, content: torch.Tensor, style: torch.Tensor, weights: Path) -> None:
    """The inputs every tool reads: content.png, style.png (the content's size) and the VGG16 in both conventions.

    The tutorial's model needs the style at the content's size, so every tool
    gets it so: the style's centre, cut to the content's aspect and resized.
    """
    save_image(content, folder / "content.png")
    (height, width), (style_h, style_w) = content.shape[-2:], style.shape[-2:]
    keep_h, keep_w = min(style_h, round(style_w * height / width)), min(style_w, round(style_h * width / height))
    top, left = (style_h - keep_h) // 2, (style_w - keep_w) // 2
    save_image(resize(style[..., top : top + keep_h, left : left + keep_w], (height, width)), folder / "style.png")
    caffe = read_state_dict(weights)
    torch.save(caffe, folder / NEURAL_STYLE_WEIGHTS)
    torch.save(caffe_to_torchvision(caffe), folder / TUTORIAL_WEIGHTS)


def command(run: Run, size: int, inputs: Path) -> list[str]:
    if run.tool == NEURAL_STYLE:
        return [
            sys.executable, "-m", "neural_style.neural_style", "-gpu", "c", "-disable_check",
            "-model_file", str(inputs / NEURAL_STYLE_WEIGHTS),
            "-content_image", str(inputs / "content.png"), "-style_image", str(inputs / "style.png"),
            "-image_size", str(size), "-num_iterations", str(run.length), "-save_iter", str(run.every),
            "-print_iter", "0", "-seed", "0", "-output_image", "out.png", *run.options.get("flags", []),
        ]  # fmt: skip
    spec = {"run": asdict(run), "inputs": str(inputs)}
    return [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)]


RECORD = "run.json"  # in each run's folder: its start (epoch seconds), wall time and peak RSS


def execute(run: Run, size: int, inputs: Path, folder: Path) -> Outcome:
    """Run one tool in a fresh process in `folder`; its saved images are `out_<count>.png` (neural-style: out.png last)."""
    folder.mkdir(parents=True)
    with open(folder / "log.txt", "w") as log:
        started = time.time()
        process = subprocess.Popen(command(run, size, inputs), cwd=folder, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.time() - started
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        tail = (folder / "log.txt").read_text().strip().splitlines()[-5:]
        raise SystemExit(f"{run.name} at {size} px failed (exit {code}):\n" + "\n".join(tail))
    record = {"started": started, "wall_seconds": wall, "peak_rss_gib": usage.ru_maxrss * 1024 / 2**30}
    (folder / RECORD).write_text(json.dumps(record) + "\n")
    return collect(run, folder)


def collect(run: Run, folder: Path) -> Outcome:
    """A finished run's images and record, read from its folder (just run, or kept by --work)."""
    record = json.loads((folder / RECORD).read_text())
    images = {}
    for path in folder.glob("out*.png"):
        count = path.stem.partition("_")[2]
        images[int(count) if count else run.length] = path
    images = dict(sorted(images.items()))
    return Outcome(
        run=run,
        images=images,
        seconds={count: path.stat().st_mtime - record["started"] for count, path in images.items()},
        peak_rss_gib=record["peak_rss_gib"],
        wall_seconds=record["wall_seconds"],
    )


def child(spec: dict[str, Any]) -> None:
    """The tutorial's or ours' run, in this process, saving out_<count>.png as it goes."""
    run, inputs = Run(**spec["run"]), Path(spec["inputs"])
    torch.manual_seed(0)
    content, style = load_image(inputs / "content.png", "content"), load_image(inputs / "style.png", "style")
    if run.tool == TUTORIAL:
        from baseline import TutorialModel, TutorialRun

        from nst_nodes.core.weights import load_features

        _, features = load_features(inputs / TUTORIAL_WEIGHTS)
        o = run.options
        model = TutorialModel(features, content, style, o["content_layers"], o["style_layers"],
                              o["content_weight"], o["style_weight"])  # fmt: skip
        loop = TutorialRun(model, content, "lbfgs", 1.0, lbfgs_iterations=20, lbfgs_history=100)
        saved = 0
        while loop.evaluations <= run.length:  # the tutorial's own condition: it stops past `num_steps`
            loop.step()
            if loop.evaluations - saved >= run.every:
                save_image(loop.image.detach().clamp(0, 1), f"out_{loop.evaluations}.png")
                saved = loop.evaluations
        save_image(loop.image.detach().clamp(0, 1), f"out_{loop.evaluations}.png", overwrite=True)
        return
    from nst_nodes.core.optimize import StepInfo
    from nst_nodes.core.settings import RunSettings
    from nst_nodes.core.style import StyleSpec
    from nst_nodes.core.transfer import stylize

    def on_step(info: StepInfo) -> None:
        if info.step % run.every == 0 or info.step == info.total:
            save_image(info.preview(), f"out_{info.step}.png", overwrite=True)

    model = load_model(inputs / NEURAL_STYLE_WEIGHTS, convention="caffe")
    settings = RunSettings(size=max(content.shape[-2:]), steps=run.length, **run.options)
    stylize(model, content, StyleSpec([style]), settings, on_step=on_step)


# ---------------------------------------------------------------- judging


@dataclass
class Point:
    count: int
    seconds: float
    style: float
    content: float
    structure: float

    def as_good_as(self, other: "Point") -> bool:
        """On the issue's two coordinates: the style and the content distance."""
        return self.style <= other.style and self.content <= other.content

    def looks_as_good_as(self, other: "Point") -> bool:
        """On the style distance and the structure score (the content distance ranks a flat grey above a stylised photo)."""
        return self.style <= other.style and self.structure >= other.structure

    @property
    def tuning_score(self) -> float:
        return self.style + (1 - self.structure)


def judge(model: VGGModel, outcome: Outcome, content: torch.Tensor, style: torch.Tensor) -> list[Point]:
    points = []
    for count, path in outcome.images.items():
        image = load_image(path, "result")
        points.append(Point(count, outcome.seconds[count], style_distance(model, image, style),
                            content_distance(model, image, content), structure_score(image, content)))  # fmt: skip
    return points


def final(run: Run, points: list[Point]) -> Point:
    """The point at the run's own length (ours' defaults run on past it; the tutorial stops a call past it).

    The tutorial saves once a call (20 evaluations): an `own` shorter than that reads its first image.
    """
    return ([p for p in points if p.count <= run.own] or points[:1])[-1] if run.own else points[-1]


def at_time(points: list[Point], seconds: float) -> Point | None:
    """The last image saved by `seconds` (on the same clock: file times from each process's start), None if none was."""
    done = [p for p in points if p.seconds <= seconds]
    return done[-1] if done else None


# ---------------------------------------------------------------- the benchmark


def measure_size(
    runs: list[Run], size: int, model: VGGModel, weights: Path, work: Path, again: bool = False
) -> tuple[dict[str, Any], dict[str, Any]]:
    """All runs at one size, or (`again`) the runs kept in `work`: (JSON figures, the images the sheet shows)."""
    folder = work / f"{size}px"
    if again:
        outcomes = [collect(run, _run_folder(folder, run)) for run in runs]
    else:
        from real_weights import inputs as real_inputs

        folder.mkdir(parents=True)
        prepare(folder, *real_inputs(size), weights)
        outcomes = [execute(run, size, folder, _run_folder(folder, run)) for run in runs]
    content, style = load_image(folder / "content.png", "content"), load_image(folder / "style.png", "style")
    curves = {o.run.name: judge(model, o, content, style) for o in outcomes}
    ours_runs = [run for run in runs if run.tool == OURS]
    equal_seconds = final(ours_runs[0], curves[ours_runs[0].name]).seconds
    figures: dict[str, Any] = {"equal_time_seconds": equal_seconds, "runs": {}}
    pictures: dict[str, Any] = {"content": content, "style": style, "runs": {}}
    for outcome in outcomes:
        run, curve = outcome.run, curves[outcome.run.name]
        own, equal = final(run, curve), at_time(curve, equal_seconds)
        entry: dict[str, Any] = {
            "run": asdict(run), "final": asdict(own), "equal_time": equal and asdict(equal),
            "peak_rss_gib": outcome.peak_rss_gib, "wall_seconds": outcome.wall_seconds,
            "curve": [asdict(p) for p in curve],
        }  # fmt: skip
        if run.tool != OURS:
            entry["ours_reaches"] = {
                ours.name: {test: reach(curves[ours.name], own, test) for test in ("as_good_as", "looks_as_good_as")}
                for ours in ours_runs
            }
        figures["runs"][run.name] = entry
        pictures["runs"][run.name] = {
            "final": (own, load_image(outcome.images[own.count], "result")),
            "equal_time": equal and (equal, load_image(outcome.images[equal.count], "result")),
        }
    return figures, pictures


def _run_folder(size_folder: Path, run: Run) -> Path:
    return size_folder / run.name.replace(" ", "_").replace(",", "")


def reach(curve: list[Point], peer: Point, test: str) -> dict[str, Any] | None:
    """The first of ours' saved images that passes `test` against the peer's result, with its time as a fraction of the peer's."""
    reached = next((p for p in curve if getattr(p, test)(peer)), None)
    return reached and {**asdict(reached), "fraction": reached.seconds / peer.seconds}


def benchmark(
    runs: list[Run], sizes: list[int], weights: Path, work: Path, again: bool = False
) -> tuple[dict[str, Any], list]:
    model = load_model(weights, convention="caffe")
    results: dict[str, Any] = {"model": model.describe(), "sizes": {}}
    sheets = []
    for size in sizes:
        results["sizes"][str(size)], pictures = measure_size(runs, size, model, weights, work, again)
        sheets.append((size, pictures))
    return results, sheets


def best_tuned(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per tool, the tried setting and saved image with the lowest Point.tuning_score at the first size."""
    runs = next(iter(results["sizes"].values()))["runs"].values()
    best: dict[str, dict[str, Any]] = {}
    for entry in runs:
        for point in map(lambda p: Point(**p), entry["curve"]):
            tool = entry["run"]["tool"]
            if tool not in best or point.tuning_score < best[tool]["score"]:
                best[tool] = {"setting": entry["run"]["setting"], "count": point.count, "score": point.tuning_score}
    return best


# ---------------------------------------------------------------- reporting


def _label(run: dict[str, Any]) -> str:
    return f"{LABELS[run['tool']]}, {run['setting']}"


def _when(reached: dict[str, Any] | None) -> str:
    return "never" if reached is None else f"{reached['seconds']:.1f} s ({reached['count']}): {reached['fraction']:.2f}"


def table(results: dict[str, Any]) -> str:
    lines = [
        "size | tool, setting | length | seconds | style distance | content distance | structure | peak RSS GB",
        "---|---|---|---|---|---|---|---",
    ]
    for size, figures in results["sizes"].items():
        for entry in figures["runs"].values():
            own = entry["final"]
            lines.append(
                f"{size} px | {_label(entry['run'])} | {own['count']} | {own['seconds']:.1f} | {own['style']:.3f} "
                f"| {own['content']:.3f} | {own['structure']:.2f} | {entry['peak_rss_gib']:.2f}"
            )
    lines += ["", "size | peer, setting | ours | first as good on both distances: s (count): share of the peer's time "
              "| on style distance and structure", "---|---|---|---|---"]  # fmt: skip
    for size, figures in results["sizes"].items():
        for entry in figures["runs"].values():
            for ours, tests in entry.get("ours_reaches", {}).items():
                lines.append(f"{size} px | {_label(entry['run'])} | {ours} | {_when(tests['as_good_as'])} | {_when(tests['looks_as_good_as'])}")
    lines += ["", "size | tool, setting | at equal time (ours' default run) | count | style | content | structure", "---|---|---|---|---|---|---"]
    for size, figures in results["sizes"].items():
        for entry in figures["runs"].values():
            eq = entry["equal_time"]
            seen = "nothing saved yet" if eq is None else f"{eq['count']} | {eq['style']:.3f} | {eq['content']:.3f} | {eq['structure']:.2f}"
            lines.append(f"{size} px | {_label(entry['run'])} | {figures['equal_time_seconds']:.1f} s | {seen}")
    return "\n".join(lines)


def contact_sheet(sheets: list, cell: int = 192) -> Image.Image:
    """Per size two rows: every run at equal time, then at its own length; content and style first. Labelled."""
    strip = 28
    rows = []
    for size, pictures in sheets:
        for when, caption in (("equal_time", "at ours' default time"), ("final", "at its own length")):
            cells = [(f"content\nthis row: {caption}", pictures["content"]), ("style", pictures["style"])]
            for name, shots in pictures["runs"].items():
                shot = shots[when]
                tool, _, setting = name.partition(" ")
                label = f"{LABELS[tool]}, {setting}"
                cells.append((label + ("\n(nothing yet)" if shot is None else f"\n{shot[0].count} at {shot[0].seconds:.0f} s, {size} px"),
                              None if shot is None else shot[1]))  # fmt: skip
            rows.append(cells)
    width = max(len(r) for r in rows) * cell
    sheet = Image.new("RGB", (width, len(rows) * (cell + strip)), "white")
    draw = ImageDraw.Draw(sheet)
    for y, cells in enumerate(rows):
        top = y * (cell + strip)
        for x, (label, image) in enumerate(cells):
            draw.multiline_text((x * cell + 3, top + 1), label, fill="black", spacing=1)
            if image is not None:
                picture = tensor_to_pil(resize(image, fit_size(image.shape[-2], image.shape[-1], cell)))
                sheet.paste(picture, (x * cell, top + strip))
    return sheet


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run at 64 px, a fiftieth of each length")
    parser.add_argument("--tune", action="store_true", help="run TUNING at 256 px instead and name each tool's best")
    parser.add_argument("--sizes", default=None, help="comma-separated longest sides (default 256,512; --quick 64)")
    parser.add_argument("--weights", type=Path, default=None, help="VGG16 in Caffe's convention (default: the real one)")
    parser.add_argument("--work", type=Path, default=None, help="keep every run's images and log here (a new folder)")
    parser.add_argument("--again", type=Path, default=None,
                        help="judge the runs kept in this --work folder again instead of running them")  # fmt: skip
    parser.add_argument("--out", type=Path, default=Path("peers.json"))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(json.loads(args.child))
        return 0
    if importlib.util.find_spec("neural_style") is None:
        raise SystemExit('peers.py needs the peers: pip install -e ".[bench]"')
    if args.work is not None and args.work.exists():
        raise SystemExit(f"--work {args.work} exists; name a new folder (nothing in it is overwritten)")
    from real_weights import real_weights_path, write_results

    weights = args.weights or real_weights_path()
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else [64] if args.quick else [256] if args.tune else [256, 512]
    if args.again:
        sizes = sorted(int(folder.name[:-2]) for folder in args.again.glob("*px"))
    runs = TUNING + [Run(OURS, "defaults", 300, 20)] if args.tune else default_runs(args.quick)
    with tempfile.TemporaryDirectory(prefix="nst-peers-") as scratch:
        work = args.again or args.work or Path(scratch)
        results, sheets = benchmark(runs, sizes, weights, work, again=args.again is not None)
    if args.tune:
        results["best"] = best_tuned(results)
    best = f"\nbest (lowest style + content distance): {results['best']}" if args.tune else ""
    write_results(args.out, results, contact_sheet(sheets), table(results) + best)
    return 0


if __name__ == "__main__":
    sys.exit(main())
