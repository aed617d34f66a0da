"""`stylize`: the whole job for one content image, from checked inputs to the result and its metrics.

It prepares the run once (run_setup.prepare_run), runs the optimisation loop
once per scale of the coarse-to-fine ladder (one scale unless `scales` asks
for more), carrying Adam's state across scales, and reports what it did.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace

import torch

from .checks import check_image
from .color import keep_luminance_only
from .errors import InputError
from .fast import FastSettings, fast_stylize
from .fast_nets import FastModel
from .geometry import resize
from .guard import gradient_run
from .metrics import LossRecord, RunMetrics
from .optimize import OptimizationResult, StepInfo, carry_moments, optimize_pixels, record_losses
from .precision import dtype_name
from .run_setup import RunSetup, Workload, prepare_run
from .scales import parse_scales, scale_ladder, split_steps
from .settings import LossSettings, RunSettings
from .style import StyleSpec
from .temporal import TemporalObjective, TemporalTarget
from .vgg import VGGModel


# The fast result's share in the start of an `init` "fast" run (README, "Fast mode": measured).
WARM_BLEND = 0.5


@dataclass
class StylizeResult:
    """A finished run: the image ([1, 3, H, W] on the CPU, in [0, 1]) and its metrics."""

    image: torch.Tensor
    metrics: RunMetrics = field(default_factory=RunMetrics)


@dataclass
class _Climb:
    """What the scales of one run left: the last scale's result, the history over all, one entry per scale."""

    last: OptimizationResult
    history: list[LossRecord]
    scales: list[dict[str, object]]
    steps: int
    seconds: float


