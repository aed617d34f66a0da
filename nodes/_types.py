"""The pack's own socket types and menu category, declared once and shared by every node.

NST_VGG carries a `core.vgg.VGGModel` (weights on the CPU plus the pooling
choice), NST_FAST a `core.fast_nets.FastModel` (the fast mode's pair),
NST_STYLE a `core.style.StyleSpec` (a recipe: images, mix weights,
rotations), NST_LOSS a `core.settings.LossSettings` (layers, layer weights,
content/style/TV weights). The names are part of saved workflows and must
never change. Sockets only connect matching types, but a prompt sent over
the API can put anything in them, so the nodes check what arrives (`expect`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from comfy_api.latest import io

from ..core.errors import FieldNamer, InputError
from ..core.fast_nets import FastModel
from ..core.settings import LossSettings
from ..core.style import StyleSpec
from ..core.vgg import VGGModel

CATEGORY = "NST (style transfer)"

# Words people type into the node search for any node of this pack.
SEARCH_WORDS = ("style transfer", "neural style", "nst", "gatys", "vgg")

VGG = io.Custom("NST_VGG")
FAST = io.Custom("NST_FAST")
STYLE = io.Custom("NST_STYLE")
LOSS = io.Custom("NST_LOSS")

# What to connect to a socket that received something else.
_SOURCES = {
    VGGModel: "connect the output of Load VGG (NST)",
    FastModel: "connect the output of Load Fast Model (NST)",
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


def node_schema(*, search_aliases: Sequence[str] = (), **fields: Any) -> io.Schema:
    """An `io.Schema` in CATEGORY whose node the search finds by SEARCH_WORDS and `search_aliases`.

    Newer ComfyUI schemas have a `search_aliases` field, which the frontend searches
    besides name and display name; 0.3.75's has none, so there the words are left
    out and the node still loads (its search then matches "NST" in every display name).
    """
    if "search_aliases" in {field.name for field in dataclasses.fields(io.Schema)}:
        fields["search_aliases"] = [*SEARCH_WORDS, *search_aliases]
    return io.Schema(category=CATEGORY, **fields)
