"""Style Mix (NST): one to four style images with weights -> an NST_STYLE recipe."""

from __future__ import annotations

import torch
from comfy_api.latest import io

from ..core.errors import InputError, inputs_named
from ..core.style import MAX_STYLE_SCALE, MIN_STYLE_SCALE, MIX_MODES, StyleSpec
from ._convert import image_to_single, mask_to_single
from ._types import STYLE, node_schema

MAX_STYLES = 4


def build_style(
    images: list[torch.Tensor | None],
    weights: list[float],
    mode: str,
    scale: float,
    masks: list[torch.Tensor | None] | None = None,
) -> StyleSpec:
    """A StyleSpec from the connected style inputs; weights of unconnected inputs are ignored.

    masks: one MASK (or None) per style input, where on the result that style
    applies; a mask given for an unconnected style is refused. The engine
    checks the recipe; its errors are named by the node inputs (weight_2,
    style_3, mask_4, ...) of the connected styles they are about.
    """
    masks = masks or [None] * len(images)
    connected = [index for index, image in enumerate(images) if image is not None]
    if not connected:
        raise InputError("style_1: connect at least one style image")
    for index, (image, mask) in enumerate(zip(images, masks)):
        if mask is not None and image is None:
            raise InputError(f"mask_{index + 1}: style_{index + 1} is not connected; connect it or remove the mask")

    def input_name(field: str, index: int | None) -> str:
        numbers = [connected[index] + 1] if index is not None else [i + 1 for i in connected]
        if field == "style_weights":
            return ", ".join(f"weight_{number}" for number in numbers)
        if field in ("style", "mask"):
            return f"{field}_{numbers[0]}"
        return {"mix": "mode"}.get(field, field)

    used_images = [image_to_single(images[index], f"style_{index + 1}") for index in connected]
    used_masks = [
        None if masks[index] is None else mask_to_single(masks[index], f"mask_{index + 1}") for index in connected
    ]
    with inputs_named(input_name):
        return StyleSpec(
            images=used_images,
            mix_weights=[weights[index] for index in connected],
            mode=mode,
            scale=scale,
            masks=used_masks if any(mask is not None for mask in used_masks) else None,
        )


class StyleMix(io.ComfyNode):
    """Blend up to four styles; one style with weight 1 is plain style transfer."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        styles = [
            io.Image.Input(
                f"style_{number}",
                optional=number > 1,
                tooltip=f"Style image {number}" + (" (optional)." if number > 1 else ".") + " One image, any size.",
            )
            for number in range(1, MAX_STYLES + 1)
        ]
        weights = [
            io.Float.Input(
                f"weight_{number}",
                default=1.0,
                min=0.0,
                max=1000.0,
                step=0.05,
                tooltip=(
                    f"Mixing weight of style_{number}; the weights of connected styles are scaled to sum 1 "
                    "(0.25 and 0.75 give a quarter and three quarters). Ignored if style_"
                    f"{number} is not connected. With masks, each weight scales the style strength of its own "
                    "region instead (equal weights: full strength each)."
                ),
            )
            for number in range(1, MAX_STYLES + 1)
        ]
        masks = [
            io.Mask.Input(
                f"mask_{number}",
                optional=True,
                tooltip=(
                    f"Where on the result style_{number} applies (optional; none: everywhere): white = this "
                    "style, black = none, grey blends. Any size, resized to the result; soft edges blend "
                    "the styles."
                ),
            )
            for number in range(1, MAX_STYLES + 1)
        ]
        return node_schema(
            node_id="NST_StyleMix",
            display_name="Style Mix (NST)",
            search_aliases=["style mix", "blend styles", "style image", "regional style", "mask"],
            description=(
                "Makes a style from 1 to 4 style images and their weights; a mask_n limits style_n to a "
                "region of the result (regional styles). The result is a recipe: the style targets are "
                "computed by the Optimize or Search node at the output size."
            ),
            inputs=[
                styles[0],
                *weights,
                io.Combo.Input(
                    "mode",
                    options=list(MIX_MODES),
                    default="gram",
                    tooltip=(
                        "gram: weighted sum of each style's Gram matrices (styles may differ in size). "
                        "feature: styles resized to one size, their feature maps blended, then the Gram matrix."
                    ),
                ),
                io.Float.Input(
                    "style_scale",
                    default=1.0,
                    min=MIN_STYLE_SCALE,
                    max=MAX_STYLE_SCALE,
                    step=0.05,
                    tooltip="Size of the style images relative to the result's longest side; larger gives larger brush strokes.",
                ),
                *styles[1:],
                *masks,
            ],
            outputs=[STYLE.Output(display_name="style", tooltip="The style recipe (images, weights, mode, scale, masks).")],
        )

    @classmethod
    def execute(
        cls,
        style_1: torch.Tensor,
        weight_1: float,
        weight_2: float,
        weight_3: float,
        weight_4: float,
        mode: str,
        style_scale: float,
        style_2: torch.Tensor | None = None,
        style_3: torch.Tensor | None = None,
        style_4: torch.Tensor | None = None,
        mask_1: torch.Tensor | None = None,
        mask_2: torch.Tensor | None = None,
        mask_3: torch.Tensor | None = None,
        mask_4: torch.Tensor | None = None,
    ) -> io.NodeOutput:
        spec = build_style(
            [style_1, style_2, style_3, style_4],
            [weight_1, weight_2, weight_3, weight_4],
            mode,
            style_scale,
            masks=[mask_1, mask_2, mask_3, mask_4],
        )
        return io.NodeOutput(spec)


NODES: list[type[io.ComfyNode]] = [StyleMix]
