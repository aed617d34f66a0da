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

from .images import check_image, keep_luminance_only, resize
from .memory import gradient_run
from .metrics import LossRecord, RunMetrics
from .memory import MemoryPlan
from .run_setup import RunSetup, memory_plan, prepare_run
from .optimize import StepInfo, carry_moments, optimize_pixels, record_losses
from .precision import dtype_name
from .scales import parse_scales, scale_ladder, split_steps
from .settings import LossSettings, RunSettings
from .style import StyleSpec
from .vgg import VGGModel


@dataclass
class StylizeResult:
    """A finished run: the image ([1, 3, H, W] on the CPU, in [0, 1]) and its metrics."""

    image: torch.Tensor
    metrics: RunMetrics = field(default_factory=RunMetrics)


def _initial_image(run: RunSettings, setup: RunSetup, hw: tuple[int, int], init_image: torch.Tensor | None) -> torch.Tensor:
    """The first scale's starting image: the given one, noise (seeded), the first style or the content."""
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


def plan_memory_for(
    model: VGGModel, content: torch.Tensor, run: RunSettings, loss: LossSettings, device: torch.device | str = "cpu"
) -> MemoryPlan:
    """How `stylize` will use memory for this content at these settings: whole or tiled, and about how much.

    The doors show it before the run starts; `stylize` plans the same way itself.
    """
    output_hw = run.output_hw(tuple(content.shape[-2:]))
    return memory_plan(model, loss, output_hw, run.optimizer, torch.device(device), run.tile, dtype=run.dtype)


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
) -> StylizeResult:
    """Neural style transfer of one content image ([1, 3, H, W] in [0, 1]).

    strength_map: [1, 1, H, W] in [0, 1] over the result, any size: how
    strongly the style applies where (0 keeps the content); see regions.py.

    Runs with autograd on even when called under inference mode (ComfyUI),
    never changes the tensors it is given, and returns the result on the CPU.
    An out-of-memory failure is turned into OutOfMemoryError after releasing
    the memory the run held.
    """
    run = run or RunSettings()
    loss = loss or LossSettings()
    device = torch.device(device)
    started = time.perf_counter()
    hint = f"at size {run.exact or run.size}; use a smaller size or fewer style layers"
    with gradient_run(device, hint):
        result = _run(model, content, style, run, loss, device, init_image, on_step, should_stop, strength_map)
    result.metrics.seconds = time.perf_counter() - started
    return result


def _run(
    model: VGGModel,
    content: torch.Tensor,
    style: StyleSpec,
    run: RunSettings,
    loss: LossSettings,
    device: torch.device,
    init_image: torch.Tensor | None,
    on_step: Callable[[StepInfo], None] | None,
    should_stop: Callable[[], bool] | None,
    strength_map: torch.Tensor | None,
) -> StylizeResult:
    if init_image is not None:
        check_image(init_image, "init_image")
    output_hw = run.output_hw(tuple(content.shape[-2:]))
    setup = prepare_run(
        model, content, style, loss, output_hw, device, run.dtype,
        match_colors=run.preserve_color == "histogram", optimizer=run.optimizer, strength_map=strength_map,
        tile=run.tile,
    )  # fmt: skip
    ladder = scale_ladder(output_hw, run.scales)
    plan = [(hw, steps) for hw, steps in zip(ladder, split_steps(ladder, run.steps)) if steps > 0]
    # Each scale starts from the previous one's result upsampled; the first from the chosen init.
    image = _initial_image(run, setup, plan[0][0], init_image)
    history: list[LossRecord] = []
    scales: list[dict[str, object]] = []
    done, seconds = 0, 0.0
    moments: dict[str, torch.Tensor] | None = None
    for index, (hw, steps) in enumerate(plan):
        result = optimize_pixels(
            setup.objective_at(resize(setup.content, hw), should_stop),
            resize(image, hw).to(device),
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
    image = image.float().cpu()
    if run.preserve_color == "luminance":
        image = keep_luminance_only(image, setup.content)
    final = record_losses(run.steps, result.final)
    params = {**asdict(run), **asdict(loss)}
    params.update(
        lr=run.learning_rate,
        content_layers=list(setup.content_layers),
        style_layers=list(setup.style_layer_weights),
        style_layer_weights=list(setup.style_layer_weights.values()),
        style_mix_weights=list(style.weights),
        style_mix_mode=style.mode,
        style_scale=style.scale,
        style_rotation=asdict(style.rotation) if style.rotation is not None else None,
        style_rotations=[asdict(r) if r is not None else None for r in style.rotations] if style.rotations else None,
        style_masks=[mask is not None for mask in style.masks] if style.regional else None,
        strength_map=strength_map is not None,
        **model.describe(),
        init=run.init if init_image is None else "image",
        device=str(device),
        scales=parse_scales(run.scales),
        compute_dtype=dtype_name(setup.precision),
        estimated_bytes=setup.memory.need if setup.memory is not None else None,
        channels_last=setup.channels_last,
    )
    metrics = RunMetrics(
        steps=done,
        seconds_per_step=seconds / max(1, done),
        device=str(device),
        size=list(output_hw),
        final={k: getattr(final, k) for k in ("content", "style", "tv", "total")},
        history=[asdict(record) for record in history],
        params=params,
        scales=scales,
    )
    return StylizeResult(image=image, metrics=metrics)
