"""A loss-curve chart drawn with Pillow alone.

The Optimize node returns its loss history as a picture so that it can be
seen in ComfyUI without a plotting library. Losses span many decades, so the
y axis is logarithmic; a term that is never positive (a TV weight of 0, say)
has nothing to show on a log scale and is left out of the chart and legend.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from PIL import Image, ImageDraw

from .visualize import font

SERIES: tuple[tuple[str, tuple[int, int, int]], ...] = (
    ("total", (20, 20, 20)),
    ("content", (31, 119, 180)),
    ("style", (214, 39, 40)),
    ("tv", (44, 160, 44)),
)
BACKGROUND = (255, 255, 255)
INK = (40, 40, 40)
GRID = (225, 225, 225)
MIN_SIZE = (160, 120)


def _positive_points(history: Sequence[Mapping[str, float]], key: str) -> list[tuple[float, float]]:
    """(step, value) pairs where the value can be drawn on a log axis."""
    points = []
    for record in history:
        value = record.get(key)
        step = record.get("step")
        if value is None or step is None:
            continue
        value, step = float(value), float(step)
        if math.isfinite(value) and value > 0 and math.isfinite(step):
            points.append((step, value))
    return points


def _nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick positions (1, 2 or 5 times a power of ten apart) covering [low, high]."""
    span = high - low
    if span <= 0:
        return [low]
    raw = span / max(1, count)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step) * step
    ticks = []
    value = first
    while value <= high + step * 1e-9:
        ticks.append(value)
        value += step
    return ticks


def _format_step(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def plot_losses(
    history: Sequence[Mapping[str, float]],
    size: tuple[int, int] = (512, 320),
    title: str = "Loss per step (log scale)",
) -> Image.Image:
    """Line chart of the weighted loss terms over the steps of a run.

    `history` holds records with a `step` and any of `total`, `content`,
    `style`, `tv` (RunMetrics.history). Returns an RGB image of `size`
    (width, height) with axes, tick labels, a title and a legend.
    """
    width, height = max(MIN_SIZE[0], int(size[0])), max(MIN_SIZE[1], int(size[1]))
    image = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(image)
    text_font, title_font = font(11), font(14)
    draw.text((10, 6), title, fill=INK, font=title_font)

    series = [(key, colour, pts) for key, colour in SERIES if (pts := _positive_points(history, key))]
    left, right, top, bottom = 52, width - 12, 40, height - 30
    if not series:
        draw.text((left, (top + bottom) // 2), "no positive loss values to plot", fill=INK, font=text_font)
        return image

    steps = [step for _, _, pts in series for step, _ in pts]
    values = [value for _, _, pts in series for _, value in pts]
    x_low, x_high = min(steps), max(steps)
    if x_high == x_low:
        x_high = x_low + 1
    y_low, y_high = math.floor(math.log10(min(values))), math.ceil(math.log10(max(values)))
    if y_high == y_low:
        y_high = y_low + 1

    def to_xy(step: float, value: float) -> tuple[float, float]:
        x = left + (step - x_low) / (x_high - x_low) * (right - left)
        y = bottom - (math.log10(value) - y_low) / (y_high - y_low) * (bottom - top)
        return x, y

    # Decades on the y axis; at most about eight labels so they never overlap.
    every = max(1, math.ceil((y_high - y_low) / 8))
    for exponent in range(y_low, y_high + 1, every):
        _, y = to_xy(x_low, 10.0**exponent)
        draw.line([(left, y), (right, y)], fill=GRID)
        label = f"1e{exponent}"
        draw.text((left - 6 - draw.textlength(label, font=text_font), y - 6), label, fill=INK, font=text_font)
    for tick in _nice_ticks(x_low, x_high):
        x, _ = to_xy(tick, 10.0**y_low)
        draw.line([(x, top), (x, bottom)], fill=GRID)
        label = _format_step(tick)
        draw.text((x - draw.textlength(label, font=text_font) / 2, bottom + 4), label, fill=INK, font=text_font)
    draw.rectangle([left, top, right, bottom], outline=INK)
    draw.text(((left + right) / 2 - 12, bottom + 16), "step", fill=INK, font=text_font)
    draw.text((8, top - 15), "loss", fill=INK, font=text_font)

    for _, colour, pts in series:
        xy = [to_xy(step, value) for step, value in pts]
        if len(xy) == 1:
            x, y = xy[0]
            draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill=colour)
        else:
            draw.line(xy, fill=colour, width=2)

    legend_x, legend_y = right - 78, top + 6
    draw.rectangle([legend_x - 6, legend_y - 4, right - 6, legend_y + 14 * len(series) + 2], fill=BACKGROUND, outline=GRID)
    for index, (key, colour, _) in enumerate(series):
        y = legend_y + index * 14
        draw.line([(legend_x, y + 6), (legend_x + 16, y + 6)], fill=colour, width=2)
        draw.text((legend_x + 20, y), key, fill=INK, font=text_font)
    return image
