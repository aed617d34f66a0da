"""Differential Evolution over a style's rotation parameters, scored by short batched proxy runs.

A candidate is a set of K rotation angles (optionally with the rotation
weight rho, the fusion weights and the style-mix weights). Scoring one means
stylising the content for a few Adam steps at a small size (the proxy) with
that candidate's own style target. scipy's DE hands over a whole generation
at once (`vectorized=True`, deferred updating), and the generation is
optimised as one batch through VGG, each member with its own Gram targets:
what does not depend on the candidate (the extractor, the content and its
features, the unrotated targets) is prepared once.

Objectives (lower is better for DE):
- fit: the proxy's final total loss against the candidate's own target, i.e.
  the rotation of the style this content takes most easily. The style term is
  what tells orientations apart: VGG's filters are oriented, so the Grams of
  a style and of its turned copies differ (most clearly from relu2_1 on;
  relu1_1's Gram is dominated by the colours).
- diverse: minus the distance, at the content layers, between the
  candidate's proxy result and the unrotated style's proxy result; a
  candidate whose style loss exceeds (1 + epsilon) times the unrotated one is
  infeasible and scores its excess ratio (> 0), worse than any feasible one.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from .errors import InputError, StopRequested
from .images import MAX_SIDE, MIN_SIDE, check_image, fit_size, match_color, resize
from .memory import check_fits, gradient_run
from .optimize import Objective, OptimizationResult, StylizeSettings, layers_of, optimize_pixels
from .precision import FP16_LOSS_SCALE, compute_dtype, prefers_channels_last
from .rotation import MAX_ANGLE, RotationSpec
from .style import StyleSpec, compute_style_targets, normalize_weights
from .vgg import VGGModel

OBJECTIVES = ("fit", "diverse")
# Searched fusion and mix weights stay above zero so that a set never sums to 0.
WEIGHT_BOUNDS = (0.05, 1.0)
# DE stops early once the population's fitness spread is this fraction of its mean.
CONVERGENCE_TOL = 0.01


@dataclass
class SearchSettings:
    """What the rotation search looks for and how much it spends.

    popsize is scipy's multiplier: a generation holds max(5, popsize * the
    number of searched parameters) candidates, i.e. one proxy batch of that
    size. rotation_weight is rho when it is not searched. min_separation is
    the least angle distance (degrees) between two of the top_k candidates.
    """

    rotations: int = 1
    objective: str = "fit"
    angle_range: tuple[float, float] = (0.0, 360.0)
    search_rotation_weight: bool = False
    search_fusion_weights: bool = False
    search_mix_weights: bool = False
    popsize: int = 8
    generations: int = 10
    proxy_size: int = 96
    proxy_steps: int = 10
    top_k: int = 2
    min_separation: float = 15.0
    epsilon: float = 0.1
    seed: int = 0
    rotation_weight: float = 1.0
    # Not the render's 0.1: with steps that large, a 3-step proxy ranked the angles of
    # tests/test_search.py's orientation ground truth wrongly.
    proxy_lr: float = 0.02

    def validate(self) -> None:
        """Refuse settings that cannot give a meaningful search, naming the setting."""
        _check_int(self.rotations, 1, "rotations", "the number of angles K")
        if self.objective not in OBJECTIVES:
            raise InputError(f"objective: {self.objective!r} is not one of {', '.join(OBJECTIVES)}")
        low, high = (float(v) for v in self.angle_range)
        if not (-MAX_ANGLE <= low < high <= MAX_ANGLE):
            raise InputError(
                f"angle range: {low:g},{high:g} must lie within [-360, 360] with the low end first, e.g. 0,360"
            )
        _check_int(self.popsize, 4, "popsize", "candidates per searched parameter")
        _check_int(self.generations, 1, "generations", "DE generations")
        _check_int(self.proxy_size, MIN_SIDE, "proxy size", "px, the smallest side VGG19 can use")
        if self.proxy_size > MAX_SIDE:
            raise InputError(f"proxy size: {self.proxy_size} px is too large; use {MIN_SIDE} to {MAX_SIDE} px")
        _check_int(self.proxy_steps, 1, "proxy steps", "Adam steps per candidate")
        _check_int(self.top_k, 1, "top k", "candidates to keep")
        if not 0.0 <= float(self.min_separation) <= 180.0:
            raise InputError(f"min separation: {self.min_separation} must be between 0 and 180 degrees")
        if not (math.isfinite(float(self.epsilon)) and self.epsilon >= 0):
            raise InputError(f"epsilon: {self.epsilon} must be a finite number >= 0 (e.g. 0.1 for 10 % more style loss)")
        if not 0.0 <= float(self.rotation_weight) <= 1.0:
            raise InputError(f"rotation weight: {self.rotation_weight} is outside [0, 1]")
        if not (math.isfinite(float(self.proxy_lr)) and self.proxy_lr > 0):
            raise InputError(f"proxy lr: {self.proxy_lr} must be a positive finite number (e.g. 0.02)")


def _check_int(value: Any, least: int, name: str, meaning: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise InputError(f"{name}: {value!r} is not allowed; use a whole number >= {least} ({meaning})")


@dataclass
class Candidate:
    """One evaluated set of parameters and its proxy result ([1, 3, h, w] on the CPU)."""

    rotation: RotationSpec
    fitness: float
    mix_weights: list[float] | None
    image: torch.Tensor

    def to_report(self) -> dict[str, Any]:
        return _describe(self.rotation, self.fitness, self.mix_weights)


def _describe(rotation: RotationSpec, fitness: float, mix_weights: list[float] | None) -> dict[str, Any]:
    """A candidate as the report shows it (mix weights only when they were searched)."""
    report: dict[str, Any] = {
        "angles": list(rotation.angles),
        "rotation_weight": rotation.rho,
        "fusion_weights": list(rotation.weights),
        "fitness": fitness,
    }
    if mix_weights is not None:
        report["mix_weights"] = list(mix_weights)
    return report


@dataclass
class GenerationInfo:
    """What `on_generation` hears after each DE generation."""

    generation: int  # generations done so far, 1..total
    total: int
    best_fitness: float
    best: RotationSpec
    preview: Callable[[], torch.Tensor]  # the best candidate's proxy image, [1, 3, h, w] on the CPU
    evaluations: int = 0
    best_mix_weights: list[float] | None = None


@dataclass
class SearchResult:
    """A finished search. history[g] is the best fitness after generation g (0: the initial population)."""

    best: RotationSpec
    best_fitness: float
    best_mix_weights: list[float] | None
    history: list[float]
    evaluations: int
    seconds: float
    top_k: list[Candidate]
    generations: int = 0
    converged: bool = False
    objective: str = "fit"

    def to_report(self) -> dict[str, Any]:
        """The search as JSON-able data (no tensors)."""
        return {
            "best": _describe(self.best, self.best_fitness, self.best_mix_weights),
            "objective": self.objective,
            "history": list(self.history),
            "evaluations": self.evaluations,
            "generations": self.generations,
            "converged": self.converged,
            "seconds": self.seconds,
            "top_k": [candidate.to_report() for candidate in self.top_k],
        }

    def apply(self, style: StyleSpec, rank: int = 0) -> StyleSpec:
        """`style` with the rank-th candidate's rotation (and mix weights, if they were searched)."""
        if not 0 <= rank < len(self.top_k):
            raise InputError(f"rank: {rank} is out of range; the search kept {len(self.top_k)} candidate(s), rank 0 is the best")
        candidate = self.top_k[rank]
        weights = candidate.mix_weights if candidate.mix_weights is not None else style.weights
        return replace(style, rotation=candidate.rotation, weights=list(weights))


