"""`nst inspect`: what VGG's layers see in an image, as PNG files."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

from .model import load_model_from_args
from .options import add_device_args, add_weights_args
from .outputs import refuse_existing_outputs


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("inspect", help="write feature-map grids and Gram heat maps of VGG layers")
    parser.add_argument("--image", required=True, metavar="IMAGE", help="the image to look at")
    parser.add_argument("--layers", default="relu1_1,relu2_1,relu3_1,relu4_1,relu5_1", metavar="L,...")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for LAYER_features.png and LAYER_gram.png")
    parser.add_argument("--channels", type=int, default=16, help="channels shown per layer (default 16)")
    parser.add_argument("--size", type=int, default=256, help="longest side the image is resized to (default 256)")
    add_device_args(parser)
    parser.add_argument("--overwrite", action="store_true", help="replace existing files in --out")
    add_weights_args(parser)


def run(args: argparse.Namespace) -> int:
    import torch

    from ..core.checks import check_int
    from ..core.devices import resolve_device
    from ..core.files import write_atomic
    from ..core.geometry import check_side, fit_size, resize
    from ..core.images import load_image
    from ..core.vgg import parse_layers
    from ..core.visualize import inspect_layers

    layers = parse_layers(args.layers, "layers")  # checked before any file is read, again once the model is known
    check_int(args.channels, "channels", 1)
    check_side(args.size, "size")
    out = Path(args.out)
    refuse_existing_outputs([("out", out / f"{layer}_{kind}.png") for layer in layers for kind in ("features", "gram")], args.overwrite)
    image = load_image(args.image, "image")
    image = resize(image, fit_size(image.shape[-2], image.shape[-1], args.size))
    device = resolve_device(args.device)
    model = load_model_from_args(args)
    extractor = model.extractor(layers, device)
    with torch.no_grad():
        features = {k: v.cpu() for k, v in extractor(image.to(device)).items()}
    pictures = inspect_layers(features, layers, args.channels, label=Path(args.image).name)
    for layer, (grid, heat) in pictures.items():
        for kind, picture in (("features", grid), ("gram", heat)):
            buffer = io.BytesIO()
            picture.save(buffer, format="PNG")
            print(write_atomic(out / f"{layer}_{kind}.png", buffer.getvalue(), overwrite=args.overwrite))
    return 0
