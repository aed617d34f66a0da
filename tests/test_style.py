"""Style targets: mixing weights, gram and feature modes, scale."""

from __future__ import annotations

import math

import pytest
import torch

from nst_nodes.core.errors import InputError
from nst_nodes.core.losses import gram_matrix
from nst_nodes.core.checks import normalize_weights
from nst_nodes.core.style import StyleSpec, compute_style_targets
from nst_nodes.core.images import resize

from helpers import stripes

LAYERS = ["relu1_1", "relu2_1", "relu3_1"]
OUT = (48, 48)


@pytest.fixture(scope="module")
def extractor(vgg_model):
    return vgg_model.extractor(LAYERS)


@pytest.fixture(scope="module")
def two_styles():
    return stripes(40, 56, 20.0, seed=1), torch.rand(1, 3, 64, 48, generator=torch.Generator().manual_seed(2))


def _targets(extractor, styles, weights, mode="gram"):
    return compute_style_targets(extractor, StyleSpec(list(styles), list(weights), mode), LAYERS, OUT, torch.device("cpu"))


@pytest.mark.parametrize("weights", [[1, 3], [0.25, 0.75], [2, 2, 4], [1e-6, 5]])
def test_weights_normalised_to_one(weights):
    normalised = normalize_weights(weights, len(weights), "style_weights", "style image")
    assert math.isclose(sum(normalised), 1.0, rel_tol=1e-12)
    assert all(math.isclose(n / normalised[0], w / weights[0]) for n, w in zip(normalised, weights))


@pytest.mark.parametrize(
    "weights, message",
    [([0, 0], "all weights are zero"), ([-1, 2], "negative"), ([float("nan"), 1], "NaN"), ([1], "one per style")],
)
def test_bad_weights_refused(weights, message):
    with pytest.raises(InputError, match=message):
        normalize_weights(weights, 2, "style_weights", "style image")


@pytest.mark.parametrize("mode", ["gram", "feature"])
def test_weight_one_zero_equals_first_style_alone(extractor, two_styles, mode):
    mixed = _targets(extractor, two_styles, [1, 0], mode)
    alone = _targets(extractor, two_styles[:1], [1], mode)
    for layer in LAYERS:
        torch.testing.assert_close(mixed[layer], alone[layer])


def test_gram_mix_is_linear_in_weights(extractor, two_styles):
    first = _targets(extractor, two_styles, [1, 0])
    second = _targets(extractor, two_styles, [0, 1])
    for w in (0.25, 0.5, 0.9):
        mixed = _targets(extractor, two_styles, [w, 1 - w])
        for layer in LAYERS:
            torch.testing.assert_close(mixed[layer], w * first[layer] + (1 - w) * second[layer], rtol=1e-5, atol=1e-7)


def test_feature_mix_is_gram_of_blended_features(extractor, two_styles):
    weights = [0.25, 0.75]
    targets = _targets(extractor, two_styles, weights, "feature")
    features = [extractor(resize(s, OUT)) for s in two_styles]
    for layer in LAYERS:
        blended = weights[0] * features[0][layer] + weights[1] * features[1][layer]
        torch.testing.assert_close(targets[layer], gram_matrix(blended)[0], rtol=1e-5, atol=1e-7)
    gram_mix = _targets(extractor, two_styles, weights, "gram")
    assert not torch.allclose(targets["relu2_1"], gram_mix["relu2_1"], rtol=1e-3)


def test_style_scale_changes_target_size_not_shape(extractor, two_styles):
    small = compute_style_targets(extractor, StyleSpec([two_styles[0]], scale=1.0), LAYERS, OUT, torch.device("cpu"))
    large = compute_style_targets(extractor, StyleSpec([two_styles[0]], scale=2.0), LAYERS, OUT, torch.device("cpu"))
    assert small["relu3_1"].shape == large["relu3_1"].shape == (256, 256)
    assert not torch.allclose(small["relu1_1"], large["relu1_1"], rtol=1e-3)


def test_spec_checks():
    image = torch.rand(1, 3, 40, 40)
    with pytest.raises(InputError, match="mix"):
        StyleSpec([image], mode="average")
    with pytest.raises(InputError, match="style scale"):
        StyleSpec([image], scale=0)
    with pytest.raises(InputError, match="at least one"):
        StyleSpec([])
    assert StyleSpec([image, image], [1, 3]).weights == [0.25, 0.75]
