"""Stylize Video (NST): a clip's frames painted one after another, each held to the previous result (core/video.py)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import torch
from comfy_api.latest import io

from ..core.errors import InputError, inputs_named
from ..core.fast_nets import FastModel
from ..core.optimize import StepInfo
from ..core.run_setup import whole_run_bytes
from ..core.settings import INIT_CHOICES, MAX_STEPS, LossSettings, RunSettings
from ..core.style import StyleSpec
from ..core.video import (
    DEFAULT_TEMPORAL_WEIGHT,
    LATER_SHARE,
    MAX_TEMPORAL_WEIGHT,
    SCENE_CUT,
    VideoMetrics,
    VideoSettings,
    stylize_video,
)
from ..core.vgg import VGGModel
from . import _comfy
from ._convert import image_to_list, image_to_single, list_to_image, mask_to_list
from ._types import FAST, LOSS, STYLE, expect, input_names, node_schema, vgg_input
from .optimize import RUN_INPUTS, Optimize, per_content, run_settings, strength_map_input

log = logging.getLogger(__name__)

# Each VideoSettings field the node sets and the input that sets it, so errors name the input.
VIDEO_INPUTS = {
    "temporal_weight": "temporal_weight", "later_steps": "later_steps", "scene_cut": "scene_cut", "stabilize": "stabilize",
}  # fmt: skip
# The engine calls each frame "content"; here they all arrive through `frames`.
_NAMES = input_names({**RUN_INPUTS, **VIDEO_INPUTS, "content": "frames"})
# Optimize's widgets that mean the same here, declared once there (before and after `init`, whose tooltip differs).
_SHARED = (("optimizer", "learning_rate", "size"), ("preserve_color", "seed", "preview_interval", "dtype", "scales"))


def _optimize_inputs(*names: str) -> list[io.Input]:
    """Optimize's declarations of these inputs, so both nodes offer the same choices, defaults, limits and tooltips."""
    declared = {item.id: item for item in Optimize.define_schema().inputs}
    return [declared[name] for name in names]


def _frame_count(frames: torch.Tensor) -> int:
    """How many frames the IMAGE batch holds; anything else, or an empty clip, is refused naming the input."""
    if not isinstance(frames, torch.Tensor) or frames.dim() != 4:
        image_to_list(frames, "frames")  # raises, saying what arrived instead
    if frames.shape[0] == 0:
        raise InputError("frames: the clip has no frames; check the video that Get Video Components read")
    return int(frames.shape[0])


def _frames(frames: torch.Tensor) -> Iterator[torch.Tensor]:
    """The clip's frames one at a time as the engine's [1, 3, H, W] (each checked), so it is never copied whole."""
    for index in range(frames.shape[0]):
        yield image_to_single(frames[index : index + 1], "frames")


class _ClipProgress:
    """One progress bar over every frame's steps: the first frame's full run, then the later frames' shorter ones.

    A later frame that starts afresh (a scene cut) takes the full steps
    instead; the bar grows by the difference when that frame reports its first step.
    """

    def __init__(self, frames: int, first: int, later: int, preview_interval: int) -> None:
        self.bar = _comfy.Progress(first + (frames - 1) * later, preview_interval)
        self.later, self.planned, self.done, self.frame = later, first, 0, -1

    def step(self, index: int, info: StepInfo) -> None:
        if index != self.frame:
            self.bar.total += info.total - self.planned
            self.frame = index
        self.bar.update(self.done + info.step, info.preview)

    def frame_done(self, steps: int) -> None:
        self.done += steps
        self.planned = self.later


