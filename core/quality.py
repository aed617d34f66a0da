"""Judging a result the same way whatever made it: structure kept, style reached.

Used by the tests and the benchmarks, which must not judge a run by the loss
it was optimised for alone. Inputs are [1, 3, H, W] images in [0, 1].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .geometry import resize
from .vgg import VGGModel

# The structure score looks at the picture's large shapes, not its brush strokes:
# luminance at this longest side, where a stylised texture averages out.
STRUCTURE_SIDE = 64
_SSIM_C1, _SSIM_C2 = 0.01**2, 0.03**2


def luminance(image: torch.Tensor) -> torch.Tensor:
    """[B, 3, H, W] -> [B, 1, H, W], ITU-R BT.601 weights."""
    weights = torch.tensor([0.299, 0.587, 0.114], dtype=image.dtype, device=image.device).view(1, 3, 1, 1)
    return (image * weights).sum(1, keepdim=True)


def _gaussian_window(size: int = 7, sigma: float = 1.5) -> torch.Tensor:
    coords = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    kernel = torch.exp(-(coords**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    return (kernel[:, None] * kernel[None, :]).view(1, 1, size, size)


def ssim(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean SSIM (Wang et al. 2004, 7x7 Gaussian window) of two one-channel images in [0, 1]."""
    window = _gaussian_window().to(a)
    mu_a, mu_b = F.conv2d(a, window), F.conv2d(b, window)
    var_a = F.conv2d(a * a, window) - mu_a**2
    var_b = F.conv2d(b * b, window) - mu_b**2
    cov = F.conv2d(a * b, window) - mu_a * mu_b
    num = (2 * mu_a * mu_b + _SSIM_C1) * (2 * cov + _SSIM_C2)
    den = (mu_a**2 + mu_b**2 + _SSIM_C1) * (var_a + var_b + _SSIM_C2)
    return float((num / den).mean())


def structure_score(result: torch.Tensor, content: torch.Tensor) -> float:
    """SSIM of the two images' luminance shrunk to STRUCTURE_SIDE px: 1 = the content's layout kept."""
    height, width = content.shape[-2:]
    factor = STRUCTURE_SIDE / max(height, width)
    size = (max(8, round(height * factor)), max(8, round(width * factor)))
    small = [luminance(resize(image.float().cpu(), size)) for image in (result, content)]
    return ssim(*small)


JUDGE_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
JUDGE_CONTENT_LAYER = "relu4_2"


@torch.no_grad()
def _features(model: VGGModel, images: tuple[torch.Tensor, ...], layers: tuple[str, ...]) -> list[dict[str, torch.Tensor]]:
    """Each image's fp32 features at `layers`, through one extractor."""
    extractor = model.extractor(layers)
    return [extractor(image.float().cpu()) for image in images]


def _gram(features: torch.Tensor) -> torch.Tensor:
    flat = features.flatten(2).double()
    return flat @ flat.transpose(1, 2) / flat.shape[-1]


