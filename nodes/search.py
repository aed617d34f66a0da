"""Rotation DE Search (NST): Differential Evolution over a style's rotations, scored by small proxy runs."""

from __future__ import annotations

import dataclasses
import json
import logging

import torch
from comfy_api.latest import io

from ..core.errors import InputError, inputs_named
from ..core.geometry import MAX_SIDE, MIN_SIDE
from ..core.search import GenerationInfo, SearchResult, search_rotation
from ..core.rotation import MAX_ANGLE
from ..core.settings import MAX_SEED, MAX_SEPARATION, MIN_POPSIZE, OBJECTIVES, LossSettings, SearchSettings
from ..core.style import StyleSpec
from ..core.vgg import VGGModel
from . import _comfy
from ._convert import image_to_single, list_to_image
from ._types import LOSS, STYLE, expect, input_names, node_schema, vgg_input
from .style import MAX_STYLES

log = logging.getLogger(__name__)

MAX_ROTATIONS = 8
MAX_TOP_K = 16
_DEFAULTS = SearchSettings()
# Each SearchSettings field the node sets and the input(s) that set it, so errors name the input;
# the node splits the engine's angle_range into two inputs.
SEARCH_INPUTS = {
    "rotations": "rotations", "objective": "objective", "angle_range": "angle_min, angle_max", "popsize": "popsize",
    "generations": "generations", "proxy_size": "proxy_size", "proxy_steps": "proxy_steps", "top_k": "top_k",
    "seed": "seed", "search_rotation_weight": "search_rotation_weight", "rotation_weight": "rotation_weight",
    "search_fusion_weights": "search_fusion_weights", "search_mix_weights": "search_mix_weights",
    "min_separation": "min_separation", "epsilon": "epsilon", "region": "region",
}  # fmt: skip
_SEARCH_NAMES = input_names(SEARCH_INPUTS)


def search_settings(
    rotations: int = _DEFAULTS.rotations,
    objective: str = _DEFAULTS.objective,
    angle_min: float = _DEFAULTS.angle_range[0],
    angle_max: float = _DEFAULTS.angle_range[1],
    popsize: int = _DEFAULTS.popsize,
    generations: int = _DEFAULTS.generations,
    proxy_size: int = _DEFAULTS.proxy_size,
    proxy_steps: int = _DEFAULTS.proxy_steps,
    top_k: int = _DEFAULTS.top_k,
    seed: int = _DEFAULTS.seed,
    search_rotation_weight: bool = _DEFAULTS.search_rotation_weight,
    rotation_weight: float = _DEFAULTS.rotation_weight,
    search_fusion_weights: bool = _DEFAULTS.search_fusion_weights,
    search_mix_weights: bool = _DEFAULTS.search_mix_weights,
    min_separation: float = _DEFAULTS.min_separation,
    epsilon: float = _DEFAULTS.epsilon,
    region: int = _DEFAULTS.region,
) -> SearchSettings:
    """SearchSettings from the node's search inputs, each problem named by its input (SEARCH_INPUTS)."""
    with inputs_named(_SEARCH_NAMES):
        return SearchSettings(
            rotations=rotations, objective=objective, angle_range=(float(angle_min), float(angle_max)),
            popsize=popsize, generations=generations, proxy_size=proxy_size, proxy_steps=proxy_steps, top_k=top_k,
            seed=seed, search_rotation_weight=search_rotation_weight, rotation_weight=rotation_weight,
            search_fusion_weights=search_fusion_weights, search_mix_weights=search_mix_weights,
            min_separation=min_separation, epsilon=epsilon, region=region,
        )  # fmt: skip


def report_json(result: SearchResult, settings: SearchSettings) -> str:
    """The engine's report plus the settings that produced it, so a report can be rerun."""
    report = result.to_report()
    report["settings"] = dataclasses.asdict(settings)
    return json.dumps(report, indent=2)


