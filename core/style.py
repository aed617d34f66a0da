"""What a style is (a recipe) and the Gram targets it turns into.

A `StyleSpec` holds the style images, how to blend them and which rotations
to fuse in; it becomes per-layer Gram targets only once the layers and the
output size are known, computed once without gradients and reused for every
step of a run.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace

import torch

from .checks import check_choice, normalize_weights
from .errors import InputError
from .images import MIN_SIDE, check_image, check_mask, resize
from .losses import gram_matrix
from .regions import guided_gram, layer_masks, resize_mask
from .rotation import RotationSpec, dfr_rotate_features, rotate_style_image, size_for_rotation
from .tiles import TilePlan
from .tiling import tiled_grams
from .vgg import FeatureExtractor

MIX_MODES = ("gram", "feature")
MAX_STYLE_SCALE = 4.0
MIN_STYLE_SCALE = 0.1


@dataclass
class StyleSpec:
    """The recipe for a style target: images, mix weights, mix mode, scale, rotations.

    images: [1, 3, H, W] tensors in [0, 1] (any sizes). weights: one per image,
    normalised to sum 1 on creation. mode: 'gram' blends each style's Gram
    matrices; 'feature' resizes the styles to one size, blends their feature
    maps, then takes the Gram. scale: style size relative to the output.
    rotation: rotated views fused into the target of every style of the mix
    (see compute_style_targets); None for the style as it is.
    masks: regional style (regions.py): one entry per image, a mask
    [1, 1, H, W] in [0, 1] over the result (any size) saying where that style
    applies, or None for everywhere. With masks each style keeps its own
    target and its own region, and the mix weights scale each region's term
    (equal weights: each at full strength) instead of blending Grams.
    style_masks: one entry per image, a mask over that style image saying
    where to take the style from, or None for all of it.
    rotations: one RotationSpec (or None) per image instead of `rotation`'s
    one for all, so that each region's style can turn its own way.
    """

    images: list[torch.Tensor]
    weights: list[float] = field(default_factory=list)
    mode: str = "gram"
    scale: float = 1.0
    rotation: RotationSpec | None = None
    masks: list[torch.Tensor | None] | None = None
    style_masks: list[torch.Tensor | None] | None = None
    rotations: list[RotationSpec | None] | None = None

    def __post_init__(self) -> None:
        if not self.images:
            raise InputError("at least one style image is needed", "style")
        for index, image in enumerate(self.images):
            if image.dim() != 4 or image.shape[0] != 1 or image.shape[1] != 3:
                raise InputError(f"must be one RGB image, got shape {tuple(image.shape)}", "style", index)
        if not self.weights:
            self.weights = [1.0] * len(self.images)
        self.weights = normalize_weights(self.weights, len(self.images), "style_weights", per="style image")
        check_choice(self.mode, MIX_MODES, "mix")
        if not (MIN_STYLE_SCALE <= float(self.scale) <= MAX_STYLE_SCALE):  # also refuses NaN
            raise InputError(f"{self.scale} is out of range; use {MIN_STYLE_SCALE} to {MAX_STYLE_SCALE}", "style_scale")
        if self.rotation is not None and not isinstance(self.rotation, RotationSpec):
            raise InputError(f"expected a RotationSpec or None, got {type(self.rotation).__name__}", "style_rotation")
        if self.rotations is not None:
            if self.rotation is not None:
                raise InputError("give one rotation for every style or one per style, not both", "style_rotation")
            if len(self.rotations) != len(self.images) or not all(r is None or isinstance(r, RotationSpec) for r in self.rotations):
                raise InputError(f"expected one RotationSpec or None per style image ({len(self.images)})", "style_rotation")
        for name in ("masks", "style_masks"):
            self._check_masks(name)
        style_masked = self.style_masks is not None and any(m is not None for m in self.style_masks)
        if (self.regional or style_masked) and self.mode != "gram":
            raise InputError("masks need the gram mix mode (each region keeps its own Gram target)", "mix")
        if any(m is not None and self.rotation_of(i) is not None for i, m in enumerate(self.style_masks or [])):
            raise InputError("style masks cannot be combined with rotations yet; drop one of them", "style_mask")

    def _check_masks(self, name: str) -> None:
        """One entry (a mask or None) per style; each finite, in [0, 1], and not zero everywhere."""
        masks = getattr(self, name)
        field_name = name.removesuffix("s")  # the door's input for one style: mask, style_mask
        if masks is None:
            return
        if len(masks) != len(self.images):
            raise InputError(f"{len(masks)} given for {len(self.images)} style images; give one (or none) per style", field_name)
        for index, mask in enumerate(masks):
            if mask is None:
                continue
            check_mask(mask, field_name, index)
            if float(mask.max()) == 0:
                raise InputError("is black everywhere, so this style would apply nowhere; paint where it goes", field_name, index)

    @property
    def regional(self) -> bool:
        """Whether any style is limited to a region of the result."""
        return self.masks is not None and any(mask is not None for mask in self.masks)

    def check_images(self) -> None:
        """Refuse unusable style pixels (too small, NaN...), naming the image.

        Not part of __post_init__: it scans every pixel, and the search
        makes a new spec per candidate from images already checked.
        """
        for index, image in enumerate(self.images):
            check_image(image, "style", index)

    def rotation_of(self, index: int) -> RotationSpec | None:
        """The rotation the index-th style is fused with."""
        return self.rotations[index] if self.rotations is not None else self.rotation

    def with_rotation(self, rotation: RotationSpec | None, style: int | None = None) -> "StyleSpec":
        """A copy with `rotation` (None: none) for every style, or only for the style at index `style`."""
        if style is None:
            return replace(self, rotation=rotation, rotations=None)
        if not 0 <= style < len(self.images):
            raise InputError(f"{style + 1} is not one of the recipe's {len(self.images)} style(s)", "region")
        rotations = [self.rotation_of(index) for index in range(len(self.images))]
        rotations[style] = rotation
        return replace(self, rotation=None, rotations=rotations)


def style_size(image_hw: tuple[int, int], output_hw: tuple[int, int], scale: float) -> tuple[int, int]:
    """A style's working size: its own aspect, longest side = scale * the output's longest side.

    Grown where needed so that its shorter side is at least MIN_SIDE, the
    smallest image VGG19's deepest style layers can still see.
    """
    height, width = image_hw
    factor = scale * max(output_hw) / max(height, width)
    factor = max(factor, MIN_SIDE / min(height, width))
    return max(MIN_SIDE, round(height * factor)), max(MIN_SIDE, round(width * factor))


def _view_images(
    image: torch.Tensor, size: tuple[int, int], angles: Sequence[float | None], device: torch.device
) -> Iterator[tuple[int, torch.Tensor]]:
    """(index, image VGG sees) of one style at its working size, turned by each angle (None: as it is).

    A turned image is grown first where its crop would fall under MIN_SIDE.
    """
    working = resize(image, size).to(device)
    for index, angle in enumerate(angles):
        if angle is None:
            yield index, working
        else:
            grown = size_for_rotation(size, angle, MIN_SIDE)
            source = working if grown == tuple(size) else resize(image, grown).to(device)
            yield index, rotate_style_image(source, angle)


def _views(
    extractor: FeatureExtractor,
    image: torch.Tensor,
    size: tuple[int, int],
    angles: Sequence[float | None],
    rotation_mode: str,
    layers: Sequence[str],
    device: torch.device,
) -> Iterator[tuple[int, dict[str, torch.Tensor]]]:
    """(index, features at `layers`) of one style at its working size, seen at each angle (None: as it is).

    In 'image' mode each angle turns the image before VGG (_view_images); in
    'dfr' mode VGG runs once and the angles act on its feature maps.
    """
    if rotation_mode != "dfr":
        for index, view in _view_images(image, size, angles, device):
            found = extractor(view)
            yield index, {layer: found[layer] for layer in layers}
        return
    found = extractor(resize(image, size).to(device))
    plain = {layer: found[layer] for layer in layers}
    for index, angle in enumerate(angles):
        yield index, plain if angle is None else {
            layer: dfr_rotate_features(features, int(angle)) for layer, features in plain.items()
        }


def _grams(
    extractor: FeatureExtractor,
    view: torch.Tensor,
    layers: Sequence[str],
    mask: torch.Tensor | None,
    tiles: TilePlan | None,
) -> dict[str, torch.Tensor]:
    """Grams [C, C] of one image VGG sees at `layers`, guided by a mask of its size if given; in tiles if given."""
    if tiles is not None:
        return {layer: gram[0] for layer, gram in tiled_grams(extractor, view, layers, tiles, mask).items()}
    found = extractor(view)
    return {
        layer: (gram_matrix(found[layer]) if mask is None else guided_gram(found[layer], layer_masks(mask, found[layer].shape[-2:])))[0]
        for layer in layers
    }


def _view_grams(
    extractor: FeatureExtractor,
    spec: StyleSpec,
    layers: Sequence[str],
    output_hw: tuple[int, int],
    device: torch.device,
    angles: Sequence[float | None],
    tiles: TilePlan | None = None,
) -> list[dict[str, torch.Tensor]]:
    """The mixed Gram targets of the recipe seen at each angle, one dict per angle.

    tiles: how to tile the style images of a large output (tiling.tiled_grams).
    The 'feature' mix and 'dfr' rotations need whole feature maps, so they
    are computed untiled.
    """
    rotation_mode = spec.rotation.mode if spec.rotation is not None else "image"
    if spec.mode == "feature":
        size = (max(MIN_SIDE, round(spec.scale * output_hw[0])), max(MIN_SIDE, round(spec.scale * output_hw[1])))
        blended: list[dict[str, torch.Tensor]] = [{} for _ in angles]
        for image, weight in zip(spec.images, spec.weights):
            for index, features in _views(extractor, image, size, angles, rotation_mode, layers, device):
                for layer in layers:
                    part = weight * features[layer].float()
                    blended[index][layer] = part if layer not in blended[index] else blended[index][layer] + part
        return [{layer: gram_matrix(view[layer])[0] for layer in layers} for view in blended]
    grams: list[dict[str, torch.Tensor]] = [{} for _ in angles]
    style_masks = spec.style_masks or [None] * len(spec.images)
    for image, weight, style_mask in zip(spec.images, spec.weights, style_masks):
        if weight == 0:
            continue
        size = style_size(tuple(image.shape[-2:]), output_hw, spec.scale)
        # A style mask comes without rotations (StyleSpec refuses both), so every view here is the plain one.
        mask = resize_mask(style_mask.to(device), size) if style_mask is not None else None
        if rotation_mode == "dfr":
            views = ({layer: gram_matrix(found[layer])[0] for layer in layers}
                     for _, found in _views(extractor, image, size, angles, rotation_mode, layers, device))  # fmt: skip
        else:
            views = (_grams(extractor, view, layers, mask, tiles) for _, view in _view_images(image, size, angles, device))
        for index, view_grams in enumerate(views):
            for layer in layers:
                part = weight * view_grams[layer]
                grams[index][layer] = part if layer not in grams[index] else grams[index][layer] + part
    return grams


@torch.no_grad()
def compute_style_targets(
    extractor: FeatureExtractor,
    spec: StyleSpec,
    layers: Sequence[str],
    output_hw: tuple[int, int],
    device: torch.device,
    *,
    plain: Mapping[str, torch.Tensor] | None = None,
    tiles: TilePlan | None = None,
) -> dict[str, torch.Tensor]:
    """Per-layer target Gram matrices [C, C] (fp32) for a style recipe; [K, C, C] for a regional one.

    With a rotation each layer's target is
    (1 - rho) * G(mix) + rho * sum_k w_k * G(mix seen at angle k); views of
    weight 0 are not computed. `plain`: the recipe's unrotated targets when
    the caller has them already (the rotation search reuses them across a
    population); they must be for the same layers, size and mix. A regional
    recipe (spec.masks) gives each of its K styles its own target, with its
    rotation, in the order of spec.images; per-style rotations are blended
    after each style is turned.
    """
    if spec.regional or spec.rotations is not None:
        style_masks = spec.style_masks or [None] * len(spec.images)
        own = [
            compute_style_targets(
                extractor,
                replace(spec, images=[image], weights=[1.0], masks=None, style_masks=[style_masks[index]],
                        rotation=spec.rotation_of(index), rotations=None),
                layers, output_hw, device, tiles=tiles,
            ) if spec.regional or spec.weights[index] > 0 else None
            for index, image in enumerate(spec.images)
        ]  # fmt: skip
        if spec.regional:
            return {layer: torch.stack([targets[layer] for targets in own]) for layer in layers}
        # Gram mixing is linear: each style turned its own way, then blended.
        return {
            layer: sum(w * targets[layer] for w, targets in zip(spec.weights, own) if targets is not None)
            for layer in layers
        }
    rotation = spec.rotation
    views: list[tuple[float | None, float]] = [(None, 1.0)]
    if rotation is not None:
        views = [(None, 1.0 - rotation.rho)] + [(a, rotation.rho * w) for a, w in zip(rotation.angles, rotation.weights)]
    views = [(angle, weight) for angle, weight in views if weight > 0]
    needed = [angle for angle, _ in views if angle is not None or plain is None]
    computed = iter(_view_grams(extractor, spec, layers, output_hw, device, needed, tiles))
    targets: dict[str, torch.Tensor] = {}
    for angle, weight in views:
        grams = plain if angle is None and plain is not None else next(computed)
        for layer in layers:
            part = weight * grams[layer]
            targets[layer] = part if layer not in targets else targets[layer] + part
    return targets
