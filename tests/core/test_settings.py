"""Settings (core/settings.py) are checked when made, a replace() included, and each refusal names its field."""

from __future__ import annotations

import dataclasses

import pytest

from nst_nodes.core.errors import InputError
from nst_nodes.core.settings import LossSettings, RunSettings, SearchSettings

from helpers import FAST, settings


@pytest.mark.parametrize(
    "make",
    [
        lambda: dataclasses.replace(RunSettings(), steps=0),
        lambda: dataclasses.replace(LossSettings(), style_layers=("relu9_9",)),
        lambda: dataclasses.replace(SearchSettings(), angle_range=(90.0, 10.0)),
    ],
)
def test_a_replaced_setting_is_checked_too(make):
    """Nodes and the CLI patch settings with replace(); a bad value cannot slip in that way."""
    with pytest.raises(InputError):
        make()


def test_settings_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        RunSettings().steps = 0  # type: ignore[misc]


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(steps=0), "steps"),
        (dict(lr=-1.0), "lr"),
        (dict(lr=float("nan")), "lr"),
        (dict(size=8), "size"),
        (dict(content_layers=("relu9_9",)), "unknown layer"),
        (dict(style_layer_weights=(1.0,)), "one per layer"),
        (dict(optimizer="sgd"), "optimizer"),
        (dict(content_weight=0, style_weight=0), "both are 0"),
    ],
)
def test_settings_refused_with_named_input(change, message):
    with pytest.raises(InputError, match=message):
        settings(**{**FAST, **change})


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(rotations=0), "rotations"),
        (dict(angle_range=(10.0, 5.0)), "angle range"),
        (dict(angle_range=(-400.0, 0.0)), "angle range"),
        (dict(angle_range=(0.0, 361.0)), "angle range"),
        (dict(popsize=3), "popsize"),
        (dict(proxy_size=31), "proxy size"),
        (dict(proxy_steps=0), "proxy steps"),
        (dict(generations=0), "generations"),
        (dict(objective="best"), "objective"),
        (dict(top_k=0), "top k"),
        (dict(min_separation=200.0), "min separation"),
        (dict(epsilon=-0.1), "epsilon"),
        (dict(rotation_weight=2.0), "rotation weight"),
    ],
)
def test_bad_settings_refused_with_named_setting(change, message):
    with pytest.raises(InputError, match=message):
        SearchSettings(**change)


def test_tile_setting_is_checked():
    with pytest.raises(InputError, match="tile: 32 px is smaller than 64 px"):
        settings(tile=32)
