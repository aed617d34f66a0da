"""Pictures of what VGG sees (core/visualize.py): feature grids and Gram heat maps show what they claim to."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nst_nodes.core.losses import gram_matrix
from nst_nodes.core.visualize import (
    BACKGROUND,
    correlations,
    feature_grid,
    gram_heatmap,
    layer_sheet,
    normalize_for_display,
    strongest_channels,
)

from helpers import stripes


def _features(channels=12, seed=0):
    generator = torch.Generator().manual_seed(seed)
    ramp = torch.linspace(0, 1, 20).view(1, 20).expand(16, 20)
    offsets = torch.randperm(channels, generator=generator).float()
    return torch.stack([ramp * (1 + o) + o for o in offsets]).unsqueeze(0), offsets


def test_strongest_channels_in_order_of_mean_activation():
    features, offsets = _features()
    # channel c ramps from offsets[c] to 2 * offsets[c] + 1, so its mean is 1.5 * offsets[c] + 0.5
    by_offset = sorted(range(len(offsets)), key=lambda c: float(offsets[c]), reverse=True)
    order = strongest_channels(features, 5)
    means = features[0].mean(dim=(1, 2))
    assert order == by_offset[:5]
    assert all(means[a] >= means[b] for a, b in zip(order, order[1:]))
    assert strongest_channels(features, 100) == by_offset


@pytest.mark.parametrize("count", [1, 5, 9])
def test_grid_shows_exactly_the_requested_channels(count):
    features, _ = _features()
    tile = 40
    grid = np.asarray(feature_grid(features, count, tile=tile))
    columns = int(np.ceil(np.sqrt(count)))
    rows = int(np.ceil(count / columns))
    gap, label_h = 6, 16
    tile_h = round(16 * tile / 20)
    assert grid.shape[1] == columns * (tile + gap) + gap
    assert grid.shape[0] == 6 + rows * (tile_h + label_h + gap) + gap
    drawn = 0
    for slot in range(columns * rows):
        x = gap + (slot % columns) * (tile + gap)
        y = 6 + (slot // columns) * (tile_h + label_h + gap) + label_h
        region = grid[y : y + tile_h, x : x + tile]
        drawn += int((region != np.array(BACKGROUND)).any())
    assert drawn == count


def test_all_zero_channel_does_not_divide_by_zero():
    features = torch.zeros(1, 4, 8, 8)
    features[0, 1] = 1.0
    assert torch.equal(normalize_for_display(features[0, 0]), torch.zeros(8, 8))
    grid = np.asarray(feature_grid(features, 4))
    assert np.isfinite(grid).all() and grid.dtype == np.uint8


def test_gram_heatmap_of_two_identical_halves_equals_one_half(vgg_model):
    half = stripes(48, 48, 30.0, seed=4)
    doubled = torch.cat([half, half], dim=3)
    extractor = vgg_model.extractor(["relu1_1", "relu2_1"])
    with torch.no_grad():
        gram_half = gram_matrix(extractor(half)["relu2_1"])[0]
        gram_doubled = gram_matrix(extractor(doubled)["relu2_1"])[0]
    torch.testing.assert_close(gram_doubled, gram_half, rtol=0.05, atol=0.05 * float(gram_half.abs().max()))
    a = np.asarray(gram_heatmap(gram_half, "x")).astype(int)
    b = np.asarray(gram_heatmap(gram_doubled, "x")).astype(int)
    assert a.shape == b.shape
    assert np.abs(a - b).mean() < 3.0


def test_gram_heatmap_colours_follow_values():
    gram = torch.diag(torch.tensor([0.0, 1.0]))
    picture = np.asarray(gram_heatmap(gram, "t", size=100)).astype(int)
    top, margin = 32, 10
    low_cell = picture[top + 10, margin + 75]  # row 0, column 1: value 0
    high_cell = picture[top + 75, margin + 75]  # row 1, column 1: value 1
    assert high_cell.sum() > low_cell.sum() + 200  # yellow vs dark blue


def test_bad_shapes_refused():
    from nst_nodes.core.errors import InputError

    with pytest.raises(InputError, match="square"):
        gram_heatmap(torch.zeros(3, 4))
    with pytest.raises(InputError, match="channels"):
        strongest_channels(torch.zeros(1, 3, 4, 4), 0)


def test_normalised_gram_is_the_cosine_of_channel_maps():
    torch.manual_seed(0)
    features = torch.rand(1, 6, 5, 7)
    features[0, 4] = 0  # a silent channel
    flat = features[0].reshape(6, -1)
    norms = flat.norm(dim=1, keepdim=True)
    cosine = (flat @ flat.T) / (norms * norms.T).clamp(min=1e-12)
    got = correlations(gram_matrix(features)[0])
    assert torch.allclose(got, cosine, atol=1e-5)
    assert torch.all(got[4] == 0) and torch.allclose(got.diagonal()[[0, 1, 2, 3, 5]], torch.ones(5), atol=1e-5)


def test_layer_sheet_has_a_row_per_layer_starting_with_its_strongest_channel():
    tile, gap, label_w, top = 32, 6, 96, 30
    layers = {}
    for index, name in enumerate(("relu1_1", "relu3_1", "relu5_1")):
        maps = torch.zeros(1, 4, 8, 8)
        maps[0, :, :, 4:] = 1.0  # weak channels: bright on the right
        strongest = index + 1
        maps[0, strongest] = 0
        maps[0, strongest, :, :4] = 3.0  # the strongest: bright on the left
        layers[name] = maps
    sheet = np.asarray(layer_sheet(layers, list(layers), count=2, tile=tile)).astype(float).mean(axis=2)
    assert sheet.shape == (top + 3 * (tile + gap) + gap, gap + label_w + 2 * (tile + gap) + gap + tile + gap)
    for row in range(3):
        y, x = top + row * (tile + gap), gap + label_w
        first = sheet[y : y + tile, x : x + tile]
        second = sheet[y : y + tile, x + tile + gap : x + 2 * tile + gap]
        assert first[:, : tile // 2].mean() > 200 > 50 > first[:, tile // 2 :].mean(), row
        assert second[:, tile // 2 :].mean() > 200 > 50 > second[:, : tile // 2].mean(), row
