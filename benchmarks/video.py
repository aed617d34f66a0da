"""Video stability: `python benchmarks/video.py [--quick] [--size 192] [--frames 12] [--out video.json]`.

On the real VGG16 (real_weights.py's) and footage-like clips of real photos
(clips.py: a camera panning over scikit-image's astronaut with a slow zoom,
and scikit-image's cat crossing it as a disc, which occludes), styled by
the bundled waves:

1. per-frame stylisation (every frame alone, the full steps): the flicker;
2. the stabilised runs (core/video.py) at each `--weights` temporal
   weight, 0 being the warped start alone;

each judged by Lai et al.'s warping error (flow.warping_error, flow and
mask from the content frames), as a ratio to the content frames' own error
and to per-frame stylisation's, and by two style judges averaged over the
frames (core/quality.py's Gram style distance and its sliced distance), as
a ratio to per-frame's. Time is the clip's wall time.

Prints a table, writes JSON, a contact strip (content, per-frame and the
default's frames, every third frame) and an animated GIF of the three side by side.
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
if str(HERE) not in sys.path:  # real_weights.py and clips.py sit next to this file
    sys.path.insert(0, str(HERE))

from nst_nodes.core.geometry import fit_size, resize  # noqa: E402
from nst_nodes.core.images import load_image  # noqa: E402
from nst_nodes.core.quality import sliced_style_distance, style_distance  # noqa: E402
from nst_nodes.core.settings import RunSettings  # noqa: E402
from nst_nodes.core.style import StyleSpec  # noqa: E402
from nst_nodes.core.video import DEFAULT_TEMPORAL_WEIGHT, VideoSettings, stylize_video  # noqa: E402

from clips import pan_clip  # noqa: E402
from real_weights import REPO, contact_sheet, real_model, write_results  # noqa: E402


def _photo(name: str, longest: int) -> torch.Tensor:
    from skimage import data

    image = torch.from_numpy(getattr(data, name)()).permute(2, 0, 1)[None].float() / 255
    return resize(image, fit_size(image.shape[-2], image.shape[-1], longest))


def footage(frames: int, size: int) -> list[torch.Tensor]:
    """The benchmark's clip: a pan over the astronaut with the cat crossing, `size` px wide, 4:3."""
    hw = (size * 3 // 4, size)
    return pan_clip(_photo("astronaut", size * 2), frames, hw, mover=_photo("chelsea", size), mover_speed=size / 48)


def judge(model, name: str, outputs: list[torch.Tensor], results: list, style: torch.Tensor, seconds: float) -> dict[str, Any]:
    """One run's figures: mean warping errors (stylised, content), mean style distances, time."""
    pairs = [r for r in results if r.warping_error is not None]
    return {
        "run": name,
        "seconds": seconds,
        "warping_error": statistics.fmean(r.warping_error for r in pairs),
        "content_warping_error": statistics.fmean(r.content_warping_error for r in pairs),
        "gram_style": statistics.fmean(style_distance(model, image, style) for image in outputs),
        "sliced_style": statistics.fmean(sliced_style_distance(model, image, style) for image in outputs),
        "restarts": sum(r.restarted for r in results),
        "steps": sum(r.metrics.steps for r in results),
    }


def run_clip(model, clip, style, run: RunSettings, video: VideoSettings) -> tuple[list, float]:
    started = time.perf_counter()
    results = list(stylize_video(model, clip, StyleSpec([style]), run, video=video))
    return results, time.perf_counter() - started


def figures(frames: int, size: int, steps: int, weights: list[float]) -> dict[str, Any]:
    model = real_model()
    clip = footage(frames, size)
    style = load_image(REPO / "samples" / "style_waves.png", "style")
    run = RunSettings(size=size, steps=steps)
    rows, kept = [], {}
    baseline, seconds = run_clip(model, clip, style, run, VideoSettings(stabilize=False))
    rows.append(judge(model, "per-frame", [r.image for r in baseline], baseline, style, seconds))
    kept["per-frame"] = [r.image for r in baseline]
    for weight in weights:
        results, seconds = run_clip(model, clip, style, run, VideoSettings(temporal_weight=weight))
        name = f"stabilised, weight {weight:g}"
        rows.append(judge(model, name, [r.image for r in results], results, style, seconds))
        kept[name] = [r.image for r in results]
    first = rows[0]
    for row in rows:
        row["vs_content"] = row["warping_error"] / row["content_warping_error"]
        row["vs_per_frame"] = first["warping_error"] / row["warping_error"]
        row["gram_style_vs_per_frame"] = row["gram_style"] / first["gram_style"]
        row["sliced_style_vs_per_frame"] = row["sliced_style"] / first["sliced_style"]
        row["time_vs_per_frame"] = row["seconds"] / first["seconds"]
    default = next((name for name in kept if name == f"stabilised, weight {DEFAULT_TEMPORAL_WEIGHT:g}"), list(kept)[-1])
    return {
        "size": list(clip[0].shape[-2:]), "frames": frames, "steps": steps, "rows": rows,
        "strips": {"content": clip, "per-frame": kept["per-frame"], "stabilised": kept[default]},
    }  # fmt: skip


def table(results: dict[str, Any]) -> str:
    height, width = results["size"]
    lines = [
        f"{results['frames']} frames, {width}x{height}, {results['steps']} steps on frame 0",
        "| run | warping error | x content | per-frame / this | Gram style x per-frame | sliced x per-frame | time x per-frame |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in results["rows"]:
        lines.append(
            f"| {row['run']} | {row['warping_error']:.2e} | {row['vs_content']:.2f} | {row['vs_per_frame']:.1f} | "
            f"{row['gram_style_vs_per_frame']:.3f} | {row['sliced_style_vs_per_frame']:.3f} | {row['time_vs_per_frame']:.2f} |"
        )
    return "\n".join(lines)


def animation(strips: dict[str, list[torch.Tensor]], path: Path) -> None:
    """The clip's three versions side by side as a looping GIF."""
    frames = []
    for row in zip(*strips.values()):
        sheet = contact_sheet([list(row)], side=row[0].shape[-2])
        frames.append(sheet.convert("P", palette=1, colors=255))  # adaptive palette
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=120, loop=0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 frames at 96 px, 30 steps: a smoke run")
    parser.add_argument("--size", type=int, default=192, help="the clip's width in px")
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--steps", type=int, default=300, help="frame 0's steps (later frames: a third)")
    parser.add_argument("--weights", default="0,10,30,100", help="temporal weights to run (the strip shows the default's)")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "video.json")
    args = parser.parse_args(argv)
    if args.quick:
        args.size, args.frames, args.steps = 96, 4, 30
    results = figures(args.frames, args.size, args.steps, [float(w) for w in args.weights.split(",")])
    strips = results.pop("strips")
    every = max(1, args.frames // 4)
    sheet = contact_sheet([images[::every] for images in strips.values()], side=results["size"][0])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    animation(strips, args.out.with_suffix(".gif"))
    write_results(args.out, results, sheet, table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
