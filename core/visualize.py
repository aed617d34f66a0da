"""Pictures of what VGG sees: feature-map grids and Gram-matrix heat maps.

Rendered with Pillow alone, so that the command line and ComfyUI show the
same images without a plotting dependency.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont

from .errors import InputError
from .losses import gram_matrix

BACKGROUND = (255, 255, 255)
INK = (20, 20, 20)
# Anchor colours of a perceptually ordered dark-blue -> green -> yellow scale.
_SCALE_ANCHORS = torch.tensor(
    [[68, 1, 84], [72, 40, 120], [59, 82, 139], [44, 114, 142], [33, 145, 140],
     [40, 174, 128], [94, 201, 98], [170, 220, 50], [253, 231, 37]],
    dtype=torch.float32,
)  # fmt: skip


def font(size: int = 14) -> ImageFont.ImageFont:
    """Pillow's bundled font at `size` px (a bitmap font on very old Pillow)."""
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has no sized default font
        return ImageFont.load_default()


def colorize(values: torch.Tensor) -> torch.Tensor:
    """Map values in [0, 1] ([H, W]) to RGB uint8 ([H, W, 3]) on the colour scale."""
    position = values.clamp(0, 1) * (len(_SCALE_ANCHORS) - 1)
    low = position.floor().long().clamp(max=len(_SCALE_ANCHORS) - 2)
    frac = (position - low).unsqueeze(-1)
    rgb = _SCALE_ANCHORS[low] * (1 - frac) + _SCALE_ANCHORS[low + 1] * frac
    return rgb.round().to(torch.uint8)


def normalize_for_display(channel: torch.Tensor) -> torch.Tensor:
    """Min-max scale to [0, 1]; a constant channel (all zero, say) becomes all 0."""
    low, high = channel.min(), channel.max()
    span = high - low
    if span <= 0 or not torch.isfinite(span):
        return torch.zeros_like(channel)
    return (channel - low) / span


def strongest_channels(features: torch.Tensor, count: int) -> list[int]:
    """Indices of the `count` channels with the highest mean activation, strongest first."""
    if features.dim() != 4 or features.shape[0] != 1:
        raise InputError(f"features: expected one feature map [1, C, H, W], got {tuple(features.shape)}")
    channels = features.shape[1]
    if not 1 <= count:
        raise InputError(f"channels: {count} must be at least 1")
    means = features[0].float().mean(dim=(1, 2))
    order = torch.argsort(means, descending=True, stable=True)
    return order[: min(count, channels)].tolist()


