"""The pack as a ComfyUI V3 extension (what `comfy_entrypoint` returns)."""

from __future__ import annotations

from comfy_api.latest import ComfyExtension, io

from . import node_classes
from ._comfy import register_vgg_folder


class NSTExtension(ComfyExtension):
    """Registers the `vgg` model folder, then hands ComfyUI the node classes."""

    async def on_load(self) -> None:
        # Newer ComfyUI calls this; 0.3.75 does not, so comfy_entrypoint registers too.
        register_vgg_folder()

    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return node_classes()


def create_extension() -> NSTExtension:
    register_vgg_folder()
    return NSTExtension()
