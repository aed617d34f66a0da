"""Style Rotate (NST): fuse rotated views of a style into its target, with angles chosen by hand."""

from __future__ import annotations

from comfy_api.latest import io

from ..core.errors import InputError
from ..core.rotation import DFR_ANGLES, MAX_ANGLE, ROTATION_MODES, RotationSpec
from ..core.style import StyleSpec
from ._convert import parse_numbers
from ._types import CATEGORY, STYLE


def build_rotation(angles: str, fusion_weights: str, rho: float, mode: str) -> RotationSpec:
    """A RotationSpec from the node's inputs, each problem named by its input."""
    if mode not in ROTATION_MODES:
        raise InputError(f"mode: {mode!r} is not one of {', '.join(ROTATION_MODES)}")
    angle_list = parse_numbers(angles, "angles")
    outside = [a for a in angle_list if abs(a) > MAX_ANGLE]
    if outside:
        raise InputError(f"angles: {outside} lie outside [-360, 360]; give degrees such as 60 or -90")
    if mode == "dfr":
        wrong = [a for a in angle_list if a not in DFR_ANGLES]
        if wrong:
            raise InputError(f"angles: mode dfr takes only 90, 180 or 270, not {wrong}; use mode image for other angles")
    weights = parse_numbers(fusion_weights, "fusion_weights", allow_empty=True)
    if weights:
        if len(weights) != len(angle_list):
            raise InputError(
                f"fusion_weights: {len(weights)} given for {len(angle_list)} angles; give one per angle or leave it empty"
            )
        if any(w < 0 for w in weights):
            raise InputError(f"fusion_weights: {weights} contains a negative weight; weights must be >= 0")
        if sum(weights) == 0:
            raise InputError("fusion_weights: all weights are 0; give at least one angle a positive weight")
    rho = float(rho)
    if not 0.0 <= rho <= 1.0:
        raise InputError(f"rho: {rho} is outside [0, 1]; 0 is the plain style, 1 uses only the rotated views")
    return RotationSpec(angles=angle_list, weights=weights, rho=rho, mode=mode)


class StyleRotate(io.ComfyNode):
    """Rotations applied by hand; Rotation DE Search finds them automatically."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="NST_StyleRotate",
            display_name="Style Rotate (NST)",
            category=CATEGORY,
            description=(
                "Adds rotated views of the style to its target: per layer the target becomes "
                "(1 - rho) * G(style) + rho * sum_k w_k * G(style turned by angle k). Replaces any "
                "rotation the style already carries."
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
            ],
            outputs=[STYLE.Output(display_name="style", tooltip="The same style recipe with these rotations.")],
        )

    @classmethod
    def execute(cls, style: StyleSpec, angles: str, fusion_weights: str, rho: float, mode: str) -> io.NodeOutput:
        if not isinstance(style, StyleSpec):
            raise InputError("style: connect an NST_STYLE output (Style Mix, Style Rotate or Rotation DE Search)")
        return io.NodeOutput(style.with_rotation(build_rotation(angles, fusion_weights, rho, mode)))


NODES: list[type[io.ComfyNode]] = [StyleRotate]
