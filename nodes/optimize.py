"""Optimize (NST): the style transfer itself, one engine run per content image of the batch."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import torch
from comfy_api.latest import io

from ..core.errors import InputError, inputs_named
from ..core.fast_nets import FastModel
from ..core.geometry import MAX_SIDE, MIN_SIDE
from ..core.images import pil_to_tensor
from ..core.scales import LADDER_FROM
from ..core.metrics import RunMetrics
from ..core.optimize import StepInfo
from ..core.plot import plot_losses
from ..core.run_setup import whole_run_bytes
from ..core.precision import DTYPE_CHOICES
from ..core.settings import (
    COLOR_CHOICES,
    DEFAULT_LR,
    INIT_CHOICES,
    MAX_SEED,
    MAX_STEPS,
    OPTIMIZERS,
    WARM_STEPS,
    LossSettings,
    RunSettings,
)
from ..core.style import StyleSpec
from ..core.transfer import stylize
from ..core.vgg import VGGModel
from . import _comfy
from ._convert import image_to_list, list_to_image, mask_to_list
from ._types import FAST, LOSS, STYLE, expect, input_names, node_schema, vgg_input

log = logging.getLogger(__name__)

PLOT_SIZE = (512, 320)
_DEFAULTS = RunSettings()
# Each RunSettings field the node sets and the input that sets it, so errors name the input.
# learning_rate 0 stands for the optimizer's default; the widget can only show the number,
# so its label says so: locales/en/nodeDefs.json, which the frontend reads.
RUN_INPUTS = {
    "steps": "steps", "optimizer": "optimizer", "lr": "learning_rate", "size": "size", "init": "init",
    "preserve_color": "preserve_color", "seed": "seed", "dtype": "dtype", "scales": "scales", "tile": "tile",
    "average": "average",
}  # fmt: skip
_RUN_NAMES = input_names(RUN_INPUTS)


def size_input() -> io.Input:
    """The `size` widget, as every node that paints a result declares it."""
    return io.Int.Input(
        "size",
        default=_DEFAULTS.size,
        min=MIN_SIDE,
        max=MAX_SIDE,
        step=8,
        tooltip="Longest side of the result in px; the content's aspect ratio is kept. Time grows with the area.",
    )


def color_input() -> io.Input:
    """The `preserve_color` widget, as every node that paints a result declares it."""
    return io.Combo.Input(
        "preserve_color",
        options=list(COLOR_CHOICES),
        default=_DEFAULTS.preserve_color,
        tooltip=(
            "none: take the style's colours. luminance: the result's brightness with the content's colours. "
            "histogram: the styles' colours are matched to the content's before the run."
        ),
    )


def strength_map_input(per: str = "content image") -> io.Input:
    """The optional `strength_map` mask, as every node that paints a result declares it; `per`: what each result is of."""
    return io.Mask.Input(
        "strength_map",
        optional=True,
        tooltip=(
            "How strongly the style applies, region by region: white full style, black keeps the "
            f"content, grey in between. Any size (resized to the result); one mask for all {per}s, "
            f"or one per {per}."
        ),
    )


def run_settings(
    steps: int, optimizer: str, learning_rate: float, size: int, init: str, preserve_color: str, seed: int,
    dtype: str, scales: str, tile: int, average: float,
) -> RunSettings:  # fmt: skip
    """The node's run inputs as RunSettings, each problem named by its input (RUN_INPUTS)."""
    with inputs_named(_RUN_NAMES):
        return RunSettings(
            steps=steps, optimizer=optimizer, lr=float(learning_rate) if learning_rate != 0 else None, size=size,
            init=init, preserve_color=preserve_color, seed=seed, dtype=dtype, scales=scales, tile=tile,
            average=average,
        )  # fmt: skip


def per_content(
    value: torch.Tensor | None,
    count: int,
    split: Callable[[torch.Tensor, str], list[torch.Tensor]],
    what: str,
    kind: str,
    per: str = "content image",
) -> list[torch.Tensor | None]:
    """One item of an optional batch input for every content image: none, the same one for all, or one each.

    split: the batch -> its items (image_to_list, mask_to_list); kind: what an item is called in messages,
    per: what the `count` things it pairs with are (content images, a clip's frames).
    """
    if value is None:
        return [None] * count
    items: list[torch.Tensor | None] = list(split(value, what))
    if len(items) == 1:
        return items * count
    if len(items) != count:
        raise InputError(
            f"{what}: a batch of {len(items)} {kind}s for {count} {per}s; give one {kind} or exactly one per {per}"
        )
    return items


def metrics_json(metrics: list[RunMetrics]) -> str:
    """One run: the same JSON object as `nst stylize --metrics`; a batch: a list of them."""
    if len(metrics) == 1:
        return metrics[0].to_json()
    return json.dumps([m.to_dict() for m in metrics], indent=2)


