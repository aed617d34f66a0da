"""Content/Style Loss (NST): which VGG19 layers and weights define the loss -> NST_LOSS.

NST_LOSS is a `StylizeSettings` in which only the loss fields matter; the
Optimize and Search nodes take their own run settings (size, steps, ...)
and keep these. Without this node they use the engine's defaults, which
README.md explains.
"""

from __future__ import annotations

import math

from comfy_api.latest import io

from ..core.errors import InputError
from ..core.optimize import DEFAULT_CONTENT_LAYERS, DEFAULT_STYLE_LAYERS, MAX_LOSS_WEIGHT, StylizeSettings
from ..core.vgg import parse_layers
from ._convert import parse_numbers
from ._types import CATEGORY, LOSS

LAYER_HELP = "VGG19 layer names, comma-separated: conv1_1..conv5_4, relu1_1..relu5_4, pool1..pool5."


def _check_nonnegative(value: float, what: str) -> float:
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise InputError(f"{what}: {value} must be a finite number >= 0")
    return value


def build_loss(
    content_layers: str,
    style_layers: str,
    style_layer_weights: str,
    content_weight: float,
    style_weight: float,
    tv_weight: float,
) -> StylizeSettings:
    """Loss settings from the node's text and number inputs, each problem named by its input."""
    content = parse_layers(content_layers, "content_layers")
    style = parse_layers(style_layers, "style_layers")
    layer_weights = parse_numbers(style_layer_weights, "style_layer_weights", allow_empty=True)
    if layer_weights:
        if len(layer_weights) != len(style):
            raise InputError(
                f"style_layer_weights: {len(layer_weights)} given for {len(style)} style layers; "
                "give one per layer or leave it empty for 1 each"
            )
        if any(w < 0 for w in layer_weights) or sum(layer_weights) == 0:
            raise InputError(f"style_layer_weights: {layer_weights} must be >= 0 and not all 0")
    weights = {
        name: _check_nonnegative(value, name)
        for name, value in (("content_weight", content_weight), ("style_weight", style_weight), ("tv_weight", tv_weight))
    }
    if weights["content_weight"] == 0 and weights["style_weight"] == 0:
        raise InputError("content_weight, style_weight: both are 0; nothing would be optimised")
    settings = StylizeSettings(
        content_layers=tuple(content),
        style_layers=tuple(style),
        style_layer_weights=layer_weights or None,
        **weights,
    )
    settings.validate()
    return settings


class LossConfig(io.ComfyNode):
    """The loss's layers and weights, for when the defaults (Gatys et al.'s layers) are not wanted."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="NST_LossConfig",
            display_name="Content/Style Loss (NST)",
            category=CATEGORY,
            description=(
                "Chooses the VGG19 layers and weights of the content, style and total-variation losses. "
                "Optional: Optimize and Search use these same defaults without it."
            ),
            inputs=[
                io.String.Input(
                    "content_layers",
                    default=", ".join(DEFAULT_CONTENT_LAYERS),
                    tooltip="Layers whose feature maps the result must keep (the content). " + LAYER_HELP,
                ),
                io.String.Input(
                    "style_layers",
                    default=", ".join(DEFAULT_STYLE_LAYERS),
                    tooltip="Layers whose Gram matrices define the style. " + LAYER_HELP,
                ),
                io.String.Input(
                    "style_layer_weights",
                    default="",
                    tooltip="One multiplier per style layer, comma-separated (e.g. 1, 1, 1, 0.5, 0.5); empty means 1 each.",
                ),
                io.Float.Input(
                    "content_weight",
                    default=StylizeSettings.content_weight,
                    min=0.0,
                    max=MAX_LOSS_WEIGHT,
                    step=0.1,
                    tooltip="Weight of the content loss. Higher keeps more of the content image.",
                ),
                io.Float.Input(
                    "style_weight",
                    default=StylizeSettings.style_weight,
                    min=0.0,
                    max=MAX_LOSS_WEIGHT,
                    step=0.1,
                    tooltip=(
                        "Weight of the style loss. Both losses are relative errors, so the same weights mean the "
                        "same on every VGG and at every size; higher paints more style."
                    ),
                ),
                io.Float.Input(
                    "tv_weight",
                    default=StylizeSettings.tv_weight,
                    min=0.0,
                    max=MAX_LOSS_WEIGHT,
                    step=0.001,
                    tooltip="Total-variation smoothing of the result; 0 (Gatys et al.) adds none.",
                ),
            ],
            outputs=[LOSS.Output(display_name="loss", tooltip="The loss settings, for Optimize and Rotation DE Search.")],
        )

    @classmethod
    def execute(
        cls,
        content_layers: str,
        style_layers: str,
        style_layer_weights: str,
        content_weight: float,
        style_weight: float,
        tv_weight: float,
    ) -> io.NodeOutput:
        return io.NodeOutput(
            build_loss(content_layers, style_layers, style_layer_weights, content_weight, style_weight, tv_weight)
        )


NODES: list[type[io.ComfyNode]] = [LossConfig]