def feature_grid(features: torch.Tensor, count: int = 16, title: str = "", tile: int = 128) -> Image.Image:
    """The `count` most active channels of one layer as a labelled grid of grey tiles."""
    indices = strongest_channels(features, count)
    maps = _tiles(features[0, indices], tile)
    tile_h, tile_w = maps.shape[-2:]
    columns = math.ceil(math.sqrt(len(indices)))
    rows = math.ceil(len(indices) / columns)
    label_font, title_font = font(12), font(16)
    label_h, gap, top = 16, 6, 30 if title else 6
    width_needed = columns * (tile_w + gap) + gap
    if title:
        width_needed = max(width_needed, int(ImageDraw.Draw(Image.new("RGB", (1, 1))).textlength(title, font=title_font)) + 2 * gap)
    canvas = Image.new("RGB", (width_needed, top + rows * (tile_h + label_h + gap) + gap), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    if title:
        draw.text((gap, 6), title, fill=INK, font=title_font)
    for slot, (channel, feature_map) in enumerate(zip(indices, maps)):
        x = gap + (slot % columns) * (tile_w + gap)
        y = top + (slot // columns) * (tile_h + label_h + gap)
        draw.text((x, y), f"ch {channel}", fill=INK, font=label_font)
        canvas.paste(_grey(feature_map), (x, y + label_h))
    return canvas


def correlations(gram: torch.Tensor) -> torch.Tensor:
    """G_ij / sqrt(G_ii G_jj): which channels fire together, whatever their strength (0 for silent ones).

    A few strong channels dominate a raw Gram matrix's colour scale; this shows its structure.
    """
    scale = gram.diagonal().clamp(min=0).sqrt()
    return (gram / (scale[:, None] * scale[None, :]).clamp(min=1e-12)).clamp(0, 1)


def _tiles(maps: torch.Tensor, tile: int) -> torch.Tensor:
    """Channel maps [N, H, W] scaled (nearest) so the longer side is `tile` px, keeping the aspect."""
    height, width = maps.shape[-2:]
    scale = tile / max(height, width)
    size = (max(1, round(height * scale)), max(1, round(width * scale)))
    return F.interpolate(maps.float().unsqueeze(1), size=size, mode="nearest").squeeze(1)


def _grey(feature_map: torch.Tensor) -> Image.Image:
    grey = (normalize_for_display(feature_map) * 255).round().to(torch.uint8).numpy()
    return Image.fromarray(grey, mode="L").convert("RGB")


def gram_heatmap(gram: torch.Tensor, title: str = "", size: int = 512) -> Image.Image:
    """A Gram matrix [C, C] as a heat map with a labelled colour scale."""
    if gram.dim() == 3 and gram.shape[0] == 1:
        gram = gram[0]
    if gram.dim() != 2 or gram.shape[0] != gram.shape[1]:
        raise InputError(f"gram: expected a square matrix [C, C], got {tuple(gram.shape)}")
    gram = gram.detach().float().cpu()
    low, high = float(gram.min()), float(gram.max())
    cells = gram.shape[0]
    pixels = max(1, size // cells) * cells
    heat = colorize(normalize_for_display(gram))
    heat_image = Image.fromarray(heat.numpy(), mode="RGB").resize((pixels, pixels), Image.NEAREST)
    title_font, label_font = font(16), font(12)
    top, margin, bar_w, label_w = 32, 10, 18, 90
    canvas = Image.new("RGB", (margin + pixels + margin + bar_w + label_w, top + pixels + margin), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    draw.text((margin, 8), title or f"Gram matrix ({cells} x {cells})", fill=INK, font=title_font)
    canvas.paste(heat_image, (margin, top))
    ramp = torch.linspace(1, 0, pixels).unsqueeze(1).expand(pixels, bar_w)
    canvas.paste(Image.fromarray(colorize(ramp).numpy(), mode="RGB"), (2 * margin + pixels, top))
    for fraction in (0.0, 0.5, 1.0):
        value = high - fraction * (high - low)
        y = top + round(fraction * (pixels - 1))
        x = 2 * margin + pixels + bar_w
        draw.line([(x, y), (x + 4, y)], fill=INK)
        draw.text((x + 6, min(max(top, y - 7), top + pixels - 14)), f"{value:.3g}", fill=INK, font=label_font)
    return canvas


@torch.no_grad()
def inspect_layers(
    extractor_features: dict[str, torch.Tensor], layers: list[str], count: int = 16, label: str = ""
) -> dict[str, tuple[Image.Image, Image.Image]]:
    """Feature grid and Gram heat map for each layer of one image's features."""
    pictures = {}
    for layer in layers:
        features = extractor_features[layer]
        channels = features.shape[1]
        prefix = f"{label}: " if label else ""
        grid = feature_grid(features, count, f"{prefix}{layer}, {min(count, channels)} of {channels} channels by mean activation")
        heat = gram_heatmap(gram_matrix(features)[0], f"{prefix}{layer} Gram matrix ({channels} x {channels})")
        pictures[layer] = (grid, heat)
    return pictures


@torch.no_grad()
def layer_sheet(
    extractor_features: dict[str, torch.Tensor], layers: list[str], count: int = 8, title: str = "", tile: int = 96
) -> Image.Image:
    """All `layers` of one image on one sheet: a row each, its `count` strongest channels, then its Gram matrix.

    One picture instead of a grid and a heat map per layer, so that a workflow can
    show five layers in one preview that reads at a normal zoom. The Gram matrix is
    shown normalised (see `correlations`): at this size its raw form is one colour.
    """
    title_font, label_font = font(16), font(13)
    gap, label_w, top = 6, 96, 30
    rows = []
    for layer in layers:
        features = extractor_features[layer]
        indices = strongest_channels(features, count)
        gram = correlations(gram_matrix(features)[0].float().cpu())
        shrink = Image.BOX if gram.shape[0] > tile else Image.NEAREST  # average cells rather than drop them
        heat = Image.fromarray(colorize(gram).numpy(), mode="RGB").resize((tile, tile), shrink)
        rows.append((layer, features.shape[1], [_grey(m) for m in _tiles(features[0, indices], tile)], heat))
    tile_h = max(max((t.height for t in tiles), default=0) for _, _, tiles, _ in rows)
    row_h = max(tile_h, tile) + gap
    most = max(len(tiles) for _, _, tiles, _ in rows)
    tile_w = max(max((t.width for t in tiles), default=0) for _, _, tiles, _ in rows)
    width = gap + label_w + most * (tile_w + gap) + gap + tile + gap
    canvas = Image.new("RGB", (width, top + len(rows) * row_h + gap), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    if title:
        draw.text((gap, 6), title, fill=INK, font=title_font)
    heat_x = gap + label_w + most * (tile_w + gap) + gap
    for row, (layer, channels, tiles, heat) in enumerate(rows):
        y = top + row * row_h
        draw.text((gap, y + 4), layer, fill=INK, font=title_font)
        draw.text((gap, y + 26), f"{len(tiles)} of {channels} ch", fill=INK, font=label_font)
        for column, picture in enumerate(tiles):
            canvas.paste(picture, (gap + label_w + column * (tile_w + gap), y))
        canvas.paste(heat, (heat_x, y))
    draw.text((heat_x, 12), "Gram (norm.)", fill=INK, font=label_font)
    return canvas
