"""`stylize_video`: a clip frame by frame, each frame held to the previous result where the flow says it can be.

Ruder, Dosovitskiy and Brox 2016, short-term: frame 0 is an ordinary run;
frame t starts from c * warp(X_{t-1}) + (1 - c) * content_t, where c is the
reliability mask of the content frames' flow (flow.py), and adds the
temporal term (temporal.py) to its loss, with fewer steps since it starts
near its answer. Where too little of the frame is reliable (a scene cut) it
starts again as a frame 0. Frames stream in and results stream out, so
memory does not grow with the clip; a run can resume after frame k from
that frame's content and result alone (`Previous`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import torch

from .checks import check_image, check_int, check_nonnegative
from .errors import InputError
from .fast_nets import FastModel
from .flow import motion_between, require_opencv, warp, warping_error
from .geometry import resize
from .metrics import RunMetrics
from .optimize import StepInfo
from .settings import LossSettings, RunSettings
from .style import StyleSpec
from .temporal import TemporalTarget
from .transfer import stylize
from .vgg import VGGModel

# Defaults measured on footage-like clips with the real VGG16 (README, "Video").
DEFAULT_TEMPORAL_WEIGHT = 10.0
# A later frame's steps as a share of the first frame's.
LATER_SHARE = 1 / 3
# Below this reliable share of the frame the previous result says too little: start again (a scene cut).
SCENE_CUT = 0.5
MAX_TEMPORAL_WEIGHT = 1e4


@dataclass(frozen=True)
class VideoSettings:
    """How a clip's frames are tied together.

    temporal_weight: the temporal term's weight (gamma); 0 keeps the warped
    start only. later_steps: the steps of every frame after the first and
    after a scene cut; 0 takes LATER_SHARE of the run's steps. scene_cut:
    the least reliable share of a frame that still continues from the
    previous result. stabilize: False paints every frame alone (the flicker
    this module exists to remove; kept to compare against).
    """

    temporal_weight: float = DEFAULT_TEMPORAL_WEIGHT
    later_steps: int = 0
    scene_cut: float = SCENE_CUT
    stabilize: bool = True

    def __post_init__(self) -> None:
        weight = check_nonnegative(self.temporal_weight, "temporal_weight")
        if weight > MAX_TEMPORAL_WEIGHT:
            raise InputError(f"{weight:g} is above {MAX_TEMPORAL_WEIGHT:g}; {DEFAULT_TEMPORAL_WEIGHT:g} is the default", "temporal_weight")
        check_int(self.later_steps, "later_steps", 0, meaning="0: a share of steps")
        if not 0.0 <= float(self.scene_cut) <= 1.0:
            raise InputError(f"{self.scene_cut} is outside [0, 1]; {SCENE_CUT} is the default", "scene_cut")

    def steps_after_first(self, run: RunSettings) -> int:
        """The steps a frame continuing from the previous result takes."""
        return self.later_steps or max(1, round(run.steps * LATER_SHARE))


@dataclass(frozen=True)
class Previous:
    """What frame t needs of frame t-1: its content frame and its result ([1, 3, H, W] each), to resume a run."""

    content: torch.Tensor
    result: torch.Tensor


@dataclass
class FrameResult:
    """One finished frame: its index in the clip, the result and reliability mask on the CPU, and its metrics.

    image: [1, 3, H, W] in [0, 1]. mask: [1, 1, H, W], where the previous
    result was trusted (all 0 for a frame that started afresh). restarted:
    the frame was painted alone (the first, a scene cut, or stabilize off).
    warping_error / content_warping_error: flow.warping_error of this frame
    and the one before, stylised and content (None for the first).
    """

    index: int
    image: torch.Tensor
    mask: torch.Tensor
    metrics: RunMetrics
    restarted: bool
    reliable_share: float | None = None
    warping_error: float | None = None
    content_warping_error: float | None = None

    def summary(self) -> dict[str, Any]:
        """The frame's line in the clip's metrics: no history, no settings (those are the clip's)."""
        return {
            "index": self.index, "steps": self.metrics.steps, "seconds": self.metrics.seconds, "final": self.metrics.final,
            "restarted": self.restarted, "reliable_share": self.reliable_share, "warping_error": self.warping_error,
            "content_warping_error": self.content_warping_error,
        }  # fmt: skip


@dataclass
class VideoMetrics:
    """The metrics JSON of a clip (`nst stylize-video --metrics`, the Stylize Video node's STRING), filled frame by frame."""

    frames: list[dict[str, Any]] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def add(self, frame: FrameResult) -> None:
        if not self.params:
            self.params = frame.metrics.params
        self.frames.append(frame.summary())
        self.seconds += frame.metrics.seconds

    def _mean(self, key: str) -> float | None:
        values = [frame[key] for frame in self.frames if frame[key] is not None]
        return sum(values) / len(values) if values else None

    def to_dict(self) -> dict[str, Any]:
        stylised, content = self._mean("warping_error"), self._mean("content_warping_error")
        return {
            "frames": len(self.frames),
            "seconds": self.seconds,
            "restarts": sum(1 for frame in self.frames if frame["restarted"]),
            "warping_error": stylised,
            "content_warping_error": content,
            "warping_error_ratio": stylised / content if stylised is not None and content else None,
            "params": self.params,
            "per_frame": self.frames,
        }


def _strength_of(strength_maps: torch.Tensor | Sequence[torch.Tensor | None] | None, index: int) -> torch.Tensor | None:
    """Frame `index`'s strength map: one map for every frame, or the frame's own of a sequence."""
    if strength_maps is None or isinstance(strength_maps, torch.Tensor):
        return strength_maps
    if index >= len(strength_maps):
        raise InputError(f"{len(strength_maps)} given, but the clip has a frame {index + 1}; give one for all frames or one per frame", "strength_map")
    return strength_maps[index]


def _checked_frame(frame: torch.Tensor, index: int, size: tuple[int, int] | None) -> torch.Tensor:
    """The frame, refused (naming it) if it is no image or not the size of the clip's first frame."""
    check_image(frame, "content", index)
    hw = tuple(frame.shape[-2:])
    if size is not None and hw != size:
        raise InputError(
            f"is {hw[1]}x{hw[0]} px but the clip's first frame is {size[1]}x{size[0]} px; every frame of a clip needs one size",
            "content", index,
        )  # fmt: skip
    return frame


def stylize_video(
    model: VGGModel,
    frames: Iterable[torch.Tensor],
    style: StyleSpec,
    run: RunSettings | None = None,
    loss: LossSettings | None = None,
    video: VideoSettings | None = None,
    device: torch.device | str = "cpu",
    *,
    strength_maps: torch.Tensor | Sequence[torch.Tensor | None] | None = None,
    first_index: int = 0,
    previous: Previous | None = None,
    on_step: Callable[[int, StepInfo], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    fast_model: FastModel | None = None,
) -> Iterator[FrameResult]:
    """Style transfer of a clip: yields each frame's result as soon as it is done.

    frames: content frames [1, 3, H, W] in [0, 1], one size, read lazily;
    the first is the clip's frame `first_index`. previous: frame
    first_index - 1's content and result, to resume a run where it stopped
    (the result exactly as written, e.g. read back from its PNG).
    on_step(frame index, step info) reports progress within each frame;
    should_stop is polled every step. strength_maps: one map for every
    frame or one per frame of the whole clip (regions.py).
    """
    require_opencv()  # before frame 0's work, not at frame 1
    run = run or RunSettings()
    video = video or VideoSettings()
    # A later frame starts from the warped previous result at full size, which coarse scales would blur.
    later = replace(run, steps=video.steps_after_first(run), init="content", scales="off")
    size: tuple[int, int] | None = None
    before: Previous | None = None
    for index, frame in enumerate(frames, start=first_index):
        _checked_frame(frame, index, size)
        size = size or tuple(frame.shape[-2:])
        output_hw = run.output_hw(size)
        content = resize(frame.float(), output_hw)
        if before is None and previous is not None:
            before = Previous(content=resize(previous.content.float(), output_hw), result=resize(previous.result.float(), output_hw))
        motion = motion_between(before.content, content) if before is not None else None
        follows = video.stabilize and motion is not None and motion.reliable_share >= video.scene_cut
        step_report = None if on_step is None else (lambda info, index=index: on_step(index, info))
        started = time.perf_counter()
        if follows:
            warped = warp(before.result, motion.flow)
            mask = motion.mask
            start = mask * warped + (1 - mask) * content
            temporal = TemporalTarget(image=warped, mask=mask, weight=video.temporal_weight) if video.temporal_weight else None
            result = stylize(
                model, content, style, later, loss, device, init_image=start, on_step=step_report, should_stop=should_stop,
                strength_map=_strength_of(strength_maps, index), temporal=temporal,
            )  # fmt: skip
        else:
            result = stylize(
                model, content, style, run, loss, device, on_step=step_report, should_stop=should_stop,
                strength_map=_strength_of(strength_maps, index), fast_model=fast_model,
            )  # fmt: skip
        metrics = result.metrics
        metrics.params.update(video=asdict(video), frame=index, followed_previous=follows)
        metrics.seconds = time.perf_counter() - started
        yield FrameResult(
            index=index,
            image=result.image,
            mask=motion.mask if follows else torch.zeros(1, 1, *output_hw),
            metrics=metrics,
            restarted=not follows,
            reliable_share=motion.reliable_share if motion is not None else None,
            warping_error=warping_error(before.result, result.image, motion) if motion is not None else None,
            content_warping_error=warping_error(before.content, content, motion) if motion is not None else None,
        )
        before = Previous(content=content, result=result.image)
    if size is None:
        raise InputError("the clip has no frames; give a video or a folder with at least one frame", "content")
