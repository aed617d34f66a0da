"""The `nst` command line: files in, files out, tqdm on a terminal.

All the work happens in `core`; this module parses arguments, reads and
writes files, shows progress and turns engine errors into one line on
stderr with a non-zero exit code.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from collections.abc import Sequence

from . import client
from . import inspect_cli
from .core.devices import DEVICE_CHOICES
from .core.errors import InputError, NSTError, StopRequested
from .core.optimize import COLOR_CHOICES, DEFAULT_CONTENT_LAYERS, DEFAULT_LR, DEFAULT_STYLE_LAYERS, OPTIMIZERS, StylizeSettings
from .core.precision import DTYPE_CHOICES
from .core.rotation import ROTATION_MODES
from .core.style import MIX_MODES
from .core.vgg import POOLING_CHOICES
from .weights_cli import add_weights_args, byte_progress, load_model_from_args
from .search_cli import add_search_arguments, refuse_existing_outputs, run_search, search_settings_from_args

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def _float_list(text: str, what: str) -> list[float]:
    try:
        return [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise InputError(f"{what}: {text!r} is not a comma-separated list of numbers, e.g. 0.25,0.75") from None


def _add_run_args(parser: argparse.ArgumentParser) -> None:
    """Inputs and loss settings that stylize and search-rotation share."""
    parser.add_argument("--content", required=True, metavar="IMAGE", help="the picture to repaint")
    parser.add_argument("--style", required=True, action="append", metavar="IMAGE", help="a style image; repeat to mix")
    parser.add_argument("--style-weights", metavar="W,...", help="mixing weights, one per --style (normalised to sum 1)")
    parser.add_argument("--mix", choices=MIX_MODES, default="gram", help="blend Gram matrices or feature maps (default gram)")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--size", type=int, default=512, help="longest side of the result in px (default 512)")
    size.add_argument("--exact", metavar="WxH", help="exact result size, e.g. 256x256 (ignores the aspect ratio)")
    parser.add_argument("--style-scale", type=float, default=1.0, help="style image size relative to the result (default 1)")
    parser.add_argument("--steps", type=int, default=300, help="optimisation steps (default 300)")
    parser.add_argument("--optimizer", choices=OPTIMIZERS, default=StylizeSettings.optimizer, help="default %(default)s")
    parser.add_argument(
        "--lr", type=float, help=f"learning rate (default {DEFAULT_LR['adam']} for adam, {DEFAULT_LR['lbfgs']} for lbfgs)"
    )
    parser.add_argument("--content-weight", type=float, default=StylizeSettings.content_weight, help="default %(default)g")
    parser.add_argument("--style-weight", type=float, default=StylizeSettings.style_weight, help="default %(default)g")
    parser.add_argument("--tv-weight", type=float, default=0.0, help="total-variation smoothing (default 0)")
    parser.add_argument("--content-layers", default=",".join(DEFAULT_CONTENT_LAYERS), metavar="L,...")
    parser.add_argument("--style-layers", default=",".join(DEFAULT_STYLE_LAYERS), metavar="L,...")
    parser.add_argument("--style-layer-weights", metavar="W,...", help="one per style layer (default 1 each)")
    parser.add_argument("--init", default="content", metavar="content|noise|style|PATH", help="starting image")
    parser.add_argument("--seed", type=int, default=0, help="seed for noise init and the search (same seed, same device: same output)")
    parser.add_argument("--device", choices=DEVICE_CHOICES, default="auto", help="default auto: cuda, then mps, then cpu")
    parser.add_argument("--pooling", choices=POOLING_CHOICES, default="max", help="VGG pooling (default max)")
    parser.add_argument("--preserve-color", choices=COLOR_CHOICES, default="none", help="keep the content's colours")
    parser.add_argument(
        "--dtype", choices=DTYPE_CHOICES, default="auto", help="VGG's arithmetic (default auto: bf16 on CPUs and CUDA GPUs with native bf16, else fp32)"
    )
    parser.add_argument(
        "--scales", default="off", metavar="auto|off|PX,...", help="coarse-to-fine: auto, off or the coarser sizes, e.g. 128,256 (default off)"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace output files that exist")
    add_weights_args(parser)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nst", description="Neural style transfer with VGG16 or VGG19 (Gatys et al.).")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("stylize", help="paint a content image in the style of one or more style images")
    _add_run_args(run)
    run.add_argument("--out", required=True, metavar="OUT.png", help="where to write the result")
    run.add_argument("--metrics", metavar="OUT.json", help="write run metrics (losses, timings, settings) as JSON")
    run.add_argument("--plot", metavar="LOSS.png", help="write a chart of the content, style, TV and total loss per step")
    run.add_argument("--rotate", metavar="ANGLE[:W],...", help="fuse rotated styles, e.g. 60:0.5,150:0.5 (degrees, CCW)")
    run.add_argument("--rotation-weight", type=float, metavar="RHO", help="share of the rotated styles, 0..1 (default 1)")
    run.add_argument("--rotation-mode", choices=ROTATION_MODES, help="turn the style image, or DFR's feature operation as published (90/180/270)")

    search = commands.add_parser("search-rotation", help="search the style rotations that suit a content image (DE)")
    _add_run_args(search)
    add_search_arguments(search)

    weights = commands.add_parser("weights", help="show where VGG weights are looked for, or download them")
    weights.add_argument("--download", action="store_true", help="download the weights --model names if none are found")
    add_weights_args(weights)
    inspect_cli.add_parser(commands)
    client.add_parser(commands)
    return parser


def _settings_from_args(args: argparse.Namespace) -> StylizeSettings:
    from .core.images import parse_exact_size

    init = args.init if args.init in ("content", "noise", "style") else "content"
    return StylizeSettings(
        size=args.size,
        exact=parse_exact_size(args.exact) if args.exact else None,
        steps=args.steps,
        optimizer=args.optimizer,
        lr=args.lr,
        content_weight=args.content_weight,
        style_weight=args.style_weight,
        tv_weight=args.tv_weight,
        content_layers=tuple(args.content_layers.split(",")),
        style_layers=tuple(args.style_layers.split(",")),
        style_layer_weights=_float_list(args.style_layer_weights, "style layer weights")
        if args.style_layer_weights
        else None,
        init=init,
        seed=args.seed,
        preserve_color=args.preserve_color,
        dtype=args.dtype,
        scales=args.scales,
    )


def _refuse_existing(path: str | None, what: str, overwrite: bool) -> None:
    if path and Path(path).exists() and not overwrite:
        raise InputError(f"{what}: {path} already exists; pass --overwrite to replace it or choose another name")


def _load_inputs(args: argparse.Namespace):
    """The content, the style recipe (without rotation) and the init image (or None) the arguments name."""
    from .core.images import load_image
    from .core.style import StyleSpec

    content = load_image(args.content, "content")
    styles = [load_image(path, f"style {i + 1} ({path})") for i, path in enumerate(args.style)]
    weights = _float_list(args.style_weights, "style weights") if args.style_weights else []
    spec = StyleSpec(images=styles, weights=weights, mode=args.mix, scale=args.style_scale)
    init_image = None if args.init in ("content", "noise", "style") else load_image(args.init, "init")
    return content, spec, init_image


def _rotation_from_args(args: argparse.Namespace):
    """--rotate, --rotation-weight, --rotation-mode -> RotationSpec, or None without --rotate."""
    from .core.rotation import RotationSpec, parse_angle_weights

    if not args.rotate:
        for flag, value in (("--rotation-weight", args.rotation_weight), ("--rotation-mode", args.rotation_mode)):
            if value is not None:
                raise InputError(f"{flag}: has no effect without --rotate ANGLE[:WEIGHT],...; add --rotate or drop it")
        return None
    angles, weights = parse_angle_weights(args.rotate)
    rho = 1.0 if args.rotation_weight is None else args.rotation_weight
    return RotationSpec(angles=angles, weights=weights, rho=rho, mode=args.rotation_mode or "image")


def _write_plot(history: list[dict], path: str, overwrite: bool) -> None:
    import io

    from .core.files import write_atomic
    from .core.plot import plot_losses

    buffer = io.BytesIO()
    plot_losses(history, size=(768, 480)).save(buffer, format="PNG")
    write_atomic(path, buffer.getvalue(), overwrite=overwrite, what="plot")


def cmd_stylize(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .core.allocator import tune_allocator
    from .core.devices import resolve_device
    from .core.files import write_atomic
    from .core.images import save_image
    from .core.optimize import stylize

    _refuse_existing(args.out, "out", args.overwrite)
    _refuse_existing(args.metrics, "metrics", args.overwrite)
    _refuse_existing(args.plot, "plot", args.overwrite)
    settings = _settings_from_args(args)
    settings.validate()
    rotation = _rotation_from_args(args)
    content, spec, init_image = _load_inputs(args)
    spec = spec.with_rotation(rotation)
    device = resolve_device(args.device)
    tune_allocator()  # this process only runs the job: keep activations' pages mapped between steps
    model = load_model_from_args(args, args.pooling)

    bar = tqdm(total=settings.steps, desc="stylize", unit="step", disable=None, leave=False)

    def on_step(info) -> None:
        bar.update(1)
        if info.step % 10 == 0 or info.step == info.total:
            bar.set_postfix(loss=f"{info.losses.total:.4g}", refresh=False)

    try:
        result = stylize(model, content, spec, settings, device, init_image=init_image, on_step=on_step)
    finally:
        bar.close()
    save_image(result.image, args.out, overwrite=args.overwrite)
    metrics = result.metrics
    if args.metrics:
        write_atomic(args.metrics, (metrics.to_json() + "\n").encode(), overwrite=args.overwrite, what="metrics")
    if args.plot:
        _write_plot(metrics.history, args.plot, args.overwrite)
    print(args.out)
    height, width = metrics.size
    print(
        f"{metrics.steps} steps in {metrics.seconds:.1f} s ({metrics.seconds_per_step:.3f} s/step) on {metrics.device}, "
        f"{width}x{height}, loss {metrics.history[0]['total']:.4g} -> {metrics.final['total']:.4g}"
    )
    return 0


def cmd_search_rotation(args: argparse.Namespace) -> int:
    from .core.devices import resolve_device

    settings = _settings_from_args(args)
    settings.validate()
    search = search_settings_from_args(args)
    search.validate()
    refuse_existing_outputs(args, search)
    content, spec, init_image = _load_inputs(args)
    device = resolve_device(args.device)
    model = load_model_from_args(args, args.pooling)
    return run_search(args, model, content, spec, settings, search, device, init_image)


def cmd_weights(args: argparse.Namespace) -> int:
    from .core.weights import WEIGHTS_FILE, candidates, locate_weights, resolve_convention

    found = None
    for candidate in candidates(args.weights, args.model):
        state = "found" if candidate.exists else "missing"
        print(f"{candidate.source:>18}: {candidate.path} [{state}]")
        if candidate.exists and found is None:
            found = candidate.path
    if args.download and found is None:
        found = locate_weights(args.weights, offline=args.offline, progress=byte_progress, model=args.model)
    if found is None:
        print(f"no weights found; run `nst weights --download` or put {WEIGHTS_FILE} at one of the places above")
        return 1
    convention, reason = resolve_convention(found, args.convention)
    print(f"using {found} ({convention.name} input convention: {reason})")
    return 0


COMMANDS = {
    "stylize": cmd_stylize,
    "search-rotation": cmd_search_rotation,
    "weights": cmd_weights,
    "inspect": inspect_cli.run,
    "run-workflow": client.cmd_run_workflow,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `nst` command; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except (KeyboardInterrupt, StopRequested):
        print("nst: interrupted; no result was written", file=sys.stderr)
        return EXIT_INTERRUPTED
    except NSTError as exc:
        print(f"nst: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        return 1


if __name__ == "__main__":
    sys.exit(main())
