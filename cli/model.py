"""The VGG a command runs: located (or fetched, with a progress bar) and loaded from the weights options."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ..core.vgg import VGGModel

if TYPE_CHECKING:
    from tqdm import tqdm


def byte_progress(total: int | None) -> "tqdm":
    """A tqdm bar in bytes for a download (silent when stderr is no terminal)."""
    from tqdm import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc="VGG weights", disable=None)


def load_model_from_args(args: argparse.Namespace) -> VGGModel:
    """The model --weights/--model/--convention/--offline name, loaded with --pooling."""
    from ..core.weights import load_model, locate_weights

    path = locate_weights(args.weights, offline=args.offline, progress=byte_progress, model=args.model)
    return load_model(path, args.pooling, args.convention)
