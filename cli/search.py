"""`nst search-rotation`: the rotation search with a progress bar, its report, and renders of the best candidates.

Importing it stays cheap: scipy is loaded only when a search runs.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path

from ..core.errors import InputError
from ..core.search import SearchResult
from ..core.settings import OBJECTIVES, SearchSettings
from .inputs import load_inputs, load_strength_map, loss_settings_from_args, run_settings_from_args, search_settings_from_args
from .model import load_model_from_args
from .options import add_run_args
from .outputs import refuse_existing_outputs, write_json

_DEFAULTS = SearchSettings()


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("search-rotation", help="search the style rotations that suit a content image (DE)")
    add_run_args(parser)
    group = parser.add_argument_group("search (Differential Evolution over style rotations)")
    group.add_argument("--rotations", type=int, default=_DEFAULTS.rotations, metavar="K", help="angles per candidate (default 1)")
    group.add_argument("--objective", choices=OBJECTIVES, default=_DEFAULTS.objective, help="fit: the rotation this content takes best (default); diverse: the result farthest from the unrotated one")
    group.add_argument("--angle-range", default="0,360", metavar="LOW,HIGH", help="degrees, within -360..360 (default 0,360; write --angle-range=-90,90 for negatives)")
    group.add_argument("--rotation-weight", type=float, default=_DEFAULTS.rotation_weight, metavar="RHO", help="share of the rotated styles when it is not searched (default 1)")
    group.add_argument("--search-rotation-weight", action="store_true", help="search the share of the rotated styles too")
    group.add_argument("--search-fusion-weights", action="store_true", help="search one weight per angle too (K > 1)")
    group.add_argument("--search-mix-weights", action="store_true", help="search the style-mix weights too (several --style)")
    group.add_argument("--popsize", type=int, default=_DEFAULTS.popsize, help="candidates per searched parameter, as scipy counts (default 8)")
    group.add_argument("--generations", type=int, default=_DEFAULTS.generations, help="at most this many generations (default 10)")
    group.add_argument("--proxy-size", type=int, default=_DEFAULTS.proxy_size, metavar="PX", help="longest side of the proxy runs (default 96)")
    group.add_argument("--proxy-steps", type=int, default=_DEFAULTS.proxy_steps, metavar="N", help="Adam steps per proxy run (default 10)")
    group.add_argument("--top-k", type=int, default=_DEFAULTS.top_k, metavar="K", help="distinct candidates to keep (default 2)")
    group.add_argument("--min-separation", type=float, default=_DEFAULTS.min_separation, metavar="DEG", help="least angle between kept candidates (default 15)")
    group.add_argument("--region", type=int, default=_DEFAULTS.region, metavar="N", help="search only the rotation of the N-th --style (its --mask region), the others unturned; 0: every style (default)")
    group.add_argument("--epsilon", type=float, default=_DEFAULTS.epsilon, help="diverse: style loss allowed above the unrotated one, as a fraction (default 0.1)")
    group.add_argument("--report", required=True, metavar="OUT.json", help="where to write the search report")
    render = group.add_mutually_exclusive_group()
    render.add_argument("--render", metavar="OUT.png", help="render the best candidate at --size with --steps")
    render.add_argument("--render-dir", metavar="DIR", help="render each of the --top-k candidates as DIR/top1.png, top2.png, ...")


def _render_paths(args: argparse.Namespace, count: int) -> list[Path]:
    if args.render:
        return [Path(args.render)]
    if args.render_dir:
        return [Path(args.render_dir) / f"top{rank + 1}.png" for rank in range(count)]
    return []


def _summary(result: SearchResult) -> str:
    angles = ", ".join(f"{angle:.1f}" for angle in result.best.angles)
    return (
        f"best angles [{angles}] deg, rho {result.best.rho:.2f}, fitness {result.best_fitness:.4g}; "
        f"{result.evaluations} proxy runs over {result.generations} generations in {result.seconds:.1f} s"
    )


def run(args: argparse.Namespace) -> int:
    """Search, write the report, then render the best candidate(s) at full size."""
    from tqdm import tqdm

    from ..core.devices import resolve_device
    from ..core.images import save_image
    from ..core.search import search_rotation
    from ..core.transfer import stylize

    if args.init == "fast":
        raise InputError("--init: the search's proxy runs do not start from the fast mode; render its best with nst stylize --init fast")
    run_settings, loss = run_settings_from_args(args), loss_settings_from_args(args)
    search = search_settings_from_args(args)
    outputs = [("report", args.report)] + [("render", path) for path in _render_paths(args, search.top_k)]
    refuse_existing_outputs(outputs, args.overwrite)
    content, style, init_image = load_inputs(args)
    strength_map = load_strength_map(args)  # for the renders; the proxy runs style the whole image
    device = resolve_device(args.device)
    model = load_model_from_args(args)

    bar = tqdm(total=search.generations, desc="search", unit="gen", disable=None, leave=False)

    def on_generation(info) -> None:
        bar.update(1)
        bar.set_postfix(best=f"{info.best_fitness:.4g}", angles=",".join(f"{a:.0f}" for a in info.best.angles), refresh=False)

    try:
        result = search_rotation(model, content, style, search, loss, device, on_generation=on_generation, render=run_settings)
    finally:
        bar.close()
    report = {**result.to_report(), "settings": asdict(search)}
    write_json(args.report, report, overwrite=args.overwrite, what="report")
    print(args.report)
    print(_summary(result))
    for rank, path in enumerate(_render_paths(args, len(result.top_k))):
        steps = tqdm(total=run_settings.steps, desc=f"render {rank + 1}", unit="step", disable=None, leave=False)
        try:
            rendered = stylize(
                model, content, result.apply(style, rank), run_settings, loss, device,
                init_image=init_image, on_step=lambda _: steps.update(1), strength_map=strength_map,
            )  # fmt: skip
        finally:
            steps.close()
        save_image(rendered.image, path, overwrite=args.overwrite)
        print(path)
    return 0
