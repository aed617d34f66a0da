"""The loss-curve chart (core/plot.py) the Optimize node returns."""

from __future__ import annotations

import math

import numpy as np

from nst_nodes.core.plot import SERIES, plot_losses


def _history(steps: int = 50) -> list[dict[str, float]]:
    return [
        {"step": s, "content": 1 + s, "style": 1e4 * math.exp(-s / 5), "tv": 0.0, "total": 1 + s + 1e4 * math.exp(-s / 5)}
        for s in range(steps + 1)
    ]


def _has_colour(image, colour) -> bool:
    return bool((np.asarray(image) == np.array(colour, dtype=np.uint8)).all(axis=2).any())


def test_plot_has_requested_size_and_draws_each_positive_series():
    image = plot_losses(_history(), size=(400, 260))
    assert image.size == (400, 260) and image.mode == "RGB"
    colours = dict(SERIES)
    for key in ("total", "content", "style"):
        assert _has_colour(image, colours[key]), key
    assert not _has_colour(image, colours["tv"])  # all zero: nothing to draw on a log axis


def test_plot_of_nothing_is_still_an_image():
    for history in ([], [{"step": 0, "total": 0.0}], [{"step": 0, "total": float("nan")}]):
        image = plot_losses(history)
        assert image.size == (512, 320)
        assert not _has_colour(image, dict(SERIES)["total"])


def test_plot_single_point_and_tiny_size():
    image = plot_losses([{"step": 3, "total": 5.0}], size=(10, 10))
    assert image.size == (160, 120)  # clamped to a readable minimum
    assert _has_colour(image, dict(SERIES)["total"])


def _rows_of(image, colour, column: int) -> list[int]:
    pixels = np.asarray(image)[:, column]
    return [int(r) for r in np.nonzero((pixels == np.array(colour, dtype=np.uint8)).all(axis=1))[0]]


def test_curves_are_where_the_numbers_say():
    """A constant series is a flat line; a series falling one decade per 10 steps is a straight line."""
    history = [{"step": s, "style": 1.0, "total": 100.0 * 10 ** (-s / 10)} for s in range(0, 31)]
    image = plot_losses(history, size=(620, 400))
    colours = dict(SERIES)
    width = image.size[0]
    flat_rows, falling = [], []
    for column in range(80, width - 100, 40):  # inside the axes, clear of the legend
        style_rows = _rows_of(image, colours["style"], column)
        total_rows = _rows_of(image, colours["total"], column)
        assert style_rows and total_rows, column
        flat_rows.append(np.mean(style_rows))
        falling.append((column, np.mean(total_rows)))
    assert max(flat_rows) - min(flat_rows) <= 1.0
    # log10(total) is linear in the step, so on a log axis the row is linear in the column
    columns, rows = np.array(falling).T
    slope, intercept = np.polyfit(columns, rows, 1)
    assert slope > 0  # falling values go down the image
    assert np.abs(rows - (slope * columns + intercept)).max() <= 1.5
    # total starts two decades above style (100 vs 1) and ends one decade below (0.1 vs 1)
    assert rows[0] < flat_rows[0] < rows[-1]
    crossing = columns[int(np.argmin(np.abs(rows - np.mean(flat_rows))))]
    assert columns[0] < crossing < columns[-1]
