"""The fast mode: a style transfer in one pass of the feed-forward pair, and the start it gives the optimisation.

The predictor turns each style image (its centre square at the size it was
trained at) into a style vector; the recipe's mix weights blend the
vectors, and the strength blends the mix with the content's own vector
(0: the content as the network renders it). The transformer paints the
content at a working size, since its strokes have a fixed size in pixels:
at about 512 px they read as a painting's, and a larger result is painted
there and resized. Regional recipes paint each region with its own vector
and composite by the masks; the content stays where no region reaches, and
a strength map blends the result with the content.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F

from .checks import check_image, check_mask
from .color import keep_luminance_only, match_color
from .errors import InputError
from .fast_nets import STRIDE, FastModel, StylePredictor, StyleTransformer
from .geometry import MAX_SIDE, MIN_SIDE, fit_size, resize, resize_mask
from .guard import memory_named
from .metrics import RunMetrics
from .rotation import rotate_style_image
from .settings import RunSettings
from .style import StyleSpec

# The side the predictor was trained at: it sees each style's centre square at this size.
STYLE_SIDE = 256
# The longest side the transformer paints at by default (README: the fast mode's texture scale).
WORKING_SIDE = 512


@dataclass(frozen=True)
class FastSettings:
    """How the fast mode paints: how much of the style, and at what size the network works.

    strength: 0 gives the content's own style vector (about the content),
    1 the style's. working_size: the longest side the network paints at, the
    result then resized to its size; 0 paints at the result's own size.
    """

    strength: float = 1.0
    working_size: int = WORKING_SIDE

    def __post_init__(self) -> None:
        if not 0.0 <= float(self.strength) <= 1.0:  # also refuses NaN
            raise InputError(f"{self.strength} is outside [0, 1]; 0 keeps the content, 1 is the full style", "strength")
        if isinstance(self.working_size, bool) or not isinstance(self.working_size, int) or not (
            self.working_size == 0 or MIN_SIDE <= self.working_size <= MAX_SIDE
        ):
            raise InputError(
                f"{self.working_size!r} is out of range; use 0 (the result's size) or {MIN_SIDE} to {MAX_SIDE} px", "working_size"
            )

    def working_hw(self, output_hw: tuple[int, int]) -> tuple[int, int]:
        """Where the network paints for a result of `output_hw`: the working size with the result's aspect."""
        if self.working_size == 0 or self.working_size == max(output_hw):
            return tuple(output_hw)
        return fit_size(output_hw[0], output_hw[1], self.working_size)


@dataclass
class FastResult:
    """A fast-mode result ([1, 3, H, W] on the CPU, in [0, 1]) and what the run reports."""

    image: torch.Tensor
    metrics: RunMetrics


def _square(image: torch.Tensor) -> torch.Tensor:
    """The centre square of [1, 3, H, W] at STYLE_SIDE px: what the predictor was trained on."""
    height, width = image.shape[-2:]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    return resize(image[..., top : top + side, left : left + side], (STYLE_SIDE, STYLE_SIDE))


def style_vector(predictor: StylePredictor, image: torch.Tensor) -> torch.Tensor:
    """The style vector [1, 100] of one picture [1, 3, H, W]."""
    device = next(predictor.parameters()).device
    return predictor(_square(image.float().cpu()).to(device))


def _style_vectors(predictor: StylePredictor, spec: StyleSpec) -> list[torch.Tensor]:
    """One vector per style image; a rotated style blends the vectors of its turned views as its Grams would."""
    vectors = []
    for index, image in enumerate(spec.images):
        vector = style_vector(predictor, image)
        rotation = spec.rotation_of(index)
        if rotation is not None:
            turned = [style_vector(predictor, rotate_style_image(image.float().cpu(), angle)) for angle in rotation.angles]
            vector = (1 - rotation.rho) * vector + rotation.rho * sum(w * v for w, v in zip(rotation.weights, turned))
        vectors.append(vector)
    return vectors


def paint(transformer: StyleTransformer, content: torch.Tensor, vectors: torch.Tensor) -> torch.Tensor:
    """The transformer on `content` [1, 3, H, W] with each style vector of [K, 100] -> [K, 3, H, W].

    The sides are reflect-padded to multiples of the transformer's stride and cropped back.
    """
    height, width = content.shape[-2:]
    pad_h, pad_w = -height % STRIDE, -width % STRIDE
    padded = F.pad(content, (0, pad_w, 0, pad_h), mode="reflect") if pad_h or pad_w else content
    out = transformer(padded.expand(vectors.shape[0], -1, -1, -1), vectors)
    return out[..., :height, :width]


