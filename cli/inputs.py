"""What the arguments of `nst stylize` and `nst search-rotation` name: engine settings and input files.

Each flag's value goes to the engine field of the same meaning, written out
here one by one; the engine checks the values and its errors are named by
the flag (options.flag_name).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import torch

from ..core.fast import FastSettings
from ..core.settings import INIT_CHOICES, LossSettings, RunSettings, SearchSettings, default_steps
from ..core.style import StyleSpec
from ..core.text import parse_exact_size, parse_numbers, parse_pair
from .options import flag_name


def run_settings_from_args(args: argparse.Namespace) -> RunSettings:
    """--size/--exact, --steps, --optimizer, --lr, --init (a choice), --seed, --preserve-color, --dtype, --scales, --tile, --average."""
    init = args.init if args.init in INIT_CHOICES else "content"
    return RunSettings(
        size=args.size,
        exact=parse_exact_size(args.exact) if args.exact else None,
        steps=default_steps(init) if args.steps is None else args.steps,
        optimizer=args.optimizer,
        lr=args.lr,
        init=init,
        seed=args.seed,
        preserve_color=args.preserve_color,
        dtype=args.dtype,
        scales=args.scales,
        tile=args.tile,
        average=args.average,
    )


def loss_settings_from_args(args: argparse.Namespace) -> LossSettings:
    """--content-layers, --style-layers, --style-layer-weights, the three loss weights, --style-loss and --content-loss."""
    layer_weights = parse_numbers(args.style_layer_weights or "", "style_layer_weights", example="1,1,1,0.5,0.5")
    return LossSettings(
        content_layers=args.content_layers,
        style_layers=args.style_layers,
        style_layer_weights=layer_weights or None,
        content_weight=args.content_weight,
        style_weight=args.style_weight,
        tv_weight=args.tv_weight,
        style_loss=args.style_loss,
        content_loss=args.content_loss,
    )


def search_settings_from_args(args: argparse.Namespace) -> SearchSettings:
    """The search group's flags; --angle-range is LOW,HIGH text. The proxy's step size has no flag."""
    return SearchSettings(
        rotations=args.rotations,
        objective=args.objective,
        angle_range=parse_pair(args.angle_range, "angle_range", "LOW,HIGH in degrees, e.g. 0,360"),
        search_rotation_weight=args.search_rotation_weight,
        search_fusion_weights=args.search_fusion_weights,
        search_mix_weights=args.search_mix_weights,
        popsize=args.popsize,
        generations=args.generations,
        proxy_size=args.proxy_size,
        proxy_steps=args.proxy_steps,
        top_k=args.top_k,
        min_separation=args.min_separation,
        epsilon=args.epsilon,
        seed=args.seed,
        rotation_weight=args.rotation_weight,
        region=args.region,
    )


def _masks(paths: Sequence[str | None], field: str) -> list[torch.Tensor | None] | None:
    """The mask files given after each --style (None where none was), or None if there are none at all."""
    from ..core.images import load_mask

    if not any(paths):
        return None
    return [load_mask(path, f"{flag_name(field, i)} ({path})") if path else None for i, path in enumerate(paths)]


def load_style(args: argparse.Namespace) -> StyleSpec:
    """The style recipe (without rotation): --style images, their masks, --style-weights, --mix, --style-scale."""
    from ..core.images import load_image

    styles = [load_image(path, f"{flag_name('style', i)} ({path})") for i, path in enumerate(args.style)]
    weights = parse_numbers(args.style_weights or "", "style_weights", example="0.25,0.75")
    return StyleSpec(
        images=styles, mix_weights=weights, mode=args.mix, scale=args.style_scale,
        masks=_masks(args.mask, "mask"), style_masks=_masks(args.style_mask, "style_mask"),
    )  # fmt: skip


def load_inputs(args: argparse.Namespace) -> tuple[torch.Tensor, StyleSpec, torch.Tensor | None]:
    """The content, the style recipe (without rotation) and the init image (or None) the arguments name."""
    from ..core.images import load_image

    content = load_image(args.content, "--content")
    spec = load_style(args)
    init_image = None if args.init in INIT_CHOICES else load_image(args.init, "--init")
    return content, spec, init_image


def load_strength_map(args: argparse.Namespace) -> torch.Tensor | None:
    """--strength-map as a mask, or None."""
    from ..core.images import load_mask

    return load_mask(args.strength_map, "--strength-map") if args.strength_map else None


def fast_settings_from_args(args: argparse.Namespace) -> FastSettings:
    """--strength and --working-size (each the engine's default when not given)."""
    given = {"strength": args.strength, "working_size": args.working_size}
    return FastSettings(**{field: value for field, value in given.items() if value is not None})