def angle_separation(first: Sequence[float], second: Sequence[float]) -> float:
    """Degrees between two sets of angles: the Hausdorff distance on the circle (0..180).

    Sets, because a target does not depend on the order of its rotations;
    on the circle, because a turn by 0 and by 360 is the same turn.
    """

    def gap(a: float, b: float) -> float:
        return abs((a - b + 180.0) % 360.0 - 180.0)

    def one_way(xs: Sequence[float], ys: Sequence[float]) -> float:
        return max(min(gap(x, y) for y in ys) for x in xs)

    return max(one_way(first, second), one_way(second, first))


def select_distinct(candidates: Sequence[Candidate], count: int, min_separation: float) -> list[Candidate]:
    """The best candidates, best first, each at least `min_separation` degrees from those kept before it."""
    kept: list[Candidate] = []
    for candidate in sorted(candidates, key=lambda c: c.fitness):  # stable: ties keep evaluation order
        if all(angle_separation(candidate.rotation.angles, k.rotation.angles) >= min_separation for k in kept):
            kept.append(candidate)
            if len(kept) == count:
                break
    return kept


@dataclass(frozen=True)
class _Layout:
    """Where each searched parameter sits in a DE vector, and how to read one back."""

    rotations: int
    angle_range: tuple[float, float]
    search_rho: bool
    fixed_rho: float
    fusion: int  # searched fusion weights: K, or 0
    mix: int  # searched mix weights: one per style, or 0

    @classmethod
    def of(cls, settings: SearchSettings, styles: int) -> "_Layout":
        fusion = settings.rotations if settings.search_fusion_weights and settings.rotations > 1 else 0
        mix = styles if settings.search_mix_weights and styles > 1 else 0
        low, high = (float(v) for v in settings.angle_range)
        return cls(settings.rotations, (low, high), settings.search_rotation_weight, float(settings.rotation_weight), fusion, mix)

    @property
    def size(self) -> int:
        return self.rotations + int(self.search_rho) + self.fusion + self.mix

    def population(self, popsize: int) -> int:
        """Members per generation, as scipy counts them."""
        return max(5, popsize * self.size)

    def bounds(self) -> list[tuple[float, float]]:
        return (
            [self.angle_range] * self.rotations
            + [(0.0, 1.0)] * int(self.search_rho)
            + [WEIGHT_BOUNDS] * (self.fusion + self.mix)
        )

    def decode(self, vector: np.ndarray) -> tuple[RotationSpec, list[float] | None]:
        values = [float(v) for v in vector]
        angles, rest = values[: self.rotations], values[self.rotations :]
        rho = rest.pop(0) if self.search_rho else self.fixed_rho
        fusion, mix = rest[: self.fusion], rest[self.fusion :]
        rotation = RotationSpec(angles=angles, weights=fusion, rho=rho)
        return rotation, (normalize_weights(mix, self.mix, "mix weights") if mix else None)