def _check(spec: StyleSpec) -> None:
    """What the fast mode cannot do with a recipe, refused with the way out."""
    if spec.style_masks is not None and any(mask is not None for mask in spec.style_masks):
        raise InputError("style masks are not used by the fast mode; drop them or use the optimisation", "style_mask")
    if any(spec.rotation_of(i) is not None and spec.rotation_of(i).mode == "dfr" for i in range(len(spec.images))):
        raise InputError("dfr rotations act on VGG's features; the fast mode turns the style image (mode image)", "rotation_mode")


def _composite(
    painted: torch.Tensor, content: torch.Tensor, masks: Sequence[torch.Tensor | None] | None, strength_map: torch.Tensor | None
) -> torch.Tensor:
    """One picture from the painted ones: by region where the recipe has masks, then blended by the strength map."""
    hw = tuple(content.shape[-2:])
    if masks is None:
        image = painted
    else:
        stack = torch.cat([torch.ones(1, 1, *hw) if m is None else resize_mask(m.float().cpu(), hw) for m in masks])
        total = stack.sum(0, keepdim=True)
        weights = stack / total.clamp_min(1.0)  # overlapping regions share; outside every region the content stays
        image = (weights * painted).sum(0, keepdim=True) + (1 - weights.sum(0, keepdim=True)) * content
    if strength_map is not None:
        blend = resize_mask(strength_map.float().cpu(), hw)
        image = blend * image + (1 - blend) * content
    return image


def fast_stylize(
    model: FastModel,
    content: torch.Tensor,
    style: StyleSpec,
    run: RunSettings | None = None,
    fast: FastSettings | None = None,
    device: torch.device | str = "cpu",
    strength_map: torch.Tensor | None = None,
) -> FastResult:
    """The content ([1, 3, H, W] in [0, 1]) painted in the style by one pass of the feed-forward pair.

    From `run` the fast mode takes the result's size and the colour handling
    (`preserve_color`); its other settings belong to the optimisation.
    Returns the image on the CPU; never changes the tensors it is given.
    """
    run, fast, device = run or RunSettings(), fast or FastSettings(), torch.device(device)
    started = time.perf_counter()
    check_image(content, "content")
    style.check_images()
    _check(style)
    if strength_map is not None:
        check_mask(strength_map, "strength_map")
    output_hw = run.output_hw(tuple(content.shape[-2:]))
    working_hw = fast.working_hw(output_hw)
    hint = f"at a working size of {max(working_hw)} px; use a smaller working size"
    with memory_named(device, hint), torch.inference_mode(False), torch.no_grad():
        work = resize(content.float().cpu(), working_hw)
        spec = style
        if run.preserve_color == "histogram":
            spec = replace(style, images=[match_color(image.float().cpu(), work) for image in style.images])
        predictor, transformer = model.on(device)
        own = style_vector(predictor, work)
        vectors = _style_vectors(predictor, spec)
        weights = spec.mix_weights
        if spec.regional:  # each region its own style; the mix weights scale each region's strength
            strengths = [min(1.0, fast.strength * w * len(weights)) for w in weights]
            mixed = torch.cat([s * v + (1 - s) * own for s, v in zip(strengths, vectors)])
        else:
            mix = sum(w * v for w, v in zip(weights, vectors))
            mixed = fast.strength * mix + (1 - fast.strength) * own
        painted = paint(transformer, work.to(device), mixed).float().cpu()
        image = _composite(painted, work, spec.masks if spec.regional else None, strength_map).clamp(0, 1)
        image = resize(image, output_hw)
        if run.preserve_color == "luminance":
            image = keep_luminance_only(image, resize(content.float().cpu(), output_hw))
        image = image.clone()
    seconds = time.perf_counter() - started
    metrics = RunMetrics(
        steps=0, seconds=seconds, device=str(device), size=list(output_hw),
        params={
            "method": "fast", "strength": fast.strength, "working_size": list(working_hw),
            "style_mix_weights": list(style.mix_weights), "style_masks": [m is not None for m in style.masks] if style.regional else None,
            "strength_map": strength_map is not None, "preserve_color": run.preserve_color, **model.describe(),
        },
    )  # fmt: skip
    return FastResult(image=image, metrics=metrics)

