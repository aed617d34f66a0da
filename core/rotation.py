"""Rotated views of a style: the style image turned by any angle, or DFR's feature operation.

A Gram matrix sums over positions, so turning a *feature map* leaves it
unchanged; what changes a style target is turning the *image* before VGG,
whose filters are oriented. `rotate_style_image` does that. `dfr_rotate_features`
reproduces, for comparison, the operation of Deep Feature Rotation (Nguyen et
al., NICS 2021, arXiv 2202.04426) as published in its reference code.

No empty corners: a turned image is cropped to the largest axis-aligned
rectangle that lies wholly inside it, at the same pixel scale. Padding
(reflection, wrap) was rejected because mirrored or seamed texture adds
orientations the style does not have, which is exactly what the Gram sees.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from .checks import check_choice, normalize_weights
from .errors import InputError
from .text import split_list

ROTATION_MODES = ("image", "dfr")
DFR_ANGLES = (90, 180, 270)
MAX_ANGLE = 360.0


@dataclass
class RotationSpec:
    """Rotations a style target is fused with.

    Per layer the target becomes (1 - rho) * G(style) + rho * sum_k weights[k] * G(rotated_k).
    angles: degrees, counter-clockwise, within [-360, 360]. weights: one fusion
    weight per angle, normalised to sum 1 on creation (default: equal).
    rho: in [0, 1]; 0 is the plain style. mode: 'image' turns the style image;
    'dfr' applies DFR's published feature operation (angles 90, 180, 270 only).
    """

    angles: list[float]
    weights: list[float] = field(default_factory=list)
    rho: float = 1.0
    mode: str = "image"

    def __post_init__(self) -> None:
        self.angles = [float(a) for a in self.angles]
        if not self.angles:
            raise InputError("no number given; give at least one angle in degrees, e.g. 90", "rotation_angles")
        for index, angle in enumerate(self.angles):
            if not math.isfinite(angle) or abs(angle) > MAX_ANGLE:
                raise InputError(f"{angle} is outside [-360, 360]; give degrees such as 60 or -90", "rotation_angles", index)
        if not self.weights:
            self.weights = [1.0] * len(self.angles)
        self.weights = normalize_weights(self.weights, len(self.angles), "rotation_weights", per="angle")
        self.rho = float(self.rho)
        if not 0.0 <= self.rho <= 1.0:  # also refuses NaN
            raise InputError(f"{self.rho} is outside [0, 1]; 0 is the plain style, 1 only rotations", "rotation_weight")
        check_choice(self.mode, ROTATION_MODES, "rotation_mode")
        if self.mode == "dfr":
            wrong = [a for a in self.angles if a not in DFR_ANGLES]
            if wrong:
                raise InputError(
                    f"dfr mode takes only 90, 180 or 270, not {wrong}; use mode image for other angles", "rotation_angles"
                )


def parse_angle_weights(text: str) -> tuple[list[float], list[float]]:
    """'60:0.5,150:0.5' (or '60,150': equal weights) -> (angles, weights)."""
    angles: list[float] = []
    weights: list[float] = []
    for item in split_list(text):
        angle, _, weight = item.partition(":")
        try:
            angles.append(float(angle))
            weights.append(float(weight) if weight.strip() else 1.0)
        except ValueError:
            raise InputError(f"{item!r} is not ANGLE or ANGLE:WEIGHT; write e.g. 60:0.5,150:0.5", "rotate") from None
    if not angles:
        raise InputError(f"{text!r} holds no angle; write e.g. 60:0.5,150:0.5", "rotate")
    return angles, weights


def inscribed_size(height: float, width: float, angle_deg: float) -> tuple[float, float]:
    """(height, width) of the largest axis-aligned rectangle inside the (height, width) rectangle turned by the angle.

    Two regimes: a long thin rectangle is limited by its two long sides only
    (the crop's corners touch them); otherwise all four sides bound it.
    """
    folded = math.radians(angle_deg % 180.0)
    if folded > math.pi / 2:
        folded = math.pi - folded  # a turn by a and by 180 - a give mirror-image shapes
    sin, cos = math.sin(folded), math.cos(folded)
    long_side, short_side = max(height, width), min(height, width)
    if short_side <= 2.0 * sin * cos * long_side or math.isclose(sin, cos):
        half = 0.5 * short_side
        along, across = half / sin, half / cos
        crop_w, crop_h = (along, across) if width >= height else (across, along)
    else:
        cos2 = cos * cos - sin * sin
        crop_w = (width * cos - height * sin) / cos2
        crop_h = (height * cos - width * sin) / cos2
    return crop_h, crop_w


def rotated_size(height: int, width: int, angle_deg: float) -> tuple[int, int]:
    """The pixel size `rotate_style_image` returns for an image of (height, width)."""
    quarter = _quarter_turns(angle_deg)
    if quarter is not None:
        return (width, height) if quarter % 2 else (height, width)
    crop_h, crop_w = inscribed_size(height, width, angle_deg)
    # Rounding error must never push a corner outside: shave a hair before flooring.
    return max(1, math.floor(crop_h - 1e-6)), max(1, math.floor(crop_w - 1e-6))


def size_for_rotation(size: tuple[int, int], angle_deg: float, min_side: int) -> tuple[int, int]:
    """`size`, grown just enough that the image turned by the angle keeps a short side >= min_side."""
    if min(rotated_size(size[0], size[1], angle_deg)) >= min_side:
        return size
    crop_h, crop_w = inscribed_size(size[0], size[1], angle_deg)
    factor = (min_side + 1) / min(crop_h, crop_w)  # the +1 absorbs rotated_size's flooring
    return math.ceil(size[0] * factor), math.ceil(size[1] * factor)


def _quarter_turns(angle_deg: float) -> int | None:
    """0..3 when the angle is a whole number of quarter turns, else None."""
    turns = float(angle_deg) / 90.0
    return int(round(turns)) % 4 if turns == round(turns) else None


def rotate_style_image(image: torch.Tensor, angle_deg: float) -> torch.Tensor:
    """Turn [1, 3, H, W] counter-clockwise by `angle_deg` (PIL's Image.rotate convention).

    Returns the largest axis-aligned rectangle inside the turned image, at the
    same pixel scale, so that no empty corner enters a Gram matrix. Quarter
    turns are exact (0 and 360 return the image itself); other angles are
    sampled bicubically, clamped to [0, 1].
    """
    if image.dim() != 4 or image.shape[1] != 3:
        raise InputError(f"expected RGB images [B, 3, H, W] to rotate, got shape {tuple(image.shape)}", "style")
    quarter = _quarter_turns(angle_deg)
    if quarter is not None:
        return torch.rot90(image, quarter, dims=(2, 3)) if quarter else image
    height, width = image.shape[-2:]
    out_h, out_w = rotated_size(height, width, angle_deg)
    theta = math.radians(angle_deg)
    sin, cos = math.sin(theta), math.cos(theta)
    # Pixel centres of the output, relative to the image centre (x right, y down).
    ys = torch.arange(out_h, dtype=torch.float32, device=image.device) + 0.5 - out_h / 2
    xs = torch.arange(out_w, dtype=torch.float32, device=image.device) + 0.5 - out_w / 2
    yo, xo = torch.meshgrid(ys, xs, indexing="ij")
    # A counter-clockwise turn on screen (y down) maps (x, y) to (x cos + y sin, -x sin + y cos);
    # each output pixel reads its source through the inverse map.
    xs_src = xo * cos - yo * sin
    ys_src = xo * sin + yo * cos
    grid = torch.stack([2 * xs_src / width, 2 * ys_src / height], dim=-1).unsqueeze(0)
    grid = grid.expand(image.shape[0], -1, -1, -1).to(image.dtype)
    # Reflection only feeds the bicubic kernel's outermost taps at the crop's edge.
    turned = F.grid_sample(image, grid, mode="bicubic", padding_mode="reflection", align_corners=False)
    return turned.clamp_(0, 1)


def dfr_rotate_features(features: torch.Tensor, angle: int) -> torch.Tensor:
    """DFR's feature 'rotation' as published, on [B, C, H, W] (each item on its own).

    The reference code (TensorFlow, NHWC) does not rotate. Its 90 is a full
    transpose of the (1, H, W, C) tensor to (C, W, H, 1), read back as
    (1, H, W, C): channels and positions are scrambled, which changes the Gram.
    Its 180 is a left-right flip, which leaves the Gram unchanged. Its 270, by
    a slip, returns the 90 tensor; here 270 is what the paper means: the 90
    operation followed by the flip (so it has the 90 case's Gram).
    """
    if angle not in DFR_ANGLES:
        raise InputError(f"dfr mode takes only 90, 180 or 270, not {angle}", "rotation_angles")
    if angle == 180:
        return torch.flip(features, dims=(3,))
    batch, channels, height, width = features.shape
    nhwc = features.permute(0, 2, 3, 1)
    # Reversing the axes of each (H, W, C) item gives (C, W, H); its memory is then read as (H, W, C).
    scrambled = nhwc.permute(0, 3, 2, 1).contiguous().reshape(batch, height, width, channels)
    turned = scrambled.permute(0, 3, 1, 2)
    return torch.flip(turned, dims=(3,)) if angle == 270 else turned

