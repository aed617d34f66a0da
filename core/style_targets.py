"""The style targets a recipe turns into, for given layers, an output size and a style statistic.

Computed once without gradients and reused for every step of a run: one
set per scale for `stylize`, one per candidate for the rotation search.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace

import torch

from .geometry import MIN_SIDE, resize, resize_mask
from .regions import layer_masks
from .rotation import dfr_rotate_features, rotate_style_image, size_for_rotation
from .style import StyleSpec
from .style_stats import GramStatistic, StyleStatistic
from .tiles import TilePlan
from .tiling import tiled_targets
from .vgg import FeatureExtractor


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


def _targets(
    extractor: FeatureExtractor,
    statistic: StyleStatistic,
    view: torch.Tensor,
    layers: Sequence[str],
    mask: torch.Tensor | None,
    tiles: TilePlan | None,
) -> dict[str, torch.Tensor]:
    """Statistics of one image VGG sees at `layers`, guided by a mask of its size if given; in tiles if given."""
    if tiles is not None:
        return {layer: part[0] for layer, part in tiled_targets(extractor, statistic, view, layers, tiles, mask).items()}
    found = extractor(view)
    return {
        layer: statistic.target(found[layer], None if mask is None else layer_masks(mask, found[layer].shape[-2:]))[0]
        for layer in layers
    }


def _view_targets(
    extractor: FeatureExtractor,
    statistic: StyleStatistic,
    spec: StyleSpec,
    layers: Sequence[str],
    output_hw: tuple[int, int],
    device: torch.device,
    angles: Sequence[float | None],
    tiles: TilePlan | None = None,
) -> list[dict[str, torch.Tensor]]:
    """The mixed targets of the recipe seen at each angle, one dict per angle.

    tiles: how to tile the style images of a large output (tiling.tiled_targets).
    The 'feature' mix and 'dfr' rotations need whole feature maps, so they
    are computed untiled.
    """
    rotation_mode = spec.rotation.mode if spec.rotation is not None else "image"
    if spec.mode == "feature":
        size = (max(MIN_SIDE, round(spec.scale * output_hw[0])), max(MIN_SIDE, round(spec.scale * output_hw[1])))
        blended: list[dict[str, torch.Tensor]] = [{} for _ in angles]
        for image, weight in zip(spec.images, spec.mix_weights):
            for index, features in _views(extractor, image, size, angles, rotation_mode, layers, device):
                for layer in layers:
                    part = weight * features[layer].float()
                    blended[index][layer] = part if layer not in blended[index] else blended[index][layer] + part
        return [{layer: statistic.target(view[layer])[0] for layer in layers} for view in blended]
    targets: list[dict[str, torch.Tensor]] = [{} for _ in angles]
    style_masks = spec.style_masks or [None] * len(spec.images)
    for image, weight, style_mask in zip(spec.images, spec.mix_weights, style_masks):
        if weight == 0:
            continue
        size = style_size(tuple(image.shape[-2:]), output_hw, spec.scale)
        # A style mask comes without rotations (StyleSpec refuses both), so every view here is the plain one.
        mask = resize_mask(style_mask.to(device), size) if style_mask is not None else None
        if rotation_mode == "dfr":
            views = ({layer: statistic.target(found[layer])[0] for layer in layers}
                     for _, found in _views(extractor, image, size, angles, rotation_mode, layers, device))  # fmt: skip
        else:
            views = (_targets(extractor, statistic, view, layers, mask, tiles) for _, view in _view_images(image, size, angles, device))
        for index, view_targets in enumerate(views):
            for layer in layers:
                part = weight * view_targets[layer]
                targets[index][layer] = part if layer not in targets[index] else targets[index][layer] + part
    return targets


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
    statistic: StyleStatistic | None = None,
) -> dict[str, torch.Tensor]:
    """Per-layer targets (fp32) of a style recipe: Gram matrices [C, C] unless another `statistic` is given; [K, ...] for a regional one.

    With a rotation each layer's target is
    (1 - rho) * G(mix) + rho * sum_k w_k * G(mix seen at angle k); views of
    weight 0 are not computed. `plain`: the recipe's unrotated targets when
    the caller has them already (the rotation search reuses them across a
    population); they must be for the same layers, size and mix. A regional
    recipe (spec.masks) gives each of its K styles its own target, with its
    rotation, in the order of spec.images; per-style rotations are blended
    after each style is turned. Every statistic's targets blend linearly
    (style_stats.py), so these sums hold for all of them.
    """
    statistic = GramStatistic() if statistic is None else statistic
    if spec.regional or spec.rotation_per_style is not None:
        style_masks = spec.style_masks or [None] * len(spec.images)
        own = [
            compute_style_targets(
                extractor,
                replace(spec, images=[image], mix_weights=[1.0], masks=None, style_masks=[style_masks[index]],
                        rotation=spec.rotation_of(index), rotation_per_style=None),
                layers, output_hw, device, tiles=tiles, statistic=statistic,
            ) if spec.regional or spec.mix_weights[index] > 0 else None
            for index, image in enumerate(spec.images)
        ]  # fmt: skip
        if spec.regional:
            return {layer: torch.stack([targets[layer] for targets in own]) for layer in layers}
        # Mixing is linear: each style turned its own way, then blended.
        return {
            layer: sum(w * targets[layer] for w, targets in zip(spec.mix_weights, own) if targets is not None)
            for layer in layers
        }
    rotation = spec.rotation
    views: list[tuple[float | None, float]] = [(None, 1.0)]
    if rotation is not None:
        views = [(None, 1.0 - rotation.rho)] + [(a, rotation.rho * w) for a, w in zip(rotation.angles, rotation.weights)]
    views = [(angle, weight) for angle, weight in views if weight > 0]
    needed = [angle for angle, _ in views if angle is not None or plain is None]
    computed = iter(_view_targets(extractor, statistic, spec, layers, output_hw, device, needed, tiles))
    targets: dict[str, torch.Tensor] = {}
    for angle, weight in views:
        seen = plain if angle is None and plain is not None else next(computed)
        for layer in layers:
            part = weight * seen[layer]
            targets[layer] = part if layer not in targets else targets[layer] + part
    return targets
