"""Load VGG19 (NST): weights from ComfyUI's `models/vgg` folder, or torchvision's file downloaded there."""

from __future__ import annotations

import logging
import os

from comfy_api.latest import io

from ..core.vgg import POOLING_CHOICES, VGGModel
from ..core.weights import WEIGHTS_FILE, download_weights, load_vgg19_features
from . import _comfy
from ._types import CATEGORY, VGG

log = logging.getLogger(__name__)

# Offered after the files found on disk. If torchvision's file is already in a
# vgg folder it is used as is; otherwise it is downloaded once, checked
# against torchvision's SHA-256 prefix, and only then renamed into place.
DOWNLOAD_CHOICE = f"{WEIGHTS_FILE} (download if missing, 548 MB)"


def resolve_weights(choice: str) -> str:
    """The weight file a `weights` choice means, downloading torchvision's if asked and missing."""
    if choice == DOWNLOAD_CHOICE:
        existing = _comfy.vgg_path(WEIGHTS_FILE)
        if existing is not None:
            return existing
        target = _comfy.vgg_download_target()
        log.info("downloading torchvision's VGG19 weights to %s", target)
        return str(download_weights(target, progress=_comfy.ByteProgress))
    path = _comfy.vgg_path(choice)
    if path is None:
        raise ValueError(
            f"weights: {choice!r} is not in any models/vgg folder (any more); put the file there "
            f"or choose {DOWNLOAD_CHOICE!r}"
        )
    return path


class LoadVGG19(io.ComfyNode):
    """VGG19's convolutional trunk, loaded safely (tensors only) and checked layer by layer."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="NST_LoadVGG19",
            display_name="Load VGG19 (NST)",
            category=CATEGORY,
            description=(
                "Loads the ImageNet VGG19 network whose feature maps define content and style. Weights come "
                "from ComfyUI's models/vgg folder (and any vgg paths in extra_model_paths.yaml); the download "
                "choice fetches torchvision's vgg19-dcbb9e9d.pth there once, with a checksum check."
            ),
            inputs=[
                io.Combo.Input(
                    "weights",
                    options=[*_comfy.vgg_files(), DOWNLOAD_CHOICE],
                    default=DOWNLOAD_CHOICE,
                    tooltip=(
                        "A VGG19 state dict (.pth or .safetensors) in models/vgg, or torchvision's file, "
                        "downloaded into models/vgg if it is not there yet. Files holding anything but "
                        "tensors are refused, never executed."
                    ),
                ),
                io.Combo.Input(
                    "pooling",
                    options=list(POOLING_CHOICES),
                    default="max",
                    tooltip="max: as VGG19 was trained. avg: average pooling, which Gatys et al. found gives smoother textures.",
                ),
            ],
            outputs=[VGG.Output(display_name="vgg", tooltip="The loaded VGG19 (kept on the CPU; runs move a copy to ComfyUI's device).")],
        )

    @classmethod
    def fingerprint_inputs(cls, weights: str, pooling: str) -> str:
        """Reload when the chosen file is replaced on disk, not only when the choice changes."""
        path = _comfy.vgg_path(WEIGHTS_FILE if weights == DOWNLOAD_CHOICE else weights)
        if path is None:
            return f"{weights}|{pooling}|missing"
        stat = os.stat(path)
        return f"{path}|{stat.st_size}|{stat.st_mtime_ns}|{pooling}"

    @classmethod
    def execute(cls, weights: str, pooling: str) -> io.NodeOutput:
        if pooling not in POOLING_CHOICES:
            raise ValueError(f"pooling: {pooling!r} is not one of {', '.join(POOLING_CHOICES)}")
        path = resolve_weights(weights)
        return io.NodeOutput(VGGModel(load_vgg19_features(path), str(path), pooling))


NODES: list[type[io.ComfyNode]] = [LoadVGG19]
