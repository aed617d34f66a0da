"""Optimize (NST): the style transfer itself, one engine run per content image of the batch."""

from __future__ import annotations

import dataclasses
import json
import logging
import math

import torch
from comfy_api.latest import io

from ..core.errors import InputError
from ..core.images import check_side, pil_to_tensor
from ..core.memory import estimate_run_bytes
from ..core.vgg import Architecture
from ..core.metrics import RunMetrics
from ..core.optimize import (
    COLOR_CHOICES,
    DEFAULT_LR,
    INIT_CHOICES,
    MAX_STEPS,
    OPTIMIZERS,
    StepInfo,
    StylizeSettings,
    stylize,
)
from ..core.plot import plot_losses
from ..core.precision import DTYPE_CHOICES
from ..core.style import StyleSpec
from ..core.vgg import VGGModel
from . import _comfy
from ._convert import image_to_list, list_to_image
from ._types import CATEGORY, LOSS, STYLE, VGG

log = logging.getLogger(__name__)

SEED_MAX = 0xFFFF_FFFF_FFFF_FFFF
PLOT_SIZE = (512, 320)


def check_model_inputs(vgg: object, style: object) -> None:
    """Sockets only connect matching types, but an API prompt can send anything."""
    if not isinstance(vgg, VGGModel):
        raise InputError("vgg: connect the output of Load VGG (NST)")
    if not isinstance(style, StyleSpec):
        raise InputError("style: connect an NST_STYLE output (Style Mix, Style Rotate or Rotation DE Search)")


def run_settings(
    loss: StylizeSettings | None,
    steps: int,
    optimizer: str,
    learning_rate: float,
    size: int,
    init: str,
    preserve_color: str,
    seed: int,
    dtype: str = "auto",
    scales: str = "off",
) -> StylizeSettings:
    """The loss settings (or the defaults) with this node's run settings, checked by input name."""
    if loss is not None and not isinstance(loss, StylizeSettings):
        raise InputError("loss: connect the output of Content/Style Loss (NST) or leave it empty")
    if not 1 <= int(steps) <= MAX_STEPS:
        raise InputError(f"steps: {steps} is out of range; use 1 to {MAX_STEPS}")
    check_side(int(size), "size")
    if optimizer not in OPTIMIZERS:
        raise InputError(f"optimizer: {optimizer!r} is not one of {', '.join(OPTIMIZERS)}")
    if not math.isfinite(float(learning_rate)) or learning_rate < 0:
        raise InputError(
            f"learning_rate: {learning_rate} must be >= 0 (0 picks {DEFAULT_LR['adam']} for Adam, {DEFAULT_LR['lbfgs']} for L-BFGS)"
        )
    if init not in INIT_CHOICES:
        raise InputError(f"init: {init!r} is not one of {', '.join(INIT_CHOICES)}")
    if preserve_color not in COLOR_CHOICES:
        raise InputError(f"preserve_color: {preserve_color!r} is not one of {', '.join(COLOR_CHOICES)}")
    settings = dataclasses.replace(
        loss or StylizeSettings(),
        size=int(size),
        exact=None,
        steps=int(steps),
        optimizer=optimizer,
        lr=float(learning_rate) if learning_rate > 0 else None,
        init=init,
        seed=int(seed),
        preserve_color=preserve_color,
        dtype=dtype,
        scales=scales,
    )
    settings.validate()
    return settings


def pair_init_images(init_image: torch.Tensor | None, count: int) -> list[torch.Tensor | None]:
    """One init image for every content image: none, the same one for all, or one each."""
    if init_image is None:
        return [None] * count
    items = image_to_list(init_image, "init_image")
    if len(items) == 1:
        return items * count
    if len(items) != count:
        raise InputError(
            f"init_image: a batch of {len(items)} images for {count} content images; "
            "give one init image or exactly one per content image"
        )
    return items


def run_bytes(settings: StylizeSettings, content_hw: tuple[int, int], architecture: Architecture) -> int:
    """The engine's estimate of what one run at these settings needs on the device."""
    return estimate_run_bytes(
        *settings.output_hw(content_hw), settings.layers_needed(), settings.optimizer, architecture=architecture
    )


def metrics_json(metrics: list[RunMetrics]) -> str:
    """One run: the same JSON object as `nst stylize --metrics`; a batch: a list of them."""
    if len(metrics) == 1:
        return metrics[0].to_json()
    return json.dumps([m.to_dict() for m in metrics], indent=2)


