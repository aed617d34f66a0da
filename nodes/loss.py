"""Content/Style Loss (NST): which VGG layers and weights define the loss -> NST_LOSS.

Optimize and Rotation DE Search take their own run settings (size, steps, ...)
and this loss; without this node they use the engine's defaults, which
README.md explains.
"""

from __future__ import annotations

from comfy_api.latest import io

from ..core.content_stats import CONTENT_LOSSES
from ..core.errors import InputError, inputs_named
from ..core.settings import MAX_LOSS_WEIGHT, LossSettings
from ..core.style_stats import STYLE_LOSSES
from ..core.text import parse_numbers
from ._types import LOSS, input_names, node_schema

LAYER_HELP = "VGG layer names, comma-separated: conv1_1.., relu1_1.., pool1..pool5 (VGG16 stops at conv5_3)."
_DEFAULTS = LossSettings()


def build_loss(
    content_layers: str,
    style_layers: str,
    style_layer_weights: str,
    style_loss: str = _DEFAULTS.style_loss,
    content_loss: str = _DEFAULTS.content_loss,
    **weights: float,
) -> LossSettings:
    """Loss settings from the node's inputs (weights: content_weight, style_weight, tv_weight), named by input."""
    with inputs_named(input_names()):
        return LossSettings(
            content_layers=content_layers,
            style_layers=style_layers,
            style_layer_weights=parse_numbers(style_layer_weights, "style_layer_weights", example="1, 1, 1, 0.5, 0.5") or None,
            style_loss=style_loss,
            content_loss=content_loss,
            **weights,
        )


class LossConfig(io.ComfyNode):
    """The loss's layers and weights, for when the defaults (Gatys et al.'s layers) are not wanted."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return node_schema(
            node_id="NST_LossConfig",
            display_name="Content/Style Loss (NST)",
            search_aliases=["content loss", "style loss", "loss weights", "style layers"],
            description=(
                "Chooses the VGG layers and weights of the content, style and total-variation losses. "
                "Optional: Optimize and Search use these same defaults without it."
            ),
            inputs=[
                io.String.Input(
                    "content_layers",
                    default=", ".join(_DEFAULTS.content_layers),
                    tooltip="Layers whose feature maps the result must keep (the content). " + LAYER_HELP,
                ),
                io.String.Input(
                    "style_layers",
                    default=", ".join(_DEFAULTS.style_layers),
                    tooltip="Layers whose Gram matrices define the style. " + LAYER_HELP,
                ),
                io.String.Input(
                    "style_layer_weights",
                    default="",
                    tooltip="One multiplier per style layer, comma-separated (e.g. 1, 1, 1, 0.5, 0.5); empty means 1 each.",
                ),
                io.Float.Input(
                    "content_weight",
                    default=_DEFAULTS.content_weight,
                    min=0.0,
                    max=MAX_LOSS_WEIGHT,
                    step=0.1,
                    tooltip="Weight of the content loss. Higher keeps more of the content image.",
                ),
                io.Float.Input(
                    "style_weight",
                    default=_DEFAULTS.style_weight,
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
                    default=_DEFAULTS.tv_weight,
                    min=0.0,
                    max=MAX_LOSS_WEIGHT,
                    step=0.001,
                    tooltip="Total-variation smoothing of the result; 0 (Gatys et al.) adds none.",
                ),
                io.Combo.Input(
                    "style_loss",
                    options=list(STYLE_LOSSES),
                    default=_DEFAULTS.style_loss,
                    optional=True,  # prompts saved before it existed still run
                    tooltip=(
                        "What each style layer compares: gram (Gatys et al.), w2 (feature means and covariances, "
                        "Wasserstein-2), sliced (whole feature distributions; no masks, strength map or tiles)."
                    ),
                ),
                io.Combo.Input(
                    "content_loss",
                    options=list(CONTENT_LOSSES),
                    default=_DEFAULTS.content_loss,
                    optional=True,  # prompts saved before it existed still run
                    tooltip=(
                        "What each content layer compares: mse (the feature maps, Gatys et al.) or self-similarity "
                        "(how alike each pair of places is, STROTSS): keeps the layout and lets the strokes redraw it."
                    ),
                ),
            ],
            outputs=[LOSS.Output(display_name="loss", tooltip="The loss settings, for Optimize and Rotation DE Search.")],
        )

    @classmethod
    def validate_inputs(cls, content_layers: str, style_layers: str, style_layer_weights: str) -> bool | str:
        """Unknown layers and a wrong count of layer weights are refused when the prompt is queued.

        An input fed by a link arrives as None here and is checked when the node runs.
        """
        if None in (content_layers, style_layers, style_layer_weights):
            return True
        try:
            build_loss(content_layers, style_layers, style_layer_weights)
        except InputError as error:
            return str(error)
        return True

    @classmethod
    def execute(
        cls,
        content_layers: str,
        style_layers: str,
        style_layer_weights: str,
        content_weight: float,
        style_weight: float,
        tv_weight: float,
        style_loss: str = _DEFAULTS.style_loss,
        content_loss: str = _DEFAULTS.content_loss,
    ) -> io.NodeOutput:
        return io.NodeOutput(
            build_loss(
                content_layers, style_layers, style_layer_weights, style_loss, content_loss,
                content_weight=content_weight, style_weight=style_weight, tv_weight=tv_weight,
            )  # fmt: skip
        )


NODES: list[type[io.ComfyNode]] = [LossConfig]