class StylizeVideo(io.ComfyNode):
    """Ruder et al.'s video style transfer: each frame starts from the previous result, warped by the optical flow."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return node_schema(
            node_id="NST_StylizeVideo",
            display_name="Stylize Video (NST)",
            search_aliases=["video", "stylize video", "animation", "temporal", "optical flow", "frames"],
            description=(
                "Repaints a clip's frames (an IMAGE batch from Get Video Components or Load Video) in the style, one "
                "after another: each frame starts from the previous result warped along the optical flow and is held "
                "to it where the flow is reliable, so the strokes stay put instead of flickering; a scene cut starts "
                "afresh. Needs OpenCV (pip install opencv-python-headless). Cancel stops it within one step."
            ),
            inputs=[
                vgg_input(),
                io.Image.Input("frames", tooltip="The clip's frames, in order, all of one size (Get Video Components' images)."),
                STYLE.Input("style", tooltip="The style from Style Mix, Style Rotate or Rotation DE Search."),
                io.Int.Input(
                    "steps",
                    default=RunSettings().steps,
                    min=1,
                    max=MAX_STEPS,
                    tooltip=(
                        "Optimisation steps of the first frame, and of any frame that starts afresh (a scene cut). "
                        "The frames after it start near their answer and take later_steps."
                    ),
                ),
                *_optimize_inputs(*_SHARED[0]),
                io.Combo.Input(
                    "init",
                    options=list(INIT_CHOICES),
                    default=RunSettings().init,
                    tooltip=(
                        "Start of the first frame and of a frame after a scene cut: the frame (usual), noise (uses the "
                        "seed), the first style image, or fast: the Fast Style result (connect fast_model). The other "
                        "frames start from the previous result."
                    ),
                ),
                *_optimize_inputs(*_SHARED[1]),
                io.Float.Input(
                    "temporal_weight",
                    default=DEFAULT_TEMPORAL_WEIGHT,
                    min=0.0,
                    max=MAX_TEMPORAL_WEIGHT,
                    step=1.0,
                    tooltip=(
                        "How strongly a frame is held to the previous result where the flow is reliable: higher is "
                        f"steadier, 0 keeps only the warped start. {DEFAULT_TEMPORAL_WEIGHT:g} is the measured default."
                    ),
                ),
                io.Int.Input(
                    "later_steps",
                    default=0,
                    min=0,
                    max=MAX_STEPS,
                    tooltip=f"Steps of each frame that continues from the previous one; 0: {LATER_SHARE:.0%} of steps.",
                ),
                io.Float.Input(
                    "scene_cut",
                    default=SCENE_CUT,
                    min=0.0,
                    max=1.0,
                    step=0.05,
                    tooltip=(
                        "The least share of a frame the previous one must reach (by the flow) to continue from it; below, "
                        "the frame starts afresh with the full steps. 0 never cuts; 1 cuts wherever anything is occluded."
                    ),
                ),
                io.Boolean.Input(
                    "stabilize",
                    default=True,
                    tooltip="Off: every frame painted alone with the full steps (the flicker this node removes), to compare.",
                ),
                *_optimize_inputs("tile", "average"),
                LOSS.Input(
                    "loss",
                    optional=True,
                    tooltip="Loss layers and weights from Content/Style Loss (NST); the defaults are used if empty.",
                ),
                strength_map_input(per="frame"),
                FAST.Input(
                    "fast_model",
                    optional=True,
                    tooltip="The fast mode's networks from Load Fast Model (NST); needed by init fast only.",
                ),
            ],
            outputs=[
                io.Image.Output(display_name="frames", tooltip="The stylised frames, one per input frame (Create Video's images)."),
                io.Mask.Output(
                    display_name="reliability",
                    tooltip="Per frame, where the previous result was trusted (white); black where a frame started afresh.",
                ),
                io.String.Output(
                    display_name="metrics",
                    tooltip="Clip metrics as JSON: per frame steps, time, restarts and warping errors; every setting.",
                ),
            ],
        )

    @classmethod
    def execute(
        cls,
        vgg: VGGModel,
        frames: torch.Tensor,
        style: StyleSpec,
        steps: int,
        optimizer: str,
        learning_rate: float,
        size: int,
        init: str,
        preserve_color: str,
        seed: int,
        preview_interval: int,
        dtype: str,
        scales: str,
        temporal_weight: float,
        later_steps: int,
        scene_cut: float,
        stabilize: bool,
        tile: int = 0,
        average: float = 0.0,
        loss: LossSettings | None = None,
        strength_map: torch.Tensor | None = None,
        fast_model: FastModel | None = None,
    ) -> io.NodeOutput:
        expect(vgg, VGGModel, "vgg")
        expect(style, StyleSpec, "style")
        expect(fast_model, FastModel, "fast_model", optional=True)
        loss = expect(loss, LossSettings, "loss", optional=True) or LossSettings()
        run = run_settings(steps, optimizer, learning_rate, size, init, preserve_color, seed, dtype, scales, tile, average)
        with inputs_named(_NAMES):
            video = VideoSettings(
                temporal_weight=temporal_weight, later_steps=later_steps, scene_cut=scene_cut, stabilize=stabilize
            )
        count = _frame_count(frames)
        strengths = per_content(strength_map, count, mask_to_list, "strength_map", "mask", per="frame")
        device = _comfy.torch_device()
        with inputs_named(_NAMES):
            _comfy.make_room(whole_run_bytes(vgg, loss, run, tuple(frames.shape[1:3])), device)
        later = video.steps_after_first(run) if video.stabilize else run.steps
        progress = _ClipProgress(count, run.steps, later, preview_interval)
        images, masks, metrics = [], [], VideoMetrics()
        try:
            with inputs_named(_NAMES):
                for result in stylize_video(
                    vgg, _frames(frames), style, run, loss, video, device, strength_maps=strengths,
                    on_step=progress.step, should_stop=_comfy.stop_if_interrupted, fast_model=fast_model,
                ):  # fmt: skip
                    images.append(result.image)
                    masks.append(result.mask)
                    metrics.add(result)
                    progress.frame_done(result.metrics.steps)
        finally:
            _comfy.release_memory()
        summary = metrics.to_dict()
        log.info("NST video: %d frames in %.1f s, %d restarts", summary["frames"], summary["seconds"], summary["restarts"])
        out = _comfy.output_device()
        reliability = torch.cat(masks).squeeze(1).clamp(0, 1).to(out)
        return io.NodeOutput(list_to_image(images, out), reliability, json.dumps(summary, indent=2))


NODES: list[type[io.ComfyNode]] = [StylizeVideo]
