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

from .core.devices import DEVICE_CHOICES
from .core.errors import InputError, NSTError, StopRequested
from .core.optimize import COLOR_CHOICES, DEFAULT_CONTENT_LAYERS, DEFAULT_STYLE_LAYERS, OPTIMIZERS, StylizeSettings
from .core.style import MIX_MODES
from .core.vgg import POOLING_CHOICES

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def _float_list(text: str, what: str) -> list[float]:
    try:
        return [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise InputError(f"{what}: {text!r} is not a comma-separated list of numbers, e.g. 0.25,0.75") from None


def _add_weights_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--weights", metavar="PATH", help="VGG19 weights (.pth or .safetensors); default: see `nst weights`")
    parser.add_argument("--offline", action="store_true", help="never download the weights; fail with where to put them")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nst", description="Neural style transfer with VGG19 (Gatys et al.).")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("stylize", help="paint a content image in the style of one or more style images")
    run.add_argument("--content", required=True, metavar="IMAGE", help="the picture to repaint")
    run.add_argument("--style", required=True, action="append", metavar="IMAGE", help="a style image; repeat to mix")
    run.add_argument("--style-weights", metavar="W,...", help="mixing weights, one per --style (normalised to sum 1)")
    run.add_argument("--mix", choices=MIX_MODES, default="gram", help="blend Gram matrices or feature maps (default gram)")
    run.add_argument("--out", required=True, metavar="OUT.png", help="where to write the result")
    size = run.add_mutually_exclusive_group()
    size.add_argument("--size", type=int, default=512, help="longest side of the result in px (default 512)")
    size.add_argument("--exact", metavar="WxH", help="exact result size, e.g. 256x256 (ignores the aspect ratio)")
    run.add_argument("--style-scale", type=float, default=1.0, help="style image size relative to the result (default 1)")
    run.add_argument("--steps", type=int, default=300, help="optimisation steps (default 300)")
    run.add_argument("--optimizer", choices=OPTIMIZERS, default="lbfgs", help="default lbfgs")
    run.add_argument("--lr", type=float, help="learning rate (default 1.0 for lbfgs, 0.02 for adam)")
    run.add_argument("--content-weight", type=float, default=1.0, help="default 1")
    run.add_argument("--style-weight", type=float, default=1e6, help="default 1e6")
    run.add_argument("--tv-weight", type=float, default=0.0, help="total-variation smoothing (default 0)")
    run.add_argument("--content-layers", default=",".join(DEFAULT_CONTENT_LAYERS), metavar="L,...")
    run.add_argument("--style-layers", default=",".join(DEFAULT_STYLE_LAYERS), metavar="L,...")
    run.add_argument("--style-layer-weights", metavar="W,...", help="one per style layer (default 1 each)")
    run.add_argument("--init", default="content", metavar="content|noise|style|PATH", help="starting image")
    run.add_argument("--seed", type=int, default=0, help="seed for noise init (same seed, same device: same output)")
    run.add_argument("--device", choices=DEVICE_CHOICES, default="auto", help="default auto: cuda, then mps, then cpu")
    run.add_argument("--pooling", choices=POOLING_CHOICES, default="max", help="VGG pooling (default max)")
    run.add_argument("--preserve-color", choices=COLOR_CHOICES, default="none", help="keep the content's colours")
    run.add_argument("--metrics", metavar="OUT.json", help="write run metrics (losses, timings, settings) as JSON")
    run.add_argument("--overwrite", action="store_true", help="replace --out/--metrics if they exist")
    _add_weights_args(run)

    weights = commands.add_parser("weights", help="show where VGG19 weights are looked for, or download them")
    weights.add_argument("--download", action="store_true", help="download torchvision's VGG19 if none is found")
    _add_weights_args(weights)
    return parser


def _byte_progress(total: int | None):
    from tqdm import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc="VGG19 weights", disable=None)


def _load_model(args: argparse.Namespace, pooling: str = "max"):
    from .core.vgg import VGGModel
    from .core.weights import load_vgg19_features, locate_weights

    path = locate_weights(args.weights, offline=args.offline, progress=_byte_progress)
    return VGGModel(load_vgg19_features(path), str(path), pooling)


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
    )


def _refuse_existing(path: str | None, what: str, overwrite: bool) -> None:
    if path and Path(path).exists() and not overwrite:
        raise InputError(f"{what}: {path} already exists; pass --overwrite to replace it or choose another name")


def cmd_stylize(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .core.devices import resolve_device
    from .core.files import write_atomic
    from .core.images import load_image, save_image
    from .core.optimize import stylize
    from .core.style import StyleSpec

    _refuse_existing(args.out, "out", args.overwrite)
    _refuse_existing(args.metrics, "metrics", args.overwrite)
    settings = _settings_from_args(args)
    settings.validate()
    content = load_image(args.content, "content")
    styles = [load_image(path, f"style {i + 1} ({path})") for i, path in enumerate(args.style)]
    weights = _float_list(args.style_weights, "style weights") if args.style_weights else []
    spec = StyleSpec(images=styles, weights=weights, mode=args.mix, scale=args.style_scale)
    init_image = None if args.init in ("content", "noise", "style") else load_image(args.init, "init")
    device = resolve_device(args.device)
    model = _load_model(args, args.pooling)

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
    print(args.out)
    height, width = metrics.size
    print(
        f"{metrics.steps} steps in {metrics.seconds:.1f} s ({metrics.seconds_per_step:.3f} s/step) on {metrics.device}, "
        f"{width}x{height}, loss {metrics.history[0]['total']:.4g} -> {metrics.final['total']:.4g}"
    )
    return 0


def cmd_weights(args: argparse.Namespace) -> int:
    from .core.weights import WEIGHTS_FILE, candidates, locate_weights

    found = None
    for candidate in candidates(args.weights):
        state = "found" if candidate.exists else "missing"
        print(f"{candidate.source:>18}: {candidate.path} [{state}]")
        if candidate.exists and found is None:
            found = candidate.path
    if args.download and found is None:
        found = locate_weights(args.weights, offline=args.offline, progress=_byte_progress)
    if found is None:
        print(f"no weights found; run `nst weights --download` or put {WEIGHTS_FILE} at one of the places above")
        return 1
    print(f"using {found}")
    return 0


COMMANDS = {"stylize": cmd_stylize, "weights": cmd_weights}


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
