"""The pack as a ComfyUI V3 extension (what `comfy_entrypoint` returns)."""

from __future__ import annotations

from comfy_api.latest import ComfyExtension, io

from . import node_classes
from ._comfy import register_model_folders


class NSTExtension(ComfyExtension):
    """Registers the `vgg` and `nst_fast` model folders, then hands ComfyUI the node classes."""

    async def on_load(self) -> None:
        # Newer ComfyUI calls this; 0.3.75 does not, so comfy_entrypoint registers too.
        register_model_folders()

    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return node_classes()


def create_extension() -> NSTExtension:
    register_model_folders()
    return NSTExtension()