class Optimize(io.ComfyNode):
    """Gatys et al.'s style transfer: optimise the pixels until content and style losses agree."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return node_schema(
            node_id="NST_Optimize",
            display_name="Optimize (NST)",
            search_aliases=["stylize", "paint", "style transfer run", "artistic style"],
            description=(
                "Repaints each content image in the given style by optimising its pixels (Adam or L-BFGS) "
                "against VGG's content and style losses. A batch of N content images gives N results. "
                "Runs on ComfyUI's device with a live preview; Cancel stops it within one step."
            ),
            inputs=[
                vgg_input(),
                io.Image.Input("content", tooltip="The picture(s) to repaint; each image of a batch is a separate run."),
                STYLE.Input("style", tooltip="The style from Style Mix, Style Rotate or Rotation DE Search."),
                io.Int.Input(
                    "steps",
                    default=_DEFAULTS.steps,
                    min=1,
                    max=MAX_STEPS,
                    tooltip=(
                        f"Optimisation steps (one loss evaluation each). {_DEFAULTS.steps} is the usual full run; 50 to 100 "
                        f"give a quick look. From init fast, {WARM_STEPS} are the full run (the command line's default there)."
                    ),
                ),
                io.Combo.Input(
                    "optimizer",
                    options=list(OPTIMIZERS),
                    default=_DEFAULTS.optimizer,
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
                size_input(),
                io.Combo.Input(
                    "init",
                    options=list(INIT_CHOICES),
                    default=_DEFAULTS.init,
                    tooltip=(
                        "Starting image: the content (usual), noise (uses the seed), the first style image, or fast: the "
                        "Fast Style result of the same recipe (connect fast_model). An init_image overrides it."
                    ),
                ),
                color_input(),
                io.Int.Input(
                    "seed",
                    default=0,
                    min=0,
                    max=MAX_SEED,
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
                    default=_DEFAULTS.dtype,
                    tooltip=(
                        "VGG's arithmetic. auto: bf16 on CPUs with native bf16 (AVX512-BF16, AMX) and on CUDA GPUs "
                        "that support it, else fp32. bf16 is faster for a slightly higher loss at equal steps (the "
                        "README's speed section has the figures); fp16 is for CUDA only."
                    ),
                ),
                io.String.Input(
                    "scales",
                    default=_DEFAULTS.scales,
                    tooltip=(
                        "Coarse-to-fine: on (from about 128 px up by x1.41, most steps at the small sizes, so the "
                        f"style's strokes keep their size on the canvas), auto (on for results of {LADDER_FROM} px "
                        "and more, else one size), off (one size), or the coarser longest sides in px, e.g. 128, 256."
                    ),
                ),
                io.Int.Input(
                    "tile",
                    default=_DEFAULTS.tile,
                    min=0,
                    max=MAX_SIDE,
                    step=16,
                    optional=True,
                    tooltip=(
                        "0: compute each step on the whole image, or in tiles when it does not fit in memory. "
                        "A size in px: tiles of that size for larger images. Tiling is exact (no seams) and "
                        "slower; it lets large images fit."
                    ),
                ),
                io.Float.Input(
                    "average",
                    default=_DEFAULTS.average,
                    min=0.0,
                    max=0.999,
                    step=0.01,
                    optional=True,
                    tooltip=(
                        "0: the result is the last step's image. A decay such as 0.9: the moving average of the "
                        "steps' images (bias-corrected), which smooths the last steps' noise."
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
                strength_map_input(),
                FAST.Input(
                    "fast_model",
                    optional=True,
                    tooltip="The fast mode's networks from Load Fast Model (NST); needed by init fast only.",
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
        scales: str = _DEFAULTS.scales,
        tile: int = 0,
        average: float = 0.0,
        loss: LossSettings | None = None,
        init_image: torch.Tensor | None = None,
        strength_map: torch.Tensor | None = None,
        fast_model: FastModel | None = None,
    ) -> io.NodeOutput:
        expect(vgg, VGGModel, "vgg")
        expect(style, StyleSpec, "style")
        expect(fast_model, FastModel, "fast_model", optional=True)
        loss = expect(loss, LossSettings, "loss", optional=True) or LossSettings()
        run = run_settings(steps, optimizer, learning_rate, size, init, preserve_color, seed, dtype, scales, tile, average)
        contents = image_to_list(content, "content")
        inits = per_content(init_image, len(contents), image_to_list, "init_image", "image")
        strengths = per_content(strength_map, len(contents), mask_to_list, "strength_map", "mask")
        device = _comfy.torch_device()
        with inputs_named(_RUN_NAMES):
            _comfy.make_room(whole_run_bytes(vgg, loss, run, tuple(contents[0].shape[-2:])), device)
        progress = _comfy.Progress(run.steps * len(contents), preview_interval)
        images, plots, metrics = [], [], []
        try:
            for index, (image, start, strength) in enumerate(zip(contents, inits, strengths)):
                offset = index * run.steps

                def on_step(info: StepInfo, offset: int = offset) -> None:
                    progress.update(offset + info.step, info.preview)

                with inputs_named(_RUN_NAMES):
                    result = stylize(
                        vgg, image, style, run, loss, device, init_image=start, strength_map=strength,
                        on_step=on_step, should_stop=_comfy.stop_if_interrupted, fast_model=fast_model,
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
