"""`nst stylize-video`: a clip painted frame by frame, each frame held to the one before (core/video.py), resumable.

Frames stream from the clip through the engine into the work folder
(video_work.py), one at a time; the result is written from there at the
end. A run stopped by Ctrl-C keeps its finished frames, and the same
command run again goes on after the last of them.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.errors import InputError, NSTError, StopRequested
from ..core.settings import INIT_CHOICES, LossSettings, RunSettings
from .inputs import load_strength_map, load_style, loss_settings_from_args, run_settings_from_args
from .model import load_fast_model_from_args, load_model_from_args
from .options import add_fast_weights_arg, add_run_args, flag_name
from .outputs import memory_plan_shown, refuse_existing_outputs, write_json
from .video_work import WorkFolder

if TYPE_CHECKING:
    from fractions import Fraction

    import torch
    from tqdm import tqdm

    from ..core.optimize import StepInfo
    from ..core.video import Previous, VideoMetrics, VideoSettings
    from .video_files import FrameSource

# nst stylize's flags that have no meaning for a clip: each is taken, so that it can be refused by name.
_REFUSED = (
    ("--plot", {"metavar": "LOSS.png"}, "a clip has one loss curve per frame; --metrics writes each frame's final losses"),
    ("--fast", {"action": "store_true"}, "the fast mode paints every frame alone, which flickers (--init fast starts each fresh frame from its result)"),
    ("--method", {"metavar": "METHOD"}, "the fast mode paints every frame alone, which flickers (--init fast starts each fresh frame from its result)"),
    ("--strength", {"metavar": "F"}, "it belongs to the fast mode (nst stylize --fast)"),
    ("--working-size", {"metavar": "PX"}, "it belongs to the fast mode (nst stylize --fast)"),
)


def add_parser(commands: argparse._SubParsersAction) -> None:
    from ..core.video import DEFAULT_TEMPORAL_WEIGHT, LATER_SHARE, SCENE_CUT
    from .video_files import DEFAULT_FPS, FRAME_SUFFIXES, VIDEO_FORMATS

    parser = commands.add_parser(
        "stylize-video", help="paint a video or a folder of frames, each frame held to the one before so that it does not flicker"
    )
    add_run_args(
        parser, "VIDEO|FOLDER",
        f"the clip to repaint: a video file, or a folder of frames ({', '.join(FRAME_SUFFIXES)}, in name order)",
        init_image=False,
    )  # fmt: skip
    add_fast_weights_arg(parser)
    parser.add_argument(
        "--out", required=True, metavar="OUT.mp4|FOLDER",
        help=f"the result: a video ({', '.join(VIDEO_FORMATS)}: H.264, the input's frame rate and audio) or a folder of PNG frames",
    )  # fmt: skip
    parser.add_argument("--metrics", metavar="OUT.json", help="write the clip's metrics (per frame: steps, losses, warping errors) as JSON")
    group = parser.add_argument_group("video")
    group.add_argument(
        "--temporal-weight", type=float, default=DEFAULT_TEMPORAL_WEIGHT, metavar="F",
        help="how strongly each frame keeps to the previous result where the motion is reliable; 0: only starts from it (default %(default)g)",
    )  # fmt: skip
    group.add_argument(
        "--later-steps", type=int, default=0, metavar="N",
        help=f"steps of a frame that goes on from the previous one (default 0: {round(LATER_SHARE * 100)}%% of --steps)",
    )  # fmt: skip
    group.add_argument(
        "--scene-cut", type=float, default=SCENE_CUT, metavar="SHARE",
        help="below this reliable share of a frame it starts afresh, as at a cut (0..1, default %(default)g)",
    )  # fmt: skip
    group.add_argument("--per-frame", action="store_true", help="paint every frame alone, with no temporal term (the flicker, to compare)")
    group.add_argument(
        "--fps", type=float, metavar="FPS",
        help=f"the frame rate of a folder of frames written as a video (default {DEFAULT_FPS}); a video keeps its own",
    )  # fmt: skip
    for flag, how, _ in _REFUSED:
        parser.add_argument(flag, help=argparse.SUPPRESS, **how)


def video_settings_from_args(args: argparse.Namespace) -> "VideoSettings":
    """--temporal-weight, --later-steps, --scene-cut and --per-frame."""
    from ..core.video import VideoSettings

    return VideoSettings(
        temporal_weight=args.temporal_weight, later_steps=args.later_steps, scene_cut=args.scene_cut, stabilize=not args.per_frame
    )


def _check_flags(args: argparse.Namespace) -> None:
    """What makes no sense for a clip, refused by its flag before any work."""
    from .video_files import out_is_folder

    for flag, _, why in _REFUSED:
        if getattr(args, flag[2:].replace("-", "_")) not in (None, False, "optimize"):  # --method optimize is what runs
            raise InputError(f"{flag}: not for video: {why}; drop it")
    if args.init not in INIT_CHOICES:
        raise InputError(
            f"--init: a clip's frames start from their content or the previous result, not from one image; drop it "
            f"(or give one of {', '.join(INIT_CHOICES)})"
        )
    if args.fps is not None:
        if not Path(args.content).is_dir():
            raise InputError("--fps: a video keeps its own frame rate; drop it (--fps is for a folder of frames)")
        if out_is_folder(args.out):
            raise InputError("--fps: a folder of PNG frames has no frame rate; drop it, or give --out a video file")
        if not args.fps > 0:
            raise InputError(f"--fps: {args.fps:g} is not a frame rate; give frames per second, e.g. 24")
    if Path(args.out).resolve() == Path(args.content).resolve():
        raise InputError("--out: is the --content itself; choose another name")


def recipe_of(args: argparse.Namespace, source: "FrameSource", run: RunSettings, loss: LossSettings, video: "VideoSettings") -> dict[str, Any]:
    """What the finished frames depend on: every setting and a stamp of every input file.

    Not where the results go, nor --fps (only the encoding's), nor the
    device: a run may go on on another one.
    """
    from .video_files import file_stamp

    def stamp(path: str | None) -> str | None:
        return file_stamp(path) if path and Path(path).exists() else path

    recipe = {
        "content": source.stamp(),
        "style": [stamp(path) for path in args.style],
        "mask": [stamp(path) for path in args.mask],
        "style_mask": [stamp(path) for path in args.style_mask],
        "strength_map": stamp(args.strength_map),
        "style_weights": args.style_weights,
        "mix": args.mix,
        "style_scale": args.style_scale,
        "weights": stamp(args.weights),
        "model": args.model,
        "convention": args.convention,
        "pooling": args.pooling,
        "padding": args.padding,
        "fast_weights": stamp(args.fast_weights) if run.init == "fast" else None,
        **asdict(run),
        **asdict(loss),
        **asdict(video),
    }
    return json.loads(json.dumps(recipe))  # as run.json reads back: tuples become lists


# Settings the recipe gained after work folders were first kept, each at the value every run had before it:
# a folder whose recipe lacks one was made so, and goes on with a run that keeps that value.
ADDED_TO_RECIPE = {"style_loss": "gram", "average": 0.0, "padding": "zeros", "content_loss": "mse"}


def _frames_done(work: WorkFolder, recipe: dict[str, Any], overwrite: bool) -> int:
    """The frames the work folder already holds for this recipe; one of another recipe is refused, or with --overwrite cleared."""
    recorded = work.recipe()
    if recorded is not None:
        recorded = {**ADDED_TO_RECIPE, **recorded}
    if recorded is None or recorded == recipe:
        return work.finished() if recorded is not None else 0
    if not overwrite:
        changed = sorted({flag_name(key, None) for key in recipe.keys() | recorded.keys() if recipe.get(key) != recorded.get(key)})
        raise InputError(
            f"out: {work.path} holds {work.finished()} frames of a run with other {', '.join(changed)}; rerun with the flags "
            "they were made with to go on, or delete that folder (or pass --overwrite) to start again"
        )
    work.clear()
    return 0


def _resumed_metrics(work: WorkFolder, done: int) -> "VideoMetrics":
    """The clip's metrics so far: the finished frames' lines, as the run that made them recorded them."""
    from ..core.video import VideoMetrics

    lines = work.lines(done)
    return VideoMetrics(
        frames=[line["frame"] for line in lines],
        params=lines[0]["params"] if lines else {},
        seconds=sum(line["frame"]["seconds"] for line in lines),
    )


def _check_opencv() -> None:
    """Fail before any work (the model, the clip), if the optical flow a clip needs cannot run (no OpenCV)."""
    from ..core.flow import MissingOpenCV, require_opencv

    try:
        require_opencv()
    except MissingOpenCV as error:
        raise MissingOpenCV(f"--content: {error}") from None


@contextmanager
def _frames_named(source: "FrameSource") -> Iterator[None]:
    """The engine's errors about one content frame, named by --content and that frame (a folder's: its file)."""
    try:
        yield
    except InputError as error:
        if error.fields != ("content",) or error.index is None:
            raise
        raise InputError(f"--content {source.frame_name(error.index)}: {error.problem}") from None


@contextmanager
def _plan_shown_once() -> Iterator[None]:
    """The memory plan of the first frame on stderr (every frame has the same), not one line per frame."""
    from ..core import run_setup

    shown: list[logging.LogRecord] = []

    def first(record: logging.LogRecord) -> bool:
        shown.append(record)
        return len(shown) == 1

    logger = logging.getLogger(run_setup.__name__)
    with memory_plan_shown():
        logger.addFilter(first)
        try:
            yield
        finally:
            logger.removeFilter(first)


def _interrupted(work: WorkFolder) -> int:
    """Ctrl-C: say what is kept and how to go on; the exit code of cli.main's interruption."""
    from . import EXIT_INTERRUPTED

    done = work.finished()
    if done == 0:
        work.clear()
        print("nst: interrupted; no result was written", file=sys.stderr)
    else:
        print(
            f"nst: interrupted; the {done} finished frames are kept in {work.path}: run the same command again "
            f"to go on from frame {done + 1}",
            file=sys.stderr,
        )
    return EXIT_INTERRUPTED


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ..core.allocator import tune_allocator
    from ..core.devices import resolve_device
    from ..core.video import stylize_video
    from .video_files import check_out, open_source, out_is_folder

    _check_flags(args)
    source = open_source(args.content, args.fps)
    check_out(args.out, args.overwrite)
    refuse_existing_outputs([("metrics", args.metrics)], args.overwrite)
    run_settings, loss, video = run_settings_from_args(args), loss_settings_from_args(args), video_settings_from_args(args)
    spec = load_style(args)
    strength_map = load_strength_map(args)
    recipe = recipe_of(args, source, run_settings, loss, video)
    work = WorkFolder(args.out)
    done = _frames_done(work, recipe, args.overwrite)
    if source.count is None or source.count > 1:
        _check_opencv()
    _say_dropped_audio(source, args.out)
    device = resolve_device(args.device)
    tune_allocator()  # this process only runs the job: keep activations' pages mapped between steps
    model = load_model_from_args(args)
    fast_model = load_fast_model_from_args(args) if run_settings.init == "fast" else None

    metrics = _resumed_metrics(work, done)
    frames, previous = _going_on(source, work, done)
    work.start(recipe)
    try:
        bar = tqdm(total=source.count, initial=done, desc="stylize-video", unit="frame", disable=None)
        with bar, _plan_shown_once(), _frames_named(source):
            for frame in stylize_video(
                model, frames, spec, run_settings, loss, video, device, strength_maps=strength_map, first_index=done,
                previous=previous, on_step=_step_shown(bar), fast_model=fast_model,
            ):  # fmt: skip
                work.save(frame)
                metrics.add(frame)
                bar.update(1)
        size = _write_result(args, source, work)
    except (KeyboardInterrupt, StopRequested):
        return _interrupted(work)
    except NSTError:
        if work.finished() == 0:
            work.clear()
        raise
    if args.metrics:
        write_json(args.metrics, metrics.to_dict(), overwrite=args.overwrite, what="metrics")
    work.clear()
    print(args.out)
    print(_summary(metrics, done, size, None if out_is_folder(args.out) else source.fps))
    return 0