def _style_at(style: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """The style at the image's longest side (as a run's default style scale takes it)."""
    height, width = style.shape[-2:]
    factor = max(image.shape[-2:]) / max(height, width)
    return resize(style.float(), (max(32, round(height * factor)), max(32, round(width * factor))))


def style_distance(model: VGGModel, image: torch.Tensor, style: torch.Tensor) -> float:
    """Mean over relu1_1..relu5_1 of |G(image) - G(style)|^2 / |G(style)|^2, fp32 features, float64 Grams.

    The style is taken at the image's longest side (as a run's default style scale does).
    """
    ours, theirs = _features(model, (image, _style_at(style, image)), JUDGE_STYLE_LAYERS)
    errors = []
    for layer in JUDGE_STYLE_LAYERS:
        target = _gram(theirs[layer])
        errors.append(float((_gram(ours[layer]) - target).pow(2).sum() / target.pow(2).sum()))
    return sum(errors) / len(errors)


def canvas_style_distance(model: VGGModel, image: torch.Tensor, style: torch.Tensor, side: int = 256) -> float:
    """style_distance of the image shrunk to `side` px: the style as it reads when the whole picture is seen at once.

    A large result painted at one scale carries strokes of VGG's own size,
    tiny on its canvas; shrunk, they blur away and the style is gone.
    """
    height, width = image.shape[-2:]
    factor = side / max(height, width)
    return style_distance(model, resize(image.float(), (round(height * factor), round(width * factor))), style)


def content_distance(model: VGGModel, image: torch.Tensor, content: torch.Tensor) -> float:
    """|F(image) - F(content)|^2 / |F(content)|^2 at relu4_2; content resized to the image's size."""
    content = resize(content.float(), tuple(image.shape[-2:]))
    seen = _features(model, (image, content), (JUDGE_CONTENT_LAYER,))
    ours, target = (found[JUDGE_CONTENT_LAYER].double() for found in seen)
    return float((ours - target).pow(2).sum() / target.pow(2).sum())


SLICED_PROJECTIONS = 64


def _sorted_projections(features: torch.Tensor, directions: torch.Tensor, count: int) -> torch.Tensor:
    """The features' positions [C, N] projected on each direction [P, C], sorted, at `count` evenly spaced quantiles."""
    projected = (directions @ features.flatten(1)).sort(dim=1).values
    at = torch.linspace(0, projected.shape[1] - 1, count, dtype=torch.float64).round().long()
    return projected[:, at]


def sliced_style_distance(model: VGGModel, image: torch.Tensor, style: torch.Tensor, seed: int = 0) -> float:
    """Mean over relu1_1..relu5_1 of the sliced Wasserstein distance between the two pictures' feature distributions.

    A judge that is not a Gram distance: each layer's features, as a cloud of
    one point per position, are projected on SLICED_PROJECTIONS random
    directions and compared quantile by quantile (squared differences),
    relative to the style's own spread along the same directions. It sees
    what Grams miss (how values are distributed, not only their second
    moments), so a loss that matches Grams does not game it. Seeded: the same
    directions for every picture judged.
    """
    ours, theirs = _features(model, (image, _style_at(style, image)), JUDGE_STYLE_LAYERS)
    generator = torch.Generator().manual_seed(seed)
    errors = []
    for layer in JUDGE_STYLE_LAYERS:
        a, b = ours[layer][0].double(), theirs[layer][0].double()
        directions = torch.randn(SLICED_PROJECTIONS, a.shape[0], generator=generator, dtype=torch.float64)
        directions = directions / directions.norm(dim=1, keepdim=True)
        count = min(a[0].numel(), b[0].numel())
        pa, pb = _sorted_projections(a, directions, count), _sorted_projections(b, directions, count)
        spread = (pb - pb.mean(dim=1, keepdim=True)).pow(2).mean()
        errors.append(float((pa - pb).pow(2).mean() / spread.clamp_min(1e-12)))
    return sum(errors) / len(errors)


COLOR_BINS = 8


def _color_histogram(image: torch.Tensor) -> torch.Tensor:
    """The joint RGB histogram of an image in [0, 1], COLOR_BINS per channel, as frequencies."""
    bins = (image[0].float().cpu().clamp(0, 1) * COLOR_BINS).long().clamp_max(COLOR_BINS - 1).flatten(1)
    index = (bins[0] * COLOR_BINS + bins[1]) * COLOR_BINS + bins[2]
    counts = torch.bincount(index, minlength=COLOR_BINS**3).double()
    return counts / counts.sum()


def color_distance(image: torch.Tensor, style: torch.Tensor) -> float:
    """Hellinger distance of the two pictures' joint colour histograms: 0 same palette, 1 no colour shared.

    A judge that sees no VGG feature at all: whether the result took the
    style's palette, whatever loss put it there.
    """
    overlap = (_color_histogram(image) * _color_histogram(style)).sqrt().sum()
    return float((1 - overlap).clamp_min(0).sqrt())


BORDER_BAND = 4


def border_excess(result: torch.Tensor, content: torch.Tensor, band: int = BORDER_BAND) -> float:
    """How much more the result departs from the content in its outer `band` px than inside: 1 = no frame.

    Zero padding shows VGG a frame of the mean colour round every image,
    which the optimisation can paint against; this reads such a frame as a number.
    """
    content = resize(content.float(), tuple(result.shape[-2:]))
    change = (result.float() - content).abs().mean(1)[0]
    inner = torch.zeros_like(change, dtype=torch.bool)
    inner[band:-band, band:-band] = True
    return float(change[~inner].mean() / change[inner].mean().clamp_min(1e-12))
