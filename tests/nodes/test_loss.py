"""Content/Style Loss (nodes/loss.py): the loss settings it builds, bad values named by their input."""

from __future__ import annotations

import pytest

from nst_nodes.core.errors import InputError

from helpers import loss_config


def test_loss_config_builds_settings(comfy):
    settings = loss_config(comfy, style_layer_weights="1, 0.5", tv_weight=2.0)
    assert settings.content_layers == ("relu4_2",) and settings.style_layers == ("relu1_1", "relu2_1")
    assert settings.style_layer_weights == (1.0, 0.5) and settings.tv_weight == 2.0
    assert settings.style_loss == "gram" and settings.content_loss == "mse"  # a prompt saved before the inputs existed


def test_loss_config_passes_the_style_loss(comfy):
    assert loss_config(comfy, style_loss="sliced").style_loss == "sliced"


def test_loss_config_passes_the_content_loss(comfy):
    assert loss_config(comfy, content_loss="self-similarity").content_loss == "self-similarity"


@pytest.mark.parametrize(
    "inputs, message",
    [
        ({"style_layers": "relu1_1, relu6_1"}, r"^style_layers: unknown layer\(s\) relu6_1"),
        ({"content_layers": " "}, r"^content_layers: no layer given"),
        ({"style_layer_weights": "1"}, r"^style_layer_weights: 1 given for 2 style layers"),
        ({"style_layer_weights": "1, x"}, r"^style_layer_weights: 'x' is not a number"),
        ({"content_weight": 0.0, "style_weight": 0.0}, r"^content_weight, style_weight: both are 0"),
        ({"style_loss": "mse"}, r"^style_loss: 'mse' is not one of gram, w2, sliced"),
        ({"content_loss": "gram"}, r"^content_loss: 'gram' is not one of mse, self-similarity"),
    ],
)
def test_loss_config_refuses_bad_values_by_input_name(comfy, inputs, message):
    with pytest.raises(InputError, match=message):
        loss_config(comfy, **inputs)
