"""Style targets (core/style_targets.py): mixing weights, gram and feature modes, scale, and rotated views fused."""

from __future__ import annotations

import pytest
import torch

from nst_nodes.core.geometry import resize
from nst_nodes.core.losses import gram_matrix
from nst_nodes.core.rotation import RotationSpec, rotate_style_image
from nst_nodes.core.style import StyleSpec
from nst_nodes.core.style_targets import compute_style_targets

from helpers import halves, stripes

LAYERS = ["relu1_1", "relu2_1", "relu3_1"]
OUT = (48, 48)
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def extractor(vgg_model):
    return vgg_model.extractor(LAYERS)


@pytest.fixture(scope="module")
def two_styles():
    return stripes(40, 56, 20.0, seed=1), torch.rand(1, 3, 64, 48, generator=torch.Generator().manual_seed(2))


def _mix_targets(extractor, styles, weights, mode="gram"):
    return compute_style_targets(extractor, StyleSpec(list(styles), list(weights), mode), LAYERS, OUT, torch.device("cpu"))


@pytest.mark.parametrize("mode", ["gram", "feature"])
def test_weight_one_zero_equals_first_style_alone(extractor, two_styles, mode):
    mixed = _mix_targets(extractor, two_styles, [1, 0], mode)
    alone = _mix_targets(extractor, two_styles[:1], [1], mode)
    for layer in LAYERS:
        torch.testing.assert_close(mixed[layer], alone[layer])


def test_gram_mix_is_linear_in_weights(extractor, two_styles):
    first = _mix_targets(extractor, two_styles, [1, 0])
    second = _mix_targets(extractor, two_styles, [0, 1])
    for w in (0.25, 0.5, 0.9):
        mixed = _mix_targets(extractor, two_styles, [w, 1 - w])
        for layer in LAYERS:
            torch.testing.assert_close(mixed[layer], w * first[layer] + (1 - w) * second[layer], rtol=1e-5, atol=1e-7)


def test_feature_mix_is_gram_of_blended_features(extractor, two_styles):
    weights = [0.25, 0.75]
    targets = _mix_targets(extractor, two_styles, weights, "feature")
    features = [extractor(resize(s, OUT)) for s in two_styles]
    for layer in LAYERS:
        blended = weights[0] * features[0][layer] + weights[1] * features[1][layer]
        torch.testing.assert_close(targets[layer], gram_matrix(blended)[0], rtol=1e-5, atol=1e-7)
    gram_mix = _mix_targets(extractor, two_styles, weights, "gram")
    assert not torch.allclose(targets["relu2_1"], gram_mix["relu2_1"], rtol=1e-3)


def test_style_scale_changes_target_size_not_shape(extractor, two_styles):
    small = compute_style_targets(extractor, StyleSpec([two_styles[0]], scale=1.0), LAYERS, OUT, torch.device("cpu"))
    large = compute_style_targets(extractor, StyleSpec([two_styles[0]], scale=2.0), LAYERS, OUT, torch.device("cpu"))
    assert small["relu3_1"].shape == large["relu3_1"].shape == (256, 256)
    assert not torch.allclose(small["relu1_1"], large["relu1_1"], rtol=1e-3)


def _targets(extractor, spec):
    return compute_style_targets(extractor, spec, LAYERS, OUT, CPU)


@pytest.mark.parametrize("angle", [0.0, 360.0, -360.0])
def test_zero_and_full_turns_give_the_plain_target(extractor, angle):
    style = stripes(40, 56, 20.0, seed=1)
    plain = _targets(extractor, StyleSpec([style]))
    turned = _targets(extractor, StyleSpec([style], rotation=RotationSpec([angle])))
    half = _targets(extractor, StyleSpec([style], rotation=RotationSpec([angle], rho=0.5)))
    for layer in LAYERS:
        assert torch.equal(turned[layer], plain[layer])
        assert torch.equal(half[layer], plain[layer])
    assert torch.equal(rotate_style_image(style, angle), style)


def test_image_rotation_changes_grams_and_fuses_linearly(extractor):
    """VGG's filters are oriented: a turned style has other Grams; the fusion is the stated weighted sum."""
    style = stripes(48, 48, 20.0, seed=1)
    plain = _targets(extractor, StyleSpec([style]))
    at_60 = _targets(extractor, StyleSpec([style], rotation=RotationSpec([60.0])))
    at_150 = _targets(extractor, StyleSpec([style], rotation=RotationSpec([150.0])))
    fused = _targets(extractor, StyleSpec([style], rotation=RotationSpec([60.0, 150.0], [1, 3], rho=0.4)))
    for layer in LAYERS:
        assert not torch.allclose(at_60[layer], plain[layer], rtol=1e-2)
        expected = 0.6 * plain[layer] + 0.4 * (0.25 * at_60[layer] + 0.75 * at_150[layer])
        torch.testing.assert_close(fused[layer], expected, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("mode", ["gram", "feature"])
def test_rotation_applies_to_every_style_of_a_mix(extractor, mode):
    first, second = stripes(48, 48, 20.0, seed=1), stripes(48, 48, 70.0, seed=2)
    rotation = RotationSpec([90.0])
    mixed = _targets(extractor, StyleSpec([first, second], [1, 3], mode=mode, rotation=rotation))
    turned = [torch.rot90(image, 1, dims=(2, 3)) for image in (first, second)]
    by_hand = _targets(extractor, StyleSpec(turned, [1, 3], mode=mode))
    for layer in LAYERS:
        torch.testing.assert_close(mixed[layer], by_hand[layer], rtol=1e-5, atol=1e-8)


def test_dfr_targets(extractor):
    style = stripes(40, 56, 20.0, seed=1)
    plain = _targets(extractor, StyleSpec([style]))
    at_rho_0 = _targets(extractor, StyleSpec([style], rotation=RotationSpec([90], rho=0.0, mode="dfr")))
    flipped = _targets(extractor, StyleSpec([style], rotation=RotationSpec([180], mode="dfr")))
    turned = _targets(extractor, StyleSpec([style], rotation=RotationSpec([90], mode="dfr")))
    for layer in LAYERS:
        assert torch.equal(at_rho_0[layer], plain[layer])
        torch.testing.assert_close(flipped[layer], plain[layer], rtol=1e-5, atol=1e-8)
        assert not torch.allclose(turned[layer], plain[layer], rtol=1e-2)


def test_each_style_can_turn_its_own_way(vgg_model):
    """Per-style rotations: the same turn for every style equals the recipe's one rotation; one style's own
    turn changes only its region's target."""
    a, b = stripes(48, 48, 20.0, seed=1), stripes(48, 48, 110.0, seed=2)
    extractor = vgg_model.extractor(["relu2_1"], "cpu")
    cpu = torch.device("cpu")
    turn = RotationSpec([60.0])

    def targets(spec):
        return compute_style_targets(extractor, spec, ["relu2_1"], (48, 48), cpu)["relu2_1"]

    together = targets(StyleSpec([a, b], [1, 3], rotation=turn))
    one_by_one = targets(StyleSpec([a, b], [1, 3]).with_rotation(turn, 0).with_rotation(turn, 1))
    torch.testing.assert_close(one_by_one, together, rtol=1e-5, atol=1e-7)
    left, right = halves(48, 48)
    plain = targets(StyleSpec([a, b], masks=[left, right]))
    second_turned = targets(StyleSpec([a, b], masks=[left, right]).with_rotation(turn, 1))
    torch.testing.assert_close(second_turned[0], plain[0])  # the first region's style is untouched
    assert not torch.allclose(second_turned[1], plain[1], rtol=1e-2)
