"""VGG16 and VGG19 (core/vgg.py): torchvision's layout, how far a layer sees, each architecture's own layer names."""

from __future__ import annotations

import pytest
import torch

from nst_nodes.core.errors import InputError
from nst_nodes.core.random_vgg import random_vgg_state_dict
from nst_nodes.core.style import StyleSpec
from nst_nodes.core.transfer import stylize
from nst_nodes.core.vgg import VGG16, VGG19, VGGModel

from helpers import settings


def test_layout_matches_torchvision():
    import torchvision

    reference = torchvision.models.vgg19(weights=None).features.state_dict()
    ours = VGG19.build_features().state_dict()
    assert list(reference) == list(ours) == list(VGG19.expected_shapes())
    assert all(tuple(reference[k].shape) == VGG19.expected_shapes()[k] for k in reference)


@pytest.mark.parametrize("architecture", [VGG19, VGG16])
def test_reach_is_where_a_deep_position_stops_seeing_pixels(architecture):
    """The halo rule against autograd: the pixels one feature position has a gradient from."""
    features = architecture.build_features()
    features.load_state_dict({k.removeprefix("features."): v for k, v in random_vgg_state_dict(0, architecture).items()})
    model = VGGModel(features)
    for layer in ("relu1_1", "relu3_1", "relu4_2", "relu5_1"):
        image = torch.rand(1, 3, 288, 288, requires_grad=True)
        stride = architecture.stride(layer)
        position = 144 // stride
        model.extractor([layer])(image)[layer][0, :, position, position].sum().backward()
        rows = torch.nonzero(image.grad[0].abs().sum((0, 2))).flatten()
        block = (position * stride, (position + 1) * stride - 1)
        assert (block[0] - int(rows.min()), int(rows.max()) - block[1]) == (architecture.reach(layer),) * 2, layer


def test_vgg16_layer_names_are_its_own(real_vgg16, pair):
    content, style = pair
    with pytest.raises(InputError, match=r"style layers: unknown layer\(s\) relu5_4; VGG16 has conv1_1..conv5_3"):
        stylize(real_vgg16, content, StyleSpec([style]), *settings(size=64, steps=1, style_layers=("relu1_1", "relu5_4")))
    with pytest.raises(InputError, match=r"relu3_4"):
        real_vgg16.extractor(["relu3_4"])


@pytest.mark.parametrize("padding", ["replicate", "reflect"])
def test_edge_padding_changes_only_what_sees_past_the_border(vgg_path, padding):
    from nst_nodes.core.weights import load_model

    zeros, edged = load_model(vgg_path), load_model(vgg_path, padding=padding)
    image = torch.rand(1, 3, 24, 24, generator=torch.Generator().manual_seed(0))
    plain, own = zeros.extractor(["relu1_1", "relu2_1"])(image), edged.extractor(["relu1_1", "relu2_1"])(image)
    difference = (plain["relu1_1"] - own["relu1_1"]).abs().amax((0, 1))
    assert float(difference[1:-1, 1:-1].max()) == 0.0  # conv1_1's interior reads no padding
    assert float(difference[0].min()) > 0 and float(difference[:, -1].min()) > 0
    # Deeper layers still pad their features with zeros: the two agree wherever conv1_1 agreed.
    assert not torch.equal(plain["relu2_1"], own["relu2_1"]) and edged.describe()["padding"] == padding
    assert zeros.features[0].padding_mode == "zeros"  # the loaded trunk is not changed
    with pytest.raises(InputError, match=r"^padding: 'circular' is not one of zeros, replicate, reflect"):
        load_model(vgg_path, padding="circular")
