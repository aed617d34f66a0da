"""The ComfyUI nodes of the pack: one node family per module, each listing its classes in NODES.

Nothing here imports ComfyUI; `node_classes()` imports the node modules
(which do) only when ComfyUI asks for them through `comfy_entrypoint`.
"""

from __future__ import annotations

import importlib
from typing import Any

NODE_MODULES = ("samples", "vgg", "style", "rotation", "loss", "optimize", "fast", "video", "search", "inspect")


def node_classes() -> list[Any]:
    """Every node class of the pack, in menu order."""
    classes: list[Any] = []
    for name in NODE_MODULES:
        classes.extend(importlib.import_module(f".{name}", __name__).NODES)
    return classes