def _going_on(source: "FrameSource", work: WorkFolder, done: int) -> tuple[Iterator["torch.Tensor"], "Previous | None"]:
    """The frames still to paint, and what the first of them goes on from: the last finished frame and its content frame."""
    from ..core.video import Previous

    if not done:
        return source.frames(), None
    frames = source.frames(done - 1)
    content = next(frames, None)
    if content is None:
        raise InputError(f"--content: {source.path} ends before frame {done}, the last one the work folder {work.path} holds")
    return frames, Previous(content=content, result=work.result(done - 1))


def _step_shown(bar: "tqdm") -> Callable[[int, "StepInfo"], None]:
    """The engine's on_step: the current frame and its step as the bar's postfix."""

    def on_step(index: int, info: "StepInfo") -> None:
        if info.step % 10 == 0 or info.step in (1, info.total):
            bar.set_postfix_str(f"frame {index + 1}, step {info.step}/{info.total}")

    return on_step


def _say_dropped_audio(source: "FrameSource", out: str) -> None:
    """Before any work: the audio a video --out cannot hold, which it is written without."""
    from .video_files import audio_fits, out_is_folder

    dropped = [] if out_is_folder(out) else [codec for codec in source.audio if not audio_fits(out, codec)]
    if dropped:
        print(
            f"nst: {Path(out).suffix} cannot hold the {', '.join(dropped)} audio of --content; the video is written "
            "without it (.mkv keeps it)",
            file=sys.stderr,
        )