def stylize(
    model: VGGModel,
    content: torch.Tensor,
    style: StyleSpec,
    run: RunSettings | None = None,
    loss: LossSettings | None = None,
    device: torch.device | str = "cpu",
    init_image: torch.Tensor | None = None,
    on_step: Callable[[StepInfo], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    strength_map: torch.Tensor | None = None,
    fast_model: FastModel | None = None,
    temporal: TemporalTarget | None = None,
) -> StylizeResult:
    """Neural style transfer of one content image ([1, 3, H, W] in [0, 1]).

    strength_map: [1, 1, H, W] in [0, 1] over the result, any size: how
    strongly the style applies where (0 keeps the content); see regions.py.
    fast_model: the feed-forward pair (fast_weights.py) an `init` of "fast"
    starts from: the fast mode's result of the same recipe (fast.py).
    temporal: a video frame's pull towards the previous result (temporal.py,
    video.py), at the result's size; its term joins the metrics' `final`.

    Runs with autograd on even when called under inference mode (ComfyUI),
    never changes the tensors it is given, and returns the result on the CPU.
    An out-of-memory failure is turned into OutOfMemoryError after releasing
    the memory the run held.
    """
    run = run or RunSettings()
    loss = loss or LossSettings()
    device = torch.device(device)
    started = time.perf_counter()
    with gradient_run(device, f"at size {run.exact or run.size}; use a smaller size or fewer style layers"):
        if init_image is not None:
            check_image(init_image, "init_image")
        elif run.init == "fast" and fast_model is None:
            raise InputError("fast starts from the fast mode's result, so it needs the fast mode's networks (fast_model)", "init")
        output_hw = run.output_hw(tuple(content.shape[-2:]))
        setup = prepare_run(model, content, style, loss, run, device, Workload(output_hw), strength_map=strength_map)
        if init_image is None and run.init == "fast":
            init_image = warm_start(fast_model, content, style, run, device, strength_map)
            init = "fast"
        else:
            init = "image" if init_image is not None else run.init
        climb = _climb(setup, init_image, on_step, should_stop, temporal)
        image = climb.last.image.float().cpu()
        if run.preserve_color == "luminance":
            image = keep_luminance_only(image, setup.content)
        metrics = _metrics(model, setup, climb, init)
    metrics.seconds = time.perf_counter() - started
    return StylizeResult(image=image, metrics=metrics)


def warm_start(
    fast_model: FastModel,
    content: torch.Tensor,
    style: StyleSpec,
    run: RunSettings,
    device: torch.device,
    strength_map: torch.Tensor | None = None,
    blend: float | None = None,
) -> torch.Tensor:
    """The start of an `init` "fast" run: the fast mode's result of the same recipe at the run's size, blended with the content.

    blend: the fast result's share (default WARM_BLEND); the content's share
    keeps its edges for the optimisation to refine (README, "Fast mode").
    """
    share = WARM_BLEND if blend is None else blend
    fast = fast_stylize(fast_model, content, _paintable(style), run, FastSettings(), device, strength_map).image
    return share * fast + (1 - share) * resize(content.float().cpu(), tuple(fast.shape[-2:]))


def _paintable(style: StyleSpec) -> StyleSpec:
    """The recipe the warm start paints: DFR's feature rotations are left to the optimisation, which alone can apply them."""
    rotations = [style.rotation_of(index) for index in range(len(style.images))]
    if not any(rotation is not None and rotation.mode == "dfr" for rotation in rotations):
        return style
    kept = [None if rotation is not None and rotation.mode == "dfr" else rotation for rotation in rotations]
    return replace(style, rotation=None, rotation_per_style=kept)


def _initial_image(setup: RunSetup, hw: tuple[int, int], init_image: torch.Tensor | None) -> torch.Tensor:
    """The first scale's starting image: the given one, noise (seeded), the first style or the content."""
    run = setup.run
    if init_image is not None:
        return resize(init_image.float(), hw)
    if run.init == "noise":
        generator = torch.Generator().manual_seed(int(run.seed))
        return torch.rand((1, 3, *hw), generator=generator, dtype=torch.float32)
    if run.init == "style":
        return resize(setup.style.images[0].float().cpu(), hw)
    return resize(setup.content, hw)


def _previews_at(
    on_step: Callable[[StepInfo], None] | None, output_hw: tuple[int, int]
) -> Callable[[StepInfo], None] | None:
    """`on_step` whose previews are upsampled to the result's size, so a coarse scale looks like the run's image."""
    if on_step is None:
        return None

    def forward(info: StepInfo) -> None:
        on_step(replace(info, preview=lambda: resize(info.preview(), output_hw)))

    return forward


def _climb(
    setup: RunSetup,
    init_image: torch.Tensor | None,
    on_step: Callable[[StepInfo], None] | None,
    should_stop: Callable[[], bool] | None,
    temporal: TemporalTarget | None = None,
) -> _Climb:
    """Optimise scale by scale: each starts from the previous result upsampled, the first from the run's init."""
    run, output_hw = setup.run, tuple(setup.content.shape[-2:])
    ladder = scale_ladder(output_hw, run.scales)
    plan = [(hw, steps) for hw, steps in zip(ladder, split_steps(ladder, run.steps)) if steps > 0]
    image = _initial_image(setup, plan[0][0], init_image)
    history: list[LossRecord] = []
    scales: list[dict[str, object]] = []
    done, seconds = 0, 0.0
    moments: dict[str, torch.Tensor] | None = None
    for index, (hw, steps) in enumerate(plan):
        objective = setup.objective_at(resize(setup.content, hw), should_stop)
        if temporal is not None:
            objective = TemporalObjective(objective, temporal.at(hw, setup.device))
        result = optimize_pixels(
            objective,
            resize(image, hw).to(setup.device),
            steps,
            optimizer=run.optimizer,
            lr=run.learning_rate,
            on_step=on_step if hw == output_hw else _previews_at(on_step, output_hw),
            should_stop=should_stop,
            history_every=run.history_every,
            first_step=done,
            total_steps=run.steps,
            backward_scale=setup.backward_scale,
            moments=carry_moments(moments, hw),
            average=run.average,
        )
        moments = result.moments
        # A coarse scale's closing record would repeat the step the next scale starts with.
        history += result.history if index == len(plan) - 1 else result.history[:-1]
        tiles = setup.tiles_at(hw)
        scales.append({
            "size": list(hw), "steps": steps, "first_step": done, "seconds": result.seconds,
            "tile": tiles.core if tiles is not None else None,
        })  # fmt: skip
        image, done, seconds = result.image, done + steps, seconds + result.seconds
    return _Climb(last=result, history=history, scales=scales, steps=done, seconds=seconds)


def _metrics(model: VGGModel, setup: RunSetup, climb: _Climb, init: str) -> RunMetrics:
    """What the run reports: its losses and timings, and every effective setting."""
    run, loss, style = setup.run, setup.loss, setup.style
    final = record_losses(run.steps, climb.last.final)
    extra = {"temporal": float(climb.last.final["temporal"].mean())} if "temporal" in climb.last.final else {}
    params = {**asdict(run), **asdict(loss)}
    params.update(
        lr=run.learning_rate,
        content_layers=list(setup.content_layers),
        style_layers=list(setup.style_layer_weights),
        style_layer_weights=list(setup.style_layer_weights.values()),
        style_mix_weights=list(style.mix_weights),
        style_mix_mode=style.mode,
        style_scale=style.scale,
        style_rotation=asdict(style.rotation) if style.rotation is not None else None,
        style_rotations=[asdict(r) if r is not None else None for r in style.rotation_per_style] if style.rotation_per_style else None,
        style_masks=[mask is not None for mask in style.masks] if style.regional else None,
        strength_map=setup.strength_map is not None,
        **model.describe(),
        init=init,
        device=str(setup.device),
        scales=parse_scales(run.scales),
        compute_dtype=dtype_name(setup.precision),
        estimated_bytes=setup.memory.need if setup.memory is not None else None,
        channels_last=setup.extractor.channels_last,
    )
    return RunMetrics(
        steps=climb.steps,
        seconds_per_step=climb.seconds / max(1, climb.steps),
        device=str(setup.device),
        size=list(setup.content.shape[-2:]),
        final={**{k: getattr(final, k) for k in ("content", "style", "tv", "total")}, **extra},
        history=[asdict(record) for record in climb.history],
        params=params,
        scales=climb.scales,
    )
