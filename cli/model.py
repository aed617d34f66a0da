"""The VGG a command runs: located (or fetched, with a progress bar) and loaded from the weights options."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ..core.vgg import VGGModel

if TYPE_CHECKING:
    from tqdm import tqdm

    from ..core.fast_nets import FastModel


def byte_progress(total: int | None, desc: str = "VGG weights") -> "tqdm":
    """A tqdm bar in bytes for a download (silent when stderr is no terminal)."""
    from tqdm import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=desc, disable=None)


def load_model_from_args(args: argparse.Namespace) -> VGGModel:
    """The model --weights/--model/--convention/--offline name, loaded with --pooling and --padding."""
    from ..core.weights import load_model, locate_weights

    path = locate_weights(args.weights, offline=args.offline, progress=byte_progress, model=args.model)
    return load_model(path, args.pooling, args.convention, args.padding)


def load_fast_model_from_args(args: argparse.Namespace) -> "FastModel":
    """The fast mode's networks --fast-weights/--offline name (fetched and converted once if missing)."""
    from ..core.fast_weights import load_fast_model, locate_fast_model

    path = locate_fast_model(args.fast_weights, offline=args.offline, progress=lambda total: byte_progress(total, "fast networks"))
    return load_fast_model(path)
