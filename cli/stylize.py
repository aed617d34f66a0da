"""`nst stylize`: one content image painted in the style of one or more style images."""

from __future__ import annotations

import argparse
import io

from ..core.errors import InputError
from ..core.rotation import ROTATION_MODES, RotationSpec
from .inputs import fast_settings_from_args, load_inputs, load_strength_map, loss_settings_from_args, run_settings_from_args
from .model import load_fast_model_from_args, load_model_from_args
from .options import add_fast_args, add_run_args
from .outputs import memory_plan_shown, refuse_existing_outputs, write_json


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("stylize", help="paint a content image in the style of one or more style images")
    add_run_args(parser)
    add_fast_args(parser)
    parser.add_argument("--out", required=True, metavar="OUT.png", help="where to write the result")
    parser.add_argument("--metrics", metavar="OUT.json", help="write run metrics (losses, timings, settings) as JSON")
    parser.add_argument("--plot", metavar="LOSS.png", help="write a chart of the content, style, TV and total loss per step")
    parser.add_argument("--rotate", metavar="ANGLE[:W],...", help="fuse rotated styles, e.g. 60:0.5,150:0.5 (degrees, CCW)")
    parser.add_argument("--rotation-weight", type=float, metavar="RHO", help="share of the rotated styles, 0..1 (default 1)")
    parser.add_argument("--rotation-mode", choices=ROTATION_MODES, help="turn the style image, or DFR's feature operation as published (90/180/270)")


def rotation_from_args(args: argparse.Namespace) -> RotationSpec | None:
    """--rotate, --rotation-weight, --rotation-mode -> RotationSpec, or None without --rotate."""
    from ..core.rotation import parse_angle_weights

    if not args.rotate:
        for flag, value in (("--rotation-weight", args.rotation_weight), ("--rotation-mode", args.rotation_mode)):
            if value is not None:
                raise InputError(f"{flag}: has no effect without --rotate ANGLE[:WEIGHT],...; add --rotate or drop it")
        return None
    angles, weights = parse_angle_weights(args.rotate)
    rho = 1.0 if args.rotation_weight is None else args.rotation_weight
    return RotationSpec(angles=angles, weights=weights, rho=rho, mode=args.rotation_mode or "image")


def _plot_png(history: list[dict]) -> bytes:
    from ..core.plot import plot_losses

    buffer = io.BytesIO()
    plot_losses(history, size=(768, 480)).save(buffer, format="PNG")
    return buffer.getvalue()


def _check_method(args: argparse.Namespace) -> None:
    """What one method was asked for that only the other has, refused before any work."""
    if args.method == "feedforward":
        for flag, given, why in (
            ("--init", args.init != "content", "the fast mode paints from the content in one pass"),
            ("--steps", args.steps is not None, "the fast mode takes no steps"),
            ("--plot", args.plot, "the fast mode has no losses to plot"),
        ):
            if given:
                raise InputError(f"{flag}: {why}; drop it, or leave out --fast to optimise (--init fast starts from the fast result)")
        return
    for flag, value in (("--strength", args.strength), ("--working-size", args.working_size)):
        if value is not None:
            raise InputError(f"{flag}: applies to the fast mode only; add --fast, or drop it")


def run(args: argparse.Namespace) -> int:
    _check_method(args)
    if args.method == "feedforward":
        return _run_fast(args)
    from tqdm import tqdm

    from ..core.allocator import tune_allocator
    from ..core.devices import resolve_device
    from ..core.files import write_atomic
    from ..core.images import save_image
    from ..core.transfer import stylize

    refuse_existing_outputs([("out", args.out), ("metrics", args.metrics), ("plot", args.plot)], args.overwrite)
    run_settings, loss = run_settings_from_args(args), loss_settings_from_args(args)
    rotation = rotation_from_args(args)
    content, spec, init_image = load_inputs(args)
    spec = spec.with_rotation(rotation)
    strength_map = load_strength_map(args)
    device = resolve_device(args.device)
    tune_allocator()  # this process only runs the job: keep activations' pages mapped between steps
    model = load_model_from_args(args)
    fast_model = load_fast_model_from_args(args) if run_settings.init == "fast" else None

    bar = tqdm(total=run_settings.steps, desc="stylize", unit="step", disable=None, leave=False)

    def on_step(info) -> None:
        bar.update(1)
        if info.step % 10 == 0 or info.step == info.total:
            bar.set_postfix(loss=f"{info.losses.total:.4g}", refresh=False)

    try:
        with memory_plan_shown():
            result = stylize(
                model, content, spec, run_settings, loss, device, init_image=init_image, on_step=on_step,
                strength_map=strength_map, fast_model=fast_model,
            )  # fmt: skip
    finally:
        bar.close()
    save_image(result.image, args.out, overwrite=args.overwrite)
    metrics = result.metrics
    if args.metrics:
        write_json(args.metrics, metrics.to_dict(), overwrite=args.overwrite, what="metrics")
    if args.plot:
        write_atomic(args.plot, _plot_png(metrics.history), overwrite=args.overwrite, what="plot")
    print(args.out)
    height, width = metrics.size
    print(
        f"{metrics.steps} steps in {metrics.seconds:.1f} s ({metrics.seconds_per_step:.3f} s/step) on {metrics.device}, "
        f"{width}x{height}, loss {metrics.history[0]['total']:.4g} -> {metrics.final['total']:.4g}"
    )
    return 0


def _run_fast(args: argparse.Namespace) -> int:
    """`--fast`: the fast mode's one pass; no VGG is loaded."""
    from ..core.devices import resolve_device
    from ..core.fast import fast_stylize
    from ..core.images import save_image

    refuse_existing_outputs([("out", args.out), ("metrics", args.metrics)], args.overwrite)
    run_settings, fast = run_settings_from_args(args), fast_settings_from_args(args)
    content, spec, _ = load_inputs(args)
    spec = spec.with_rotation(rotation_from_args(args))
    strength_map = load_strength_map(args)
    device = resolve_device(args.device)
    result = fast_stylize(load_fast_model_from_args(args), content, spec, run_settings, fast, device, strength_map)
    save_image(result.image, args.out, overwrite=args.overwrite)
    if args.metrics:
        write_json(args.metrics, result.metrics.to_dict(), overwrite=args.overwrite, what="metrics")
    print(args.out)
    height, width = result.metrics.size
    print(f"fast mode: {width}x{height} in {result.metrics.seconds:.2f} s on {result.metrics.device}")
    return 0
