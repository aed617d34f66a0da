"""The pack's own socket types and menu category, declared once and shared by every node.

NST_VGG carries a `core.vgg.VGGModel` (weights on the CPU plus the pooling
choice), NST_STYLE a `core.style.StyleSpec` (a recipe: images, mix weights,
rotations), NST_LOSS a `core.settings.LossSettings` (layers, layer weights,
content/style/TV weights). The names are part of saved workflows and must
never change. Sockets only connect matching types, but a prompt sent over
the API can put anything in them, so the nodes check what arrives (`expect`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from comfy_api.latest import io

from ..core.errors import FieldNamer, InputError
from ..core.settings import LossSettings
from ..core.style import StyleSpec
from ..core.vgg import VGGModel

CATEGORY = "NST (style transfer)"

VGG = io.Custom("NST_VGG")
STYLE = io.Custom("NST_STYLE")
LOSS = io.Custom("NST_LOSS")

# What to connect to a socket that received something else.
_SOURCES = {
    VGGModel: "connect the output of Load VGG (NST)",
    StyleSpec: "connect an NST_STYLE output (Style Mix, Style Rotate or Rotation DE Search)",
    LossSettings: "connect the output of Content/Style Loss (NST) or leave it empty",
}


def expect(value: Any, kind: type, name: str, optional: bool = False) -> Any:
    """`value` if it is a `kind` (or None for an optional socket), else an error naming the input."""
    if (value is None and optional) or isinstance(value, kind):
        return value
    raise InputError(f"{name}: {_SOURCES[kind]}")


def vgg_input() -> io.Input:
    """The `vgg` socket, as every node that runs VGG declares it."""
    return VGG.Input("vgg", tooltip="The network from Load VGG (NST).")


def input_names(renames: Mapping[str, str] | None = None) -> FieldNamer:
    """Engine field -> node input: the same name unless `renames` says otherwise."""
    table = dict(renames or {})
    return lambda field, index: table.get(field, field)
