"""Where tiles fall: the geometry of exact tiling (tiling.py), shared with the memory estimate and the losses (Window).

Cores partition the image into near-equal tiles whose starts are multiples
of the trunk's total stride (so pooling windows fall as in the whole image);
each core is read with `halo` px of real neighbours on every side, at least
the receptive field's reach of the deepest layer, so its features are the
whole image's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from .vgg import Architecture


@dataclass(frozen=True)
class Tile:
    """One tile: its core (the pixels it accounts for) and its crop (core plus halo), as image (start, stop)."""

    core_rows: tuple[int, int]
    core_cols: tuple[int, int]
    crop_rows: tuple[int, int]
    crop_cols: tuple[int, int]


def _spans(length: int, core: int, align: int) -> list[tuple[int, int]]:
    """[0, length) in near-equal spans of at most about `core`, every start a multiple of `align`."""
    count = max(1, math.ceil(length / core))
    step = math.ceil(length / count / align) * align
    return [(start, min(start + step, length)) for start in range(0, length, step)]


@dataclass(frozen=True)
class TilePlan:
    """How images are cut: cores of at most about `core` px, each read with `halo` px around it."""

    core: int
    halo: int
    align: int

    @classmethod
    def exact(cls, architecture: Architecture, layers: Sequence[str], core: int) -> "TilePlan":
        """The plan for these layers whose halo covers the deepest one's receptive field: tiling changes nothing."""
        deepest = max(layers, key=architecture.layer_index.__getitem__)
        align = architecture.stride(deepest)
        halo = math.ceil(architecture.reach(deepest) / align) * align
        return cls(core=max(align, core // align * align), halo=halo, align=align)

    def tiles(self, hw: tuple[int, int]) -> list[Tile]:
        """The tiles of an image of `hw`, row by row."""
        height, width = hw
        tiles = []
        for rows in _spans(height, self.core, self.align):
            for cols in _spans(width, self.core, self.align):
                crop_rows = (max(0, rows[0] - self.halo), min(height, rows[1] + self.halo))
                crop_cols = (max(0, cols[0] - self.halo), min(width, cols[1] + self.halo))
                tiles.append(Tile(rows, cols, crop_rows, crop_cols))
        return tiles

    def crop_hw(self, hw: tuple[int, int]) -> tuple[int, int]:
        """The largest crop a tile of an image of `hw` reads."""
        spans = [max(stop - start for start, stop in _spans(side, self.core, self.align)) for side in hw]
        return min(hw[0], spans[0] + 2 * self.halo), min(hw[1], spans[1] + 2 * self.halo)


@dataclass(frozen=True)
class Window:
    """Where one tile's core features sit in a whole layer (tiling.py): rows, columns, and the layer's (h, w)."""

    rows: slice
    cols: slice
    layer_hw: tuple[int, int]

    @property
    def share(self) -> float:
        """The core's fraction of the layer's positions."""
        return (self.rows.stop - self.rows.start) * (self.cols.stop - self.cols.start) / (self.layer_hw[0] * self.layer_hw[1])
