"""What a content loss compares, layer by layer: the feature maps themselves, or their self-similarity.

- mse (Gatys et al. 2016): the relative squared error of the feature maps
  (losses.content_loss). It holds every feature at its place, colours and
  textures included, which is what the style has to fight.
- self-similarity (Kolkin et al. 2019, STROTSS): how alike each pair of
  positions is, a matrix of cosine distances between their feature vectors,
  each column normalised to sum to 1. It keeps the layout (what is like
  what, and where) and leaves free what each place looks like. The
  features are centred first, so a shift common to every position (what a
  colour cast does to the first, linear layer) changes nothing.

The self-similarity matrix grows with the square of a layer's positions, so
it is taken on at most SELF_SIMILARITY_POSITIONS of them: one drawn in each
cell of an even grid (a jittered grid leaves no region unwatched), the same
positions every step (L-BFGS needs one fixed function) and at every size's
target. Its cost is then bounded whatever the image's size.

Both split over tiles (tiling.py): a summary of one tile's core features is
its share of the whole image's, and the shares add up to it. For mse that
is the tile's share of the error; for self-similarity, the sampled
positions that fall in the tile, zero elsewhere.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

import torch

from .checks import check_choice
from .losses import content_loss, mean_square
from .tiles import Window

CONTENT_LOSSES = ("mse", "self-similarity")

# At most this many positions per layer enter the self-similarity matrix, which keeps its cost a
# small part of a VGG step at any size (README, "Content losses").
SELF_SIMILARITY_POSITIONS = 1024
# The seed of the sampled positions: the same every run, so a target fits every run of its size.
SELF_SIMILARITY_SEED = 2019
# Keeps cosines and column sums finite for a position without features or a flat layer.
_TINY = 1e-12

Prepared = tuple[torch.Tensor, ...]


class MseContent:
    """Feature maps compared at each position; the summary of features is their share of the loss [B]."""

    name = "mse"
    paired_positions = 0  # compares no pairs of positions (memory.Footprint)

    def prepare(self, target: torch.Tensor) -> Prepared:
        """The target [B, C, H, W] and its mean square, taken once."""
        return target, mean_square(target, 3)

    def summary(self, features: torch.Tensor, prepared: Prepared, window: Window | None = None) -> torch.Tensor:
        target, scale = prepared
        if window is None:
            return content_loss(features, target, scale)
        return content_loss(features, target[..., window.rows, window.cols], scale) * window.share

    def loss(self, summary: torch.Tensor, prepared: Prepared) -> torch.Tensor:
        return summary


def sampled_positions(height: int, width: int, count: int = SELF_SIMILARITY_POSITIONS) -> tuple[torch.Tensor, torch.Tensor]:
    """(rows, cols) of at most `count` positions of a height x width layer: all of them, or one per cell of an even grid."""
    if height * width <= count:
        rows, cols = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
        return rows.flatten(), cols.flatten()
    grid_h = max(1, min(height, round(math.sqrt(count * height / width))))
    grid_w = max(1, min(width, count // grid_h))
    row_edges = torch.arange(grid_h + 1) * height // grid_h
    col_edges = torch.arange(grid_w + 1) * width // grid_w
    generator = torch.Generator().manual_seed(SELF_SIMILARITY_SEED)
    row_jitter = torch.rand(grid_h, grid_w, generator=generator)
    col_jitter = torch.rand(grid_h, grid_w, generator=generator)
    rows = row_edges[:-1, None] + (row_jitter * (row_edges[1:] - row_edges[:-1])[:, None]).long()
    cols = col_edges[None, :-1] + (col_jitter * (col_edges[1:] - col_edges[:-1])[None, :]).long()
    return rows.flatten(), cols.flatten()


def self_similarity(sampled: torch.Tensor) -> torch.Tensor:
    """[B, N, C] feature vectors -> [B, N, N] cosine distances of the centred vectors, each column summing to 1."""
    centred = sampled.float() - sampled.float().mean(1, keepdim=True)
    unit = centred / centred.norm(dim=-1, keepdim=True).clamp_min(_TINY)
    distance = 1 - unit @ unit.transpose(1, 2)
    return distance / distance.sum(1, keepdim=True).clamp_min(_TINY)


@dataclass
class SelfSimilarityContent:
    """The self-similarity of the features at sampled positions; the summary of features is those positions' vectors [B, N, C]."""

    name = "self-similarity"
    # The most positions a layer's matrix pairs at the default count (memory.Footprint).
    paired_positions: ClassVar[int] = SELF_SIMILARITY_POSITIONS
    count: int = SELF_SIMILARITY_POSITIONS  # the most positions a layer's matrix is taken on
    _positions: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict, repr=False)
    _windows: dict[tuple, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = field(default_factory=dict, repr=False)

    def positions(self, layer_hw: tuple[int, int], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """The sampled (rows, cols) of a layer of this size (sampled_positions), on `device`."""
        key = (*layer_hw, device)
        if key not in self._positions:
            self._positions[key] = tuple(index.to(device) for index in sampled_positions(*layer_hw, self.count))
        return self._positions[key]

    def prepare(self, target: torch.Tensor) -> Prepared:
        """The target's self-similarity and its spread, taken once.

        The loss is relative to the target's mean squared deviation from its
        columns' mean (1/N), not its mean square, which the columns' constant
        level dominates: so a change of layout weighs about what it weighs in
        mse, and one content weight means about the same for both.
        """
        rows, cols = self.positions(tuple(target.shape[-2:]), target.device)
        matrix = self_similarity(target[:, :, rows, cols].transpose(1, 2))
        return matrix, mean_square(matrix - matrix.mean(1, keepdim=True), 2)

    def summary(self, features: torch.Tensor, prepared: Prepared, window: Window | None = None) -> torch.Tensor:
        if window is None:
            rows, cols = self.positions(tuple(features.shape[-2:]), features.device)
            return features[:, :, rows, cols].transpose(1, 2)
        inside, rows, cols = self._inside(window, features.device)
        sampled = features.new_zeros(features.shape[0], inside.numel(), features.shape[1])
        sampled[:, inside] = features[:, :, rows, cols].transpose(1, 2)
        return sampled

    def _inside(self, window: Window, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Which sampled positions fall in a tile's core, and their (rows, cols) in it; found once per window."""
        key = (window.rows.start, window.rows.stop, window.cols.start, window.cols.stop, *window.layer_hw, device)
        if key not in self._windows:
            rows, cols = self.positions(window.layer_hw, device)
            inside = (rows >= window.rows.start) & (rows < window.rows.stop) & (cols >= window.cols.start) & (cols < window.cols.stop)
            self._windows[key] = (inside, rows[inside] - window.rows.start, cols[inside] - window.cols.start)
        return self._windows[key]

    def loss(self, summary: torch.Tensor, prepared: Prepared) -> torch.Tensor:
        """Squared error of the self-similarity matrices relative to the target's spread, per batch item -> [B]."""
        target, scale = prepared
        return (self_similarity(summary) - target).pow(2).flatten(1).mean(1) / scale


ContentMeasure = MseContent | SelfSimilarityContent


def content_measure_type(content_loss_name: str) -> type[ContentMeasure]:
    """The kind of measure a `content_loss` setting names: what the memory plan reads before a run makes one."""
    check_choice(content_loss_name, CONTENT_LOSSES, "content_loss")
    return {"mse": MseContent, "self-similarity": SelfSimilarityContent}[content_loss_name]


def content_measure_for(content_loss_name: str) -> ContentMeasure:
    """The measure a `content_loss` setting names."""
    return content_measure_type(content_loss_name)()