class RotationDESearch(io.ComfyNode):
    """Finds the rotations of a style that suit a content image, for Optimize to render in full."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return node_schema(
            node_id="NST_RotationDESearch",
            display_name="Rotation DE Search (NST)",
            search_aliases=["differential evolution", "rotation search", "dfr", "optimise rotation"],
            description=(
                "Searches K rotation angles of the style (and optionally rho, fusion and mix weights) with "
                "Differential Evolution. Each candidate is scored by a short batched proxy run at a small "
                "size. Feed `style` (the best) or `top_k_styles` (one full render each) into Optimize (NST)."
            ),
            inputs=[
                vgg_input(),
                io.Image.Input("content", tooltip="The content picture the rotations are chosen for (one image)."),
                STYLE.Input("style", tooltip="The style whose rotations are searched; any rotation it carries is replaced."),
                io.Int.Input(
                    "rotations",
                    default=_DEFAULTS.rotations,
                    min=1,
                    max=MAX_ROTATIONS,
                    tooltip="K: how many rotated views are fused into the style target.",
                ),
                io.Combo.Input(
                    "objective",
                    options=list(OBJECTIVES),
                    default=_DEFAULTS.objective,
                    tooltip=(
                        "fit: the rotations this content takes most easily (lowest proxy loss). diverse: results "
                        "that differ most from the unrotated style's, within epsilon more style loss."
                    ),
                ),
                io.Float.Input(
                    "angle_min", default=_DEFAULTS.angle_range[0], min=-MAX_ANGLE, max=MAX_ANGLE, step=1.0,
                    tooltip="Lower bound of the searched angles, in degrees.",
                ),  # fmt: skip
                io.Float.Input(
                    "angle_max", default=_DEFAULTS.angle_range[1], min=-MAX_ANGLE, max=MAX_ANGLE, step=1.0,
                    tooltip="Upper bound of the searched angles, in degrees; must be above angle_min.",
                ),  # fmt: skip
                io.Int.Input(
                    "popsize", default=_DEFAULTS.popsize, min=MIN_POPSIZE, max=100,
                    tooltip="DE population per searched parameter: a generation is one proxy batch of popsize x parameters (at least 5).",
                ),  # fmt: skip
                io.Int.Input(
                    "generations", default=_DEFAULTS.generations, min=1, max=1000,
                    tooltip="Most DE generations; the search stops earlier once the population agrees.",
                ),  # fmt: skip
                io.Int.Input(
                    "proxy_size", default=_DEFAULTS.proxy_size, min=MIN_SIDE, max=MAX_SIDE, step=8,
                    tooltip="Longest side of the proxy images in px; small keeps the search fast.",
                ),  # fmt: skip
                io.Int.Input(
                    "proxy_steps", default=_DEFAULTS.proxy_steps, min=1, max=1000,
                    tooltip="Adam steps of each proxy run; more scores candidates more faithfully, and slower.",
                ),  # fmt: skip
                io.Int.Input(
                    "top_k", default=_DEFAULTS.top_k, min=1, max=MAX_TOP_K,
                    tooltip="How many distinct good candidates to keep (previews, report, top_k_styles).",
                ),  # fmt: skip
                io.Int.Input(
                    "seed", default=_DEFAULTS.seed, min=0, max=MAX_SEED, control_after_generate=True,
                    tooltip="Seed of the DE population; the same seed, settings and device give the same search.",
                ),  # fmt: skip
                io.Boolean.Input(
                    "search_rotation_weight", default=_DEFAULTS.search_rotation_weight,
                    tooltip="Also search rho in [0, 1] (how much of the target is rotated); off uses rotation_weight.",
                ),  # fmt: skip
                io.Float.Input(
                    "rotation_weight", default=_DEFAULTS.rotation_weight, min=0.0, max=1.0, step=0.05,
                    tooltip="rho when it is not searched: 0 is the plain style, 1 only the rotated views.",
                ),  # fmt: skip
                io.Boolean.Input(
                    "search_fusion_weights", default=_DEFAULTS.search_fusion_weights,
                    tooltip="Also search one fusion weight per angle (when K > 1); off weighs the angles equally.",
                ),  # fmt: skip
                io.Boolean.Input(
                    "search_mix_weights", default=_DEFAULTS.search_mix_weights,
                    tooltip="Also search the style-mix weights (when the style mixes several images).",
                ),  # fmt: skip
                io.Float.Input(
                    "min_separation", default=_DEFAULTS.min_separation, min=0.0, max=MAX_SEPARATION, step=1.0,
                    tooltip="Least angle difference (degrees) between two kept candidates, so top-k are not near-copies.",
                ),  # fmt: skip
                io.Float.Input(
                    "epsilon", default=_DEFAULTS.epsilon, min=0.0, max=10.0, step=0.01,
                    tooltip="diverse objective only: how much more style loss than the unrotated style is allowed (0.1 = 10 %).",
                ),  # fmt: skip
                LOSS.Input(
                    "loss", optional=True,
                    tooltip="Loss layers and weights for the proxy runs (use the same as Optimize's); defaults if empty.",
                ),  # fmt: skip
                io.Int.Input(
                    "region", default=_DEFAULTS.region, min=0, max=MAX_STYLES, optional=True,
                    tooltip="0: search the rotation of every style. n: only of the n-th style (mask_n's region in a regional Style Mix); the others keep their own.",
                ),  # fmt: skip
            ],
            outputs=[
                STYLE.Output(display_name="style", tooltip="The style with the best rotations applied."),
                io.Image.Output(display_name="previews", tooltip="The top-k candidates' proxy results, best first, as a batch."),
                io.String.Output(display_name="report", tooltip="The search as JSON: best and top-k rotations, fitness history, settings."),
                STYLE.Output(
                    display_name="top_k_styles",
                    is_output_list=True,
                    tooltip="The style with each top-k candidate applied, best first, as a list: a node fed from it runs once per candidate.",
                ),
            ],
        )

    @classmethod
    def validate_inputs(cls, angle_min: float | None = None, angle_max: float | None = None) -> bool | str:
        """Reversed angle bounds are refused when the prompt is queued, before the nodes upstream run.

        Linked inputs arrive as None here and are checked when the node runs.
        """
        if angle_min is None or angle_max is None:
            return True
        try:
            search_settings(angle_min=angle_min, angle_max=angle_max)
        except InputError as error:
            return str(error)
        return True

    @classmethod
    def execute(
        cls,
        vgg: VGGModel,
        content: torch.Tensor,
        style: StyleSpec,
        rotations: int,
        objective: str,
        angle_min: float,
        angle_max: float,
        popsize: int,
        generations: int,
        proxy_size: int,
        proxy_steps: int,
        top_k: int,
        seed: int,
        search_rotation_weight: bool,
        rotation_weight: float,
        search_fusion_weights: bool,
        search_mix_weights: bool,
        min_separation: float,
        epsilon: float,
        loss: LossSettings | None = None,
        region: int = _DEFAULTS.region,
    ) -> io.NodeOutput:
        expect(vgg, VGGModel, "vgg")
        expect(style, StyleSpec, "style")
        loss = expect(loss, LossSettings, "loss", optional=True)
        settings = search_settings(
            rotations, objective, angle_min, angle_max, popsize, generations, proxy_size, proxy_steps, top_k, seed,
            search_rotation_weight, rotation_weight, search_fusion_weights, search_mix_weights, min_separation,
            epsilon, region,
        )  # fmt: skip
        image = image_to_single(content, "content")
        progress = _comfy.Progress(settings.generations, preview_every=1)

        def on_generation(info: GenerationInfo) -> None:
            progress.update(info.generation, info.preview)

        try:
            with inputs_named(_SEARCH_NAMES):
                result = search_rotation(
                    vgg, image, style, settings, loss, _comfy.torch_device(),
                    on_generation=on_generation, should_stop=_comfy.stop_if_interrupted,
                )  # fmt: skip
        finally:
            _comfy.release_memory()
        progress.update(settings.generations)
        log.info(
            "NST rotation search: best %s (fitness %.4g) after %d evaluations in %.1f s",
            result.best.angles, result.best_fitness, result.evaluations, result.seconds,
        )  # fmt: skip
        styles = [result.apply(style, rank) for rank in range(len(result.top_k))]
        previews = list_to_image([candidate.image for candidate in result.top_k], _comfy.output_device())
        return io.NodeOutput(styles[0], previews, report_json(result, settings), styles)


NODES: list[type[io.ComfyNode]] = [RotationDESearch]