class Proxy:
    """Everything a population shares, and the batched proxy run of a generation.

    Built once per search: the proxy-size content and its features, the
    extractor, the unrotated targets. `targets` makes one candidate's style
    targets; `run` optimises a whole generation as one batch. Public so that
    benchmarks can time a generation batched against one member at a time.
    """

    def __init__(
        self,
        model: VGGModel,
        content: torch.Tensor,
        style: StyleSpec,
        settings: SearchSettings,
        loss: StylizeSettings,
        device: torch.device,
    ) -> None:
        out_hw = loss.output_hw(tuple(content.shape[-2:]))
        try:
            self.hw = fit_size(out_hw[0], out_hw[1], settings.proxy_size)
        except InputError:
            raise InputError(
                f"proxy size: at {settings.proxy_size} px the {out_hw[1]}x{out_hw[0]} result would have a side under "
                f"{MIN_SIDE} px; use a larger proxy size"
            ) from None
        content = resize(content.float(), self.hw)
        if loss.preserve_color == "histogram":  # as stylize does, so the proxy sees the style the render will
            style = replace(style, images=[match_color(image, content) for image in style.images])
        self.style = replace(style, images=[image.float().to(device) for image in style.images], rotation=None)
        self.settings, self.loss, self.device = settings, loss, device
        self.content_layers, self.style_weights = layers_of(loss, model.architecture)
        self.architecture = model.architecture
        # The render's arithmetic (see precision.py), so the proxy ranks candidates as the render sees them.
        # Not channels_last on the CPU: every turned style is a new image size, and oneDNN builds NHWC
        # kernels per size (measured: a 50 px forward pass took 100 ms at a new size, 10 ms when seen before).
        self.precision = compute_dtype(loss.dtype, device)
        self.layers = loss.layers_needed()
        channels_last = prefers_channels_last(device) and device.type != "cpu"
        self.extractor = model.extractor(self.layers, device, channels_last, self.precision)
        self.content = content.to(device)
        with torch.no_grad():
            found = self.extractor(self.content)
            self.content_targets = {layer: found[layer].detach() for layer in self.content_layers}
        layers = list(self.style_weights)
        self.plain = compute_style_targets(self.extractor, self.style, layers, self.hw, device)
        # Gram mixing is linear, so searched mix weights can reuse each style's own unrotated targets.
        self.plain_by_style = (
            [compute_style_targets(self.extractor, replace(self.style, images=[image], weights=[1.0]), layers, self.hw, device)
             for image in self.style.images]
            if settings.search_mix_weights and len(self.style.images) > 1 and self.style.mode == "gram"
            else None
        )  # fmt: skip

    def targets(self, rotation: RotationSpec | None, mix: list[float] | None) -> dict[str, torch.Tensor]:
        """Style targets of one candidate, reusing the unrotated part where it does not depend on it."""
        spec = replace(self.style, rotation=rotation, weights=mix or self.style.weights)
        plain: Mapping[str, torch.Tensor] | None = self.plain
        if mix is not None:
            plain = None
            if self.plain_by_style is not None:
                plain = {
                    layer: sum(w * targets[layer] for w, targets in zip(spec.weights, self.plain_by_style))
                    for layer in self.style_weights
                }
        return compute_style_targets(self.extractor, spec, list(self.style_weights), self.hw, self.device, plain=plain)

    def run(
        self, targets: Sequence[Mapping[str, torch.Tensor]], should_stop: Callable[[], bool] | None
    ) -> OptimizationResult:
        """Optimise one proxy image per target set, all in one batch, from the content."""
        objective = Objective(
            extractor=self.extractor,
            content_targets=self.content_targets,
            style_targets={layer: torch.stack([t[layer] for t in targets]) for layer in self.style_weights},
            content_layer_weights={layer: 1.0 for layer in self.content_layers},
            style_layer_weights=self.style_weights,
            content_weight=float(self.loss.content_weight),
            style_weight=float(self.loss.style_weight),
            tv_weight=float(self.loss.tv_weight),
        )
        init = self.content.expand(len(targets), -1, -1, -1)
        return optimize_pixels(
            objective,
            init,
            self.settings.proxy_steps,
            "adam",
            float(self.settings.proxy_lr),
            should_stop=should_stop,
            backward_scale=FP16_LOSS_SCALE if self.precision == torch.float16 else 1.0,
        )

    @torch.no_grad()
    def content_features(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        found = self.extractor(images)
        return {layer: found[layer].float() for layer in self.content_layers}


def _scoring(
    proxy: Proxy, settings: SearchSettings, should_stop: Callable[[], bool] | None
) -> Callable[[OptimizationResult], torch.Tensor]:
    """The objective as a function of a finished proxy batch -> fitness per member (lower is better)."""
    if settings.objective == "fit":
        return lambda run: run.final["total"]
    tiny = torch.finfo(torch.float32).tiny
    reference = proxy.run([proxy.plain], should_stop)
    reference_features = proxy.content_features(reference.image)
    reference_style = reference.final["style"].clamp_min(tiny)

    def diverse(run: OptimizationResult) -> torch.Tensor:
        features = proxy.content_features(run.image)
        distance = torch.stack(
            [
                (features[layer] - reference_features[layer]).pow(2).flatten(1).mean(1)
                / reference_features[layer].pow(2).mean().clamp_min(tiny)
                for layer in features
            ]
        ).mean(0)
        excess = run.final["style"] / reference_style - (1.0 + float(settings.epsilon))
        return torch.where(excess <= 0, -distance, excess)

    return diverse


def search_rotation(
    model: VGGModel,
    content: torch.Tensor,
    style: StyleSpec,
    settings: SearchSettings,
    loss: StylizeSettings | None = None,
    device: torch.device | str = "cpu",
    on_generation: Callable[[GenerationInfo], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> SearchResult:
    """Search rotations of `style` (image mode) that suit `content` ([1, 3, H, W] in [0, 1]).

    `loss` supplies the layers and weights of the proxy runs (its size,
    steps and optimizer are the full render's and are not used here). Any
    rotation `style` already carries is replaced by the candidates'.
    Reproducible for a given seed and device. Raises StopRequested when
    `should_stop()` is true at a generation boundary or a proxy step.
    """
    settings.validate()
    loss = loss or StylizeSettings()
    loss.validate()
    if float(loss.style_weight) == 0:
        raise InputError("style weight: is 0, but the search changes only the style target; use a style weight > 0")
    check_image(content, "content")
    style.check_images()
    device = torch.device(device)
    with gradient_run(device, "during the rotation search; use a smaller popsize or proxy size"):
        return _search(model, content, style, settings, loss, device, on_generation, should_stop)


def _search(
    model: VGGModel,
    content: torch.Tensor,
    style: StyleSpec,
    settings: SearchSettings,
    loss: StylizeSettings,
    device: torch.device,
    on_generation: Callable[[GenerationInfo], None] | None,
    should_stop: Callable[[], bool] | None,
) -> SearchResult:
    from scipy.optimize import differential_evolution  # imported late: heavy, and only the search needs it

    started = time.perf_counter()
    layout = _Layout.of(settings, len(style.images))
    proxy = Proxy(model, content, style, settings, loss, device)
    check_fits(
        *proxy.hw,
        proxy.layers,
        "adam",
        device,
        batch=layout.population(settings.popsize),
        what="proxy size",
        architecture=proxy.architecture,
    )
    score = _scoring(proxy, settings, should_stop)
    # Every candidate keeps its proxy image (3 x proxy px^2 floats, about 0.1 MB at 96 px): the distinct
    # top-k can only be chosen at the end, since a later, better candidate can displace an earlier pick.
    evaluated: list[Candidate] = []
    history: list[float] = []

    def best() -> Candidate:
        return min(evaluated, key=lambda c: c.fitness)

    def evaluate(population: np.ndarray) -> np.ndarray:
        """scipy's vectorised objective: population is (parameters, members)."""
        members = [layout.decode(population[:, i]) for i in range(population.shape[1])]
        run = proxy.run([proxy.targets(rotation, mix) for rotation, mix in members], should_stop)
        fitness = score(run).double().cpu().numpy()
        for (rotation, mix), value, image in zip(members, fitness, run.image.float().cpu()):
            evaluated.append(Candidate(rotation, float(value), mix, image.unsqueeze(0)))
        history.append(best().fitness)
        return fitness

    def after_generation(intermediate_result: Any) -> None:
        """scipy's per-generation callback: report progress, then honour a stop request.

        scipy looks for the parameter name `intermediate_result`; its content is
        not needed, since `evaluated` already holds the best candidate and its image.
        """
        if on_generation is not None:
            leader = best()
            on_generation(
                GenerationInfo(
                    generation=len(history) - 1,
                    total=settings.generations,
                    best_fitness=leader.fitness,
                    best=leader.rotation,
                    preview=leader.image.clone,
                    evaluations=len(evaluated),
                    best_mix_weights=leader.mix_weights,
                )
            )
        if should_stop is not None and should_stop():
            raise StopRequested(f"stopped after generation {len(history) - 1} of {settings.generations}")

    outcome = differential_evolution(
        evaluate,
        layout.bounds(),
        popsize=settings.popsize,
        maxiter=settings.generations,
        tol=CONVERGENCE_TOL,
        seed=settings.seed,
        polish=False,
        vectorized=True,
        updating="deferred",
        callback=after_generation,
    )
    leader = best()
    return SearchResult(
        best=leader.rotation,
        best_fitness=leader.fitness,
        best_mix_weights=leader.mix_weights,
        history=history,
        evaluations=len(evaluated),
        seconds=time.perf_counter() - started,
        top_k=select_distinct(evaluated, settings.top_k, settings.min_separation),
        generations=len(history) - 1,
        converged=bool(outcome.success),
        objective=settings.objective,
    )
