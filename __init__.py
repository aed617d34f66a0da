"""nst-nodes: neural style transfer for ComfyUI and the command line.

This folder is both the ComfyUI custom-node pack and the Python package
`nst_nodes`. Importing it does no work and needs no ComfyUI: the nodes are
imported only when ComfyUI calls `comfy_entrypoint`.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


async def comfy_entrypoint() -> Any:
    """ComfyUI's V3 entry point: the pack's ComfyExtension (nodes imported here, lazily)."""
    from .nodes.extension import create_extension

    return create_extension()
