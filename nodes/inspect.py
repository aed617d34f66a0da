"""Visualize VGG Features (NST): what one VGG layer sees in an image, and its Gram matrix."""

from __future__ import annotations

import torch
from comfy_api.latest import io

from ..core.checks import check_int
from ..core.errors import inputs_named
from ..core.vgg import LAYER_NAMES, VGGModel
from ..core.visualize import inspect_layers
from . import _comfy
from ._convert import image_to_list, pil_to_image
from ._types import CATEGORY, expect, input_names, vgg_input

MAX_CHANNELS = 64


class VisualizeFeatures(io.ComfyNode):
    """Feature-map grid and Gram heat map of one layer, drawn by core.visualize."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="NST_VisualizeFeatures",
            display_name="Visualize VGG Features (NST)",
            category=CATEGORY,
            description=(
                "Shows what a VGG layer sees in an image: its most active channels as a grid of grey maps "
                "(strongest first, each scaled to its own range) and the layer's Gram matrix, the statistic "
                "that defines style, as a heat map with its colour scale."
            ),
            inputs=[
                vgg_input(),
                io.Image.Input("image", tooltip="The picture to look at; each image of a batch gets its own grid."),
                io.Combo.Input(
                    "layer",
                    options=list(LAYER_NAMES),
                    default="relu3_1",
                    tooltip="The VGG layer (VGG16 stops at conv5_3): early layers (relu1_1) see edges and colours, deep ones (relu5_1) parts of objects.",
                ),
                io.Int.Input(
                    "channels",
                    default=16,
                    min=1,
                    max=MAX_CHANNELS,
                    tooltip="How many channels to show, the most active (highest mean activation) first.",
                ),
            ],
            outputs=[
                io.Image.Output(display_name="features", tooltip="The channels as a labelled grid, one per input image."),
                io.Image.Output(display_name="gram", tooltip="The layer's Gram matrix as a heat map, one per input image."),
            ],
        )

    @classmethod
    def execute(cls, vgg: VGGModel, image: torch.Tensor, layer: str, channels: int) -> io.NodeOutput:
        expect(vgg, VGGModel, "vgg")
        device = _comfy.torch_device()
        with inputs_named(input_names({"layers": "layer"})):
            check_int(channels, "channels", 1, MAX_CHANNELS)
            extractor = vgg.extractor([layer], device)
        grids, grams = [], []
        for index, picture in enumerate(image_to_list(image, "image")):
            _comfy.stop_if_interrupted()
            with torch.no_grad():
                features = {k: v.cpu() for k, v in extractor(picture.to(device)).items()}
            label = f"image {index + 1}" if image.shape[0] > 1 else ""
            grid, heat = inspect_layers(features, [layer], int(channels), label=label)[layer]
            grids.append(pil_to_image(grid))
            grams.append(pil_to_image(heat))
        del extractor
        _comfy.release_memory()
        out = _comfy.output_device()
        return io.NodeOutput(torch.cat(grids).to(out), torch.cat(grams).to(out))


NODES: list[type[io.ComfyNode]] = [VisualizeFeatures]
