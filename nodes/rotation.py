"""Style Rotate (NST): fuse rotated views of a style into its target, with angles chosen by hand."""

from __future__ import annotations

from comfy_api.latest import io

from ..core.errors import inputs_named
from ..core.rotation import ROTATION_MODES, RotationSpec
from ..core.style import StyleSpec
from ..core.text import parse_numbers
from ._types import STYLE, expect, input_names, node_schema
from .style import MAX_STYLES

_ROTATION_NAMES = input_names(
    {"rotation_angles": "angles", "rotation_weights": "fusion_weights", "rotation_weight": "rho", "rotation_mode": "mode"}
)


def build_rotation(angles: str, fusion_weights: str, rho: float, mode: str) -> RotationSpec:
    """A RotationSpec from the node's inputs, each problem named by its input."""
    with inputs_named(_ROTATION_NAMES):
        return RotationSpec(
            angles=parse_numbers(angles, "rotation_angles", example="60, 150"),
            weights=parse_numbers(fusion_weights, "rotation_weights", example="0.25, 0.75"),
            rho=float(rho),
            mode=mode,
        )


class StyleRotate(io.ComfyNode):
    """Rotations applied by hand; Rotation DE Search finds them automatically."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return node_schema(
            node_id="NST_StyleRotate",
            display_name="Style Rotate (NST)",
            search_aliases=["rotate style", "deep feature rotation", "dfr"],
            description=(
                "Adds rotated views of the style to its target: per layer the target becomes "
                "(1 - rho) * G(style) + rho * sum_k w_k * G(style turned by angle k). Replaces any "
                "rotation the style already carries (of every style, or with `region` of one style only)."
            ),
            inputs=[
                STYLE.Input("style", tooltip="The style to rotate (from Style Mix or another style node)."),
                io.String.Input(
                    "angles",
                    default="90",
                    tooltip="Angles in degrees, counter-clockwise, comma-separated (e.g. 60, 150); each within [-360, 360].",
                ),
                io.String.Input(
                    "fusion_weights",
                    default="",
                    tooltip="One weight per angle, comma-separated, scaled to sum 1; empty gives every angle the same weight.",
                ),
                io.Float.Input(
                    "rho",
                    default=1.0,
                    min=0.0,
                    max=1.0,
                    step=0.05,
                    tooltip="How much of the target comes from the rotated views: 0 is the plain style, 1 only the rotations.",
                ),
                io.Combo.Input(
                    "mode",
                    options=list(ROTATION_MODES),
                    default="image",
                    tooltip=(
                        "image: turn the style image itself (cropped to avoid empty corners). "
                        "dfr: Deep Feature Rotation's published feature operation, for comparison (90, 180, 270 only)."
                    ),
                ),
                io.Int.Input(
                    "region",
                    default=0,
                    min=0,
                    max=MAX_STYLES,
                    optional=True,
                    tooltip=(
                        "0: turn every style of the recipe. n: turn only its n-th style (the style of mask_n in a "
                        "regional Style Mix, counting connected styles), the others keep their own rotations."
                    ),
                ),
            ],
            outputs=[STYLE.Output(display_name="style", tooltip="The same style recipe with these rotations.")],
        )

    @classmethod
    def execute(
        cls, style: StyleSpec, angles: str, fusion_weights: str, rho: float, mode: str, region: int = 0
    ) -> io.NodeOutput:
        expect(style, StyleSpec, "style")
        with inputs_named(_ROTATION_NAMES):
            return io.NodeOutput(style.with_rotation(build_rotation(angles, fusion_weights, rho, mode), region - 1 if region else None))


NODES: list[type[io.ComfyNode]] = [StyleRotate]
