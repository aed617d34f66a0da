"""Visualize VGG Features / Layers (NST): what VGG layers see in an image, and their Gram matrices."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from comfy_api.latest import io

from ..core.checks import check_int
from ..core.errors import inputs_named
from ..core.vgg import LAYER_NAMES, VGGModel, parse_layers
from ..core.visualize import inspect_layers, layer_sheet
from . import _comfy
from ._convert import image_to_list, pil_to_image
from ._types import expect, input_names, node_schema, vgg_input

MAX_CHANNELS = 64
SHEET_LAYERS = "relu1_1, relu2_1, relu3_1, relu4_1, relu5_1"
MAX_SHEET_CHANNELS = 16


def features_per_image(vgg: VGGModel, image: torch.Tensor, layers: list[str]) -> Iterator[tuple[str, dict[str, torch.Tensor]]]:
    """("image N" in a batch, else "", the layers' features on the CPU) for each image, on ComfyUI's device."""
    expect(vgg, VGGModel, "vgg")
    device = _comfy.torch_device()
    extractor = vgg.extractor(layers, device)
    try:
        for index, picture in enumerate(image_to_list(image, "image")):
            _comfy.stop_if_interrupted()
            with torch.no_grad():
                features = {k: v.cpu() for k, v in extractor(picture.to(device)).items()}
            yield (f"image {index + 1}" if image.shape[0] > 1 else ""), features
    finally:
        del extractor
        _comfy.release_memory()


class VisualizeFeatures(io.ComfyNode):
    """Feature-map grid and Gram heat map of one layer, drawn by core.visualize."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return node_schema(
            node_id="NST_VisualizeFeatures",
            display_name="Visualize VGG Features (NST)",
            search_aliases=["feature maps", "visualize layers", "gram matrix", "what vgg sees"],
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
        with inputs_named(input_names({"layers": "layer"})):
            check_int(channels, "channels", 1, MAX_CHANNELS)
            pictures = [inspect_layers(features, [layer], int(channels), label=label)[layer]
                        for label, features in features_per_image(vgg, image, [layer])]  # fmt: skip
        out = _comfy.output_device()
        grids, grams = (torch.cat([pil_to_image(p[i]) for p in pictures]).to(out) for i in (0, 1))
        return io.NodeOutput(grids, grams)


class VisualizeLayers(io.ComfyNode):
    """Several layers on one sheet (core.visualize.layer_sheet): a row per layer, channels then Gram."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return node_schema(
            node_id="NST_VisualizeLayers",
            display_name="Visualize VGG Layers (NST)",
            search_aliases=["feature maps", "visualize layers", "layer sheet", "gram matrix", "what vgg sees"],
            description=(
                "Shows what several VGG layers see in an image on one sheet: a row per layer with its most active "
                "channels (strongest first, each scaled to its own range) and, at the end, its Gram matrix as a heat "
                "map. Early layers see edges and colours, deep ones parts of objects."
            ),
            inputs=[
                vgg_input(),
                io.Image.Input("image", tooltip="The picture to look at; each image of a batch gets its own sheet."),
                io.String.Input(
                    "layers",
                    default=SHEET_LAYERS,
                    tooltip="VGG layers, comma-separated, one row each (VGG16 stops at conv5_3).",
                ),
                io.Int.Input(
                    "channels",
                    default=8,
                    min=1,
                    max=MAX_SHEET_CHANNELS,
                    tooltip="How many channels per layer, the most active (highest mean activation) first.",
                ),
            ],
            outputs=[io.Image.Output(display_name="sheet", tooltip="One sheet per input image.")],
        )

    @classmethod
    def execute(cls, vgg: VGGModel, image: torch.Tensor, layers: str, channels: int) -> io.NodeOutput:
        with inputs_named(input_names()):
            check_int(channels, "channels", 1, MAX_SHEET_CHANNELS)
            names = parse_layers(layers, "layers")
            sheets = [pil_to_image(layer_sheet(features, names, int(channels), title=label))
                      for label, features in features_per_image(vgg, image, names)]  # fmt: skip
        return io.NodeOutput(torch.cat(sheets).to(_comfy.output_device()))


NODES: list[type[io.ComfyNode]] = [VisualizeFeatures, VisualizeLayers]
