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

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from .checks import normalize_weights
from .errors import InputError, StopRequested
from .geometry import MIN_SIDE, fit_size
from .guard import gradient_run
from .run_setup import Workload, prepare_run
from .optimize import OptimizationResult, optimize_pixels
from .rotation import RotationSpec
from .settings import LossSettings, RunSettings, SearchSettings
from .style import StyleSpec
from .vgg import VGGModel

# Searched fusion and mix weights stay above zero so that a set never sums to 0.
WEIGHT_BOUNDS = (0.05, 1.0)
# DE stops early once the population's fitness spread is this fraction of its mean.
CONVERGENCE_TOL = 0.01


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
    region: int = 0  # SearchSettings.region: 0 every style's rotation, n only the n-th style's

    def to_report(self) -> dict[str, Any]:
        """The search as JSON-able data (no tensors)."""
        return {
            "best": _describe(self.best, self.best_fitness, self.best_mix_weights),
            "objective": self.objective,
            "region": self.region,
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
        weights = candidate.mix_weights if candidate.mix_weights is not None else style.mix_weights
        turned = style.with_rotation(candidate.rotation, self.region - 1 if self.region else None)
        return replace(turned, mix_weights=list(weights))


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
        return rotation, (normalize_weights(mix, self.mix, "style_weights", per="style image") if mix else None)


class Proxy:
    """Everything a population shares, and the batched proxy run of a generation.

    Built once per search: the run set-up at the proxy size (run_setup.prepare_run,
    as `stylize` makes it, in the render's arithmetic and colours), the content's
    features, the unrotated targets.
    `targets` makes one candidate's style targets; `run` optimises a whole
    generation as one batch. Public so that benchmarks can time a generation
    batched against one member at a time.
    """

    def __init__(
        self,
        model: VGGModel,
        content: torch.Tensor,
        style: StyleSpec,
        settings: SearchSettings,
        loss: LossSettings,
        device: torch.device,
        render: RunSettings | None = None,
    ) -> None:
        out_hw = render.output_hw(tuple(content.shape[-2:])) if render is not None else tuple(content.shape[-2:])
        try:
            self.hw = fit_size(out_hw[0], out_hw[1], settings.proxy_size)
        except InputError:
            raise InputError(
                f"at {settings.proxy_size} px the {out_hw[1]}x{out_hw[0]} result would have a side under "
                f"{MIN_SIDE} px; use a larger proxy size",
                "proxy_size",
            ) from None
        if settings.search_mix_weights and style.regional:
            raise InputError(
                "cannot be searched for a regional style: its weights scale regions, not a blend", "search_mix_weights"
            )
        self.settings = settings
        # None: every style turns with the candidate; an index: only that style, the others keep their rotations.
        self.style_index = settings.region - 1 if settings.region else None
        if settings.region > len(style.images):
            raise InputError(f"{settings.region} is not one of the recipe's {len(style.images)} style(s)", "region")
        # The render's arithmetic and colours, so the proxy ranks candidates as the render sees them;
        # Adam, never tiled. Not channels_last on the CPU: every turned style is a new image size, and
        # oneDNN builds NHWC kernels per size, which costs far more than the layout saves here.
        proxy_run = replace(render or RunSettings(), optimizer="adam", tile=0)
        population = _Layout.of(settings, len(style.images)).population(settings.popsize)
        self.setup = prepare_run(
            model, content, style.with_rotation(None, self.style_index), loss, proxy_run, device,
            Workload(self.hw, population, "proxy_size"), channels_last=False if device.type == "cpu" else None,
        )  # fmt: skip
        self.content_targets = self.setup.content_targets(self.setup.content)
        self.plain = self.setup.style_targets(self.hw)
        # Gram mixing is linear, so searched mix weights can reuse each style's own unrotated targets.
        spec = self.setup.style
        self.plain_by_style = (
            [self.setup.style_targets(self.hw, replace(spec, images=[image], mix_weights=[1.0], rotation_per_style=None)) for image in spec.images]
            if settings.search_mix_weights and len(spec.images) > 1 and spec.mode == "gram"
            else None
        )

    def targets(self, rotation: RotationSpec | None, mix: list[float] | None) -> dict[str, torch.Tensor]:
        """Style targets of one candidate, reusing the unrotated part where it does not depend on it."""
        base = self.setup.style
        spec = replace(base.with_rotation(rotation, self.style_index), mix_weights=mix or base.mix_weights)
        plain: Mapping[str, torch.Tensor] | None = self.plain
        if mix is not None:
            plain = None
            if self.plain_by_style is not None:
                plain = {
                    layer: sum(w * targets[layer] for w, targets in zip(spec.mix_weights, self.plain_by_style))
                    for layer in self.setup.style_layer_weights
                }
        return self.setup.style_targets(self.hw, spec, plain=plain)

    def run(
        self, targets: Sequence[Mapping[str, torch.Tensor]], should_stop: Callable[[], bool] | None
    ) -> OptimizationResult:
        """Optimise one proxy image per target set, all in one batch, from the content."""
        stacked = {layer: torch.stack([t[layer] for t in targets]) for layer in self.setup.style_layer_weights}
        init = self.setup.content.to(self.setup.device).expand(len(targets), -1, -1, -1)
        return optimize_pixels(
            self.setup.objective(self.content_targets, stacked, self.hw),
            init,
            self.settings.proxy_steps,
            "adam",
            float(self.settings.proxy_lr),
            should_stop=should_stop,
            backward_scale=self.setup.backward_scale,
        )

    def content_features(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        return {layer: features.float() for layer, features in self.setup.content_targets(images).items()}


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
    settings: SearchSettings | None = None,
    loss: LossSettings | None = None,
    device: torch.device | str = "cpu",
    on_generation: Callable[[GenerationInfo], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    *,
    render: RunSettings | None = None,
) -> SearchResult:
    """Search rotations of `style` (image mode) that suit `content` ([1, 3, H, W] in [0, 1]).

    `loss` supplies the layers and weights of the proxy runs. `render`: the
    settings the result will be rendered with, so that the proxy sees what
    the render will: their dtype and colour handling, and their result's
    aspect (default: the content's own, in the default arithmetic).
    Any rotation `style` already carries is replaced by the candidates'.
    Reproducible for a given seed and device. Raises StopRequested when
    `should_stop()` is true at a generation boundary or a proxy step.
    """
    settings = settings or SearchSettings()
    loss = loss or LossSettings()
    if loss.style_weight == 0:
        raise InputError("is 0, but the search changes only the style target; use a style weight > 0", "style_weight")
    device = torch.device(device)
    with gradient_run(device, "during the rotation search; use a smaller popsize or proxy size"):
        started = time.perf_counter()
        proxy = Proxy(model, content, style, settings, loss, device, render)
        return _search(settings, _Layout.of(settings, len(style.images)), proxy, started, on_generation, should_stop)


def _search(
    settings: SearchSettings,
    layout: _Layout,
    proxy: Proxy,
    started: float,
    on_generation: Callable[[GenerationInfo], None] | None,
    should_stop: Callable[[], bool] | None,
) -> SearchResult:
    from scipy.optimize import differential_evolution  # imported late: heavy, and only the search needs it

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
        seed=settings.seed % 2**32,  # scipy takes 32-bit seeds
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
        region=settings.region,
    )