def _write_result(args: argparse.Namespace, source: "FrameSource", work: WorkFolder) -> tuple[int, int]:
    """--out from the work folder's frames: a folder of PNGs or a video (with the input's audio); its (width, height)."""
    from .video_files import out_is_folder, write_folder, write_video

    count = work.finished()
    if count == 0:
        raise InputError(f"--content: no frame of {source.path} could be read")
    frames = [work.png(index) for index in range(count)]
    if out_is_folder(args.out):
        return write_folder(frames, args.out, args.overwrite)
    audio = source.path if source.is_video and source.audio else None
    return write_video(frames, args.out, source.fps, audio, args.overwrite)


def _summary(metrics: "VideoMetrics", resumed: int, size: tuple[int, int], fps: "Fraction | None") -> str:
    """The last line: frames, time, size, restarts and the warping error against the content's."""
    data = metrics.to_dict()
    width, height = size
    parts = [
        f"{data['frames']} frames" + (f" ({resumed} from an earlier run)" if resumed else ""),
        f"{data['seconds']:.1f} s",
        f"{width}x{height}" + (f" at {float(fps):g} fps" if fps else ""),
        f"{data['restarts']} painted afresh",
    ]
    if data["warping_error_ratio"] is not None:
        parts.append(f"warping error {data['warping_error_ratio']:.2f}x the content's")
    return ", ".join(parts)
