"""`nst inspect`: what VGG's layers see in an image, as PNG files."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

from .weights_cli import add_weights_args, load_model_from_args


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("inspect", help="write feature-map grids and Gram heat maps of VGG layers")
    parser.add_argument("--image", required=True, metavar="IMAGE", help="the image to look at")
    parser.add_argument("--layers", default="relu1_1,relu2_1,relu3_1,relu4_1,relu5_1", metavar="L,...")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for LAYER_features.png and LAYER_gram.png")
    parser.add_argument("--channels", type=int, default=16, help="channels shown per layer (default 16)")
    parser.add_argument("--size", type=int, default=256, help="longest side the image is resized to (default 256)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    parser.add_argument("--pooling", choices=("max", "avg"), default="max")
    parser.add_argument("--overwrite", action="store_true", help="replace existing files in --out")
    add_weights_args(parser)


def run(args: argparse.Namespace) -> int:
    import torch

    from .core.devices import resolve_device
    from .core.errors import InputError
    from .core.files import write_atomic
    from .core.images import check_side, fit_size, load_image, resize
    from .core.vgg import parse_layers
    from .core.visualize import inspect_layers

    layers = parse_layers(args.layers, "layers")  # checked before any file is read, again once the model is known
    if args.channels < 1:
        raise InputError(f"channels: {args.channels} must be at least 1")
    check_side(args.size, "size")
    out = Path(args.out)
    targets = [out / f"{layer}_{kind}.png" for layer in layers for kind in ("features", "gram")]
    existing = [str(p) for p in targets if p.exists()]
    if existing and not args.overwrite:
        raise InputError(f"out: {existing[0]} already exists; pass --overwrite to replace it or choose another folder")
    image = load_image(args.image, "image")
    image = resize(image, fit_size(image.shape[-2], image.shape[-1], args.size))
    device = resolve_device(args.device)
    model = load_model_from_args(args, args.pooling)
    model.architecture.parse_layers(layers, "layers")
    extractor = model.extractor(layers, device)
    with torch.no_grad():
        features = {k: v.cpu() for k, v in extractor(image.to(device)).items()}
    pictures = inspect_layers(features, layers, args.channels, label=Path(args.image).name)
    for layer, (grid, heat) in pictures.items():
        for kind, picture in (("features", grid), ("gram", heat)):
            buffer = io.BytesIO()
            picture.save(buffer, format="PNG")
            path = write_atomic(out / f"{layer}_{kind}.png", buffer.getvalue(), overwrite=args.overwrite)
            print(path)
    return 0
