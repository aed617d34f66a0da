"""The pack's own socket types and menu category, declared once and shared by every node.

NST_VGG carries a `core.vgg.VGGModel` (weights on the CPU plus the pooling
choice), NST_STYLE a `core.style.StyleSpec` (a recipe: images, mix weights,
rotations), NST_LOSS a `core.optimize.StylizeSettings` whose loss fields are
set (layers, layer weights, content/style/TV weights). The names are part of
saved workflows and must never change.
"""

from __future__ import annotations

from comfy_api.latest import io

CATEGORY = "NST (style transfer)"

VGG = io.Custom("NST_VGG")
STYLE = io.Custom("NST_STYLE")
LOSS = io.Custom("NST_LOSS")