class Optimize(io.ComfyNode):
    """Gatys et al.'s style transfer: optimise the pixels until content and style losses agree."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="NST_Optimize",
            display_name="Optimize (NST)",
            category=CATEGORY,
            description=(
                "Repaints each content image in the given style by optimising its pixels (Adam or L-BFGS) "
                "against VGG's content and style losses. A batch of N content images gives N results. "
                "Runs on ComfyUI's device with a live preview; Cancel stops it within one step."
            ),
            inputs=[
                VGG.Input("vgg", tooltip="The network from Load VGG (NST)."),
                io.Image.Input("content", tooltip="The picture(s) to repaint; each image of a batch is a separate run."),
                STYLE.Input("style", tooltip="The style from Style Mix, Style Rotate or Rotation DE Search."),
                io.Int.Input(
                    "steps",
                    default=300,
                    min=1,
                    max=MAX_STEPS,
                    tooltip="Optimisation steps (one loss evaluation each). 300 is the usual full run; 50 to 100 give a quick look.",
                ),
                io.Combo.Input(
                    "optimizer",
                    options=list(OPTIMIZERS),
                    default=StylizeSettings.optimizer,
                    tooltip=(
                        "adam: keeps the content's layout best at the default steps (measured on a real VGG16). "
                        "lbfgs: Gatys et al.'s; lowers the loss fastest per step, trading layout for style as it goes on."
                    ),
                ),
                io.Float.Input(
                    "learning_rate",
                    default=0.0,
                    min=0.0,
                    max=100.0,
                    step=0.001,
                    tooltip=f"Step size; 0 picks the default for the optimizer ({DEFAULT_LR['adam']} for Adam, {DEFAULT_LR['lbfgs']} for L-BFGS).",
                ),
                io.Int.Input(
                    "size",
                    default=512,
                    min=32,
                    max=8192,
                    step=8,
                    tooltip="Longest side of the result in px; the content's aspect ratio is kept. Time grows with the area.",
                ),
                io.Combo.Input(
                    "init",
                    options=list(INIT_CHOICES),
                    default="content",
                    tooltip="Starting image: the content (usual), noise (uses the seed) or the first style image. An init_image overrides it.",
                ),
                io.Combo.Input(
                    "preserve_color",
                    options=list(COLOR_CHOICES),
                    default="none",
                    tooltip=(
                        "none: take the style's colours. luminance: the result's brightness with the content's colours. "
                        "histogram: the styles' colours are matched to the content's before the run."
                    ),
                ),
                io.Int.Input(
                    "seed",
                    default=0,
                    min=0,
                    max=SEED_MAX,
                    control_after_generate=True,
                    tooltip="Seed of the noise start; the same seed, settings and device give the same result.",
                ),
                io.Int.Input(
                    "preview_interval",
                    default=10,
                    min=0,
                    max=MAX_STEPS,
                    tooltip="Send a live preview every this many steps (0: none). Previews cost a little time each.",
                ),
                io.Combo.Input(
                    "dtype",
                    options=list(DTYPE_CHOICES),
                    default="auto",
                    tooltip=(
                        "VGG19's arithmetic. auto: bf16 on CPUs with native bf16 (AVX512-BF16, AMX) and on CUDA GPUs "
                        "that support it, else fp32. bf16 halves the step time for a loss about 1 % higher at equal "
                        "steps; fp16 is for CUDA only."
                    ),
                ),
                io.String.Input(
                    "scales",
                    default="off",
                    tooltip=(
                        "Coarse-to-fine: off (one size), auto (from about 128 px up by x1.41, most steps at the small "
                        "sizes), or the coarser longest sides in px, e.g. 128, 256."
                    ),
                ),
                LOSS.Input(
                    "loss",
                    optional=True,
                    tooltip="Loss layers and weights from Content/Style Loss (NST); the defaults are used if empty.",
                ),
                io.Image.Input(
                    "init_image",
                    optional=True,
                    tooltip="A starting image instead of `init`: one for all content images, or one per content image.",
                ),
            ],
            outputs=[
                io.Image.Output(display_name="image", tooltip="The stylised image(s), one per content image."),
                io.Image.Output(display_name="loss_plot", tooltip="The loss curves of each run (log scale)."),
                io.String.Output(
                    display_name="metrics",
                    tooltip="Run metrics as JSON (losses, timings, every effective setting); a list for a batch.",
                ),
            ],
        )

    @classmethod
    def execute(
        cls,
        vgg: VGGModel,
        content: torch.Tensor,
        style: StyleSpec,
        steps: int,
        optimizer: str,
        learning_rate: float,
        size: int,
        init: str,
        preserve_color: str,
        seed: int,
        preview_interval: int,
        dtype: str = "auto",
        scales: str = "off",
        loss: StylizeSettings | None = None,
        init_image: torch.Tensor | None = None,
    ) -> io.NodeOutput:
        check_model_inputs(vgg, style)
        settings = run_settings(loss, steps, optimizer, learning_rate, size, init, preserve_color, seed, dtype, scales)
        contents = image_to_list(content, "content")
        inits = pair_init_images(init_image, len(contents))
        device = _comfy.torch_device()
        _comfy.make_room(run_bytes(settings, tuple(contents[0].shape[-2:]), vgg.architecture), device)
        progress = _comfy.Progress(settings.steps * len(contents), preview_interval)
        images, plots, metrics = [], [], []
        try:
            for index, (image, start) in enumerate(zip(contents, inits)):
                offset = index * settings.steps

                def on_step(info: StepInfo, offset: int = offset) -> None:
                    progress.update(offset + info.step, info.preview)

                result = stylize(
                    vgg, image, style, settings, device, init_image=start,
                    on_step=on_step, should_stop=_comfy.stop_if_interrupted,
                )  # fmt: skip
                title = "Loss per step (log scale)" + (f", image {index + 1} of {len(contents)}" if len(contents) > 1 else "")
                images.append(result.image)
                plots.append(pil_to_tensor(plot_losses(result.metrics.history, PLOT_SIZE, title)))
                metrics.append(result.metrics)
                log.info(
                    "NST run %d/%d: %d steps in %.1f s on %s", index + 1, len(contents),
                    result.metrics.steps, result.metrics.seconds, result.metrics.device,
                )  # fmt: skip
        finally:
            _comfy.release_memory()
        out = _comfy.output_device()
        return io.NodeOutput(list_to_image(images, out), list_to_image(plots, out), metrics_json(metrics))


NODES: list[type[io.ComfyNode]] = [Optimize]
