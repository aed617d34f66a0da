"""The optimisation loop: pixels of the generated image, Adam or L-BFGS.

`stylize` is the whole job for one content image; `optimize_pixels` is the
loop itself over a batch of images, each with its own targets, which the
rotation search reuses. Neither knows about terminals or ComfyUI: progress
goes out through `on_step`, and `should_stop` is polled every step.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field

import torch

from .errors import InputError, NonFiniteLossError, OutOfMemoryError, StopRequested
from .images import check_side, fit_size, keep_luminance_only, match_color, resize
from .losses import tv_loss, weighted_content_loss, weighted_style_loss
from .metrics import LossRecord, RunMetrics
from .style import StyleSpec, compute_style_targets
from .vgg import FeatureExtractor, VGGModel, parse_layers

OPTIMIZERS = ("lbfgs", "adam")
INIT_CHOICES = ("content", "noise", "style")
COLOR_CHOICES = ("none", "luminance", "histogram")
DEFAULT_CONTENT_LAYERS = ("relu4_2",)
DEFAULT_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
DEFAULT_LR = {"lbfgs": 1.0, "adam": 0.02}
MAX_STEPS = 100_000


@dataclass
class StylizeSettings:
    """Every knob of a run; README's table explains each default and where it comes from."""

    size: int = 512
    exact: tuple[int, int] | None = None  # (height, width); overrides size
    steps: int = 300
    optimizer: str = "lbfgs"
    lr: float | None = None  # None: 1.0 for L-BFGS, 0.02 for Adam
    content_weight: float = 1.0
    style_weight: float = 1e6
    tv_weight: float = 0.0
    content_layers: Sequence[str] = DEFAULT_CONTENT_LAYERS
    style_layers: Sequence[str] = DEFAULT_STYLE_LAYERS
    style_layer_weights: Sequence[float] | None = None  # None: 1 for each style layer
    init: str = "content"
    seed: int = 0
    preserve_color: str = "none"
    history_every: int = 0  # 0: about 50 points over the run

    def validate(self) -> None:
        """Refuse values that cannot give a meaningful run, naming the setting."""
        if self.exact is not None:
            check_side(int(self.exact[0]), "exact height")
            check_side(int(self.exact[1]), "exact width")
        else:
            check_side(int(self.size), "size")
        if not isinstance(self.steps, int) or not 1 <= self.steps <= MAX_STEPS:
            raise InputError(f"steps: {self.steps} is out of range; use 1 to {MAX_STEPS}")
        if self.optimizer not in OPTIMIZERS:
            raise InputError(f"optimizer: {self.optimizer!r} is not one of {', '.join(OPTIMIZERS)}")
        lr = self.learning_rate
        if not math.isfinite(lr) or lr <= 0:
            raise InputError(f"lr: {self.lr} must be a positive finite number (e.g. {DEFAULT_LR[self.optimizer]})")
        for name in ("content_weight", "style_weight", "tv_weight"):
            value = float(getattr(self, name))
            if not math.isfinite(value) or value < 0:
                raise InputError(f"{name.replace('_', ' ')}: {value} must be a finite number >= 0")
        if self.content_weight == 0 and self.style_weight == 0:
            raise InputError("content weight and style weight are both 0; nothing would be optimised")
        parse_layers(self.content_layers, "content layers")
        style_layers = parse_layers(self.style_layers, "style layers")
        if self.style_layer_weights is not None:
            weights = [float(w) for w in self.style_layer_weights]
            if len(weights) != len(style_layers):
                raise InputError(
                    f"style layer weights: {len(weights)} given for {len(style_layers)} style layers; give one per layer"
                )
            if any(not math.isfinite(w) or w < 0 for w in weights) or sum(weights) == 0:
                raise InputError(f"style layer weights: {weights} must be finite, >= 0 and not all 0")
        if self.init not in INIT_CHOICES:
            raise InputError(f"init: {self.init!r} is not one of {', '.join(INIT_CHOICES)} (or give an init image)")
        if self.preserve_color not in COLOR_CHOICES:
            raise InputError(f"preserve color: {self.preserve_color!r} is not one of {', '.join(COLOR_CHOICES)}")

    @property
    def learning_rate(self) -> float:
        return float(DEFAULT_LR[self.optimizer] if self.lr is None else self.lr)

    def output_hw(self, content_hw: tuple[int, int]) -> tuple[int, int]:
        """(H, W) of the result: the exact size, or the content's aspect at `size`."""
        if self.exact is not None:
            return int(self.exact[0]), int(self.exact[1])
        return fit_size(content_hw[0], content_hw[1], int(self.size))

    def style_weights_by_layer(self) -> dict[str, float]:
        layers = parse_layers(self.style_layers, "style layers")
        weights = self.style_layer_weights or [1.0] * len(layers)
        return {layer: float(w) for layer, w in zip(layers, weights)}


@dataclass
class StepInfo:
    """What `on_step` hears after each step."""

    step: int  # steps done so far, 1..total
    total: int
    losses: LossRecord  # of the image this step started from
    preview: Callable[[], torch.Tensor]  # current image, [1, 3, H, W] on the CPU


@dataclass
class Objective:
    """Weighted content + style + TV loss of a batch against fixed targets.

    Targets may carry a batch dimension (one target per image, as the
    rotation search uses) or not (one target shared by all).
    """

    extractor: FeatureExtractor
    content_targets: Mapping[str, torch.Tensor]
    style_targets: Mapping[str, torch.Tensor]
    content_layer_weights: Mapping[str, float]
    style_layer_weights: Mapping[str, float]
    content_weight: float
    style_weight: float
    tv_weight: float

    def __call__(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-image loss terms, each [B]; 'total' is their sum."""
        features = self.extractor(image)
        zeros = image.new_zeros(image.shape[0])
        content = (
            self.content_weight * weighted_content_loss(features, self.content_targets, self.content_layer_weights)
            if self.content_weight
            else zeros
        )
        style = (
            self.style_weight * weighted_style_loss(features, self.style_targets, self.style_layer_weights)
            if self.style_weight
            else zeros
        )
        tv = self.tv_weight * tv_loss(image) if self.tv_weight else zeros
        return {"content": content, "style": style, "tv": tv, "total": content + style + tv}


def _record(step: int, terms: Mapping[str, torch.Tensor]) -> LossRecord:
    """Batch-mean loss terms as plain floats."""
    values = {key: float(terms[key].detach().float().mean()) for key in ("content", "style", "tv", "total")}
    return LossRecord(step=step, **values)


@dataclass
class OptimizationResult:
    """The optimised batch and its losses."""

    image: torch.Tensor
    history: list[LossRecord]
    final: dict[str, torch.Tensor]  # per-image loss terms of the returned image
    seconds: float = 0.0
    steps_done: int = 0


def optimize_pixels(
    objective: Objective,
    init: torch.Tensor,
    steps: int,
    optimizer: str = "adam",
    lr: float = 0.02,
    on_step: Callable[[StepInfo], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    history_every: int = 0,
) -> OptimizationResult:
    """Optimise the pixels of `init` ([B, 3, H, W]) to lower the objective.

    Pixels are clamped to [0, 1] after every step. A NaN or infinite loss
    stops the run at once with NonFiniteLossError; `should_stop` returning
    True raises StopRequested. L-BFGS makes one iteration per step, so its
    step count equals its number of loss evaluations.
    """
    every = history_every or max(1, steps // 50)
    image = init.detach().clone().contiguous().requires_grad_(True)
    if optimizer == "lbfgs":
        opt: torch.optim.Optimizer = torch.optim.LBFGS([image], lr=lr, max_iter=1, history_size=50)
    else:
        opt = torch.optim.Adam([image], lr=lr)
    history: list[LossRecord] = []
    last: dict[str, torch.Tensor] = {}
    # L-BFGS's tolerances are absolute, so it sees the loss divided by its
    # first value: the same run whatever the scale of the loss weights.
    loss_scale: list[torch.Tensor] = []

    def closure() -> torch.Tensor:
        opt.zero_grad(set_to_none=True)
        terms = objective(image)
        total = terms["total"].sum()
        if optimizer == "lbfgs":
            if not loss_scale:
                first = total.detach()
                loss_scale.append(1.0 / first if torch.isfinite(first) and first > 0 else torch.ones_like(first))
            total = total * loss_scale[0]
        total.backward()
        last.clear()
        last.update({k: v.detach() for k, v in terms.items()})
        return total

    def preview() -> torch.Tensor:
        return image.detach()[:1].float().cpu().clone()

    started = time.perf_counter()
    for step in range(steps):
        if should_stop is not None and should_stop():
            raise StopRequested(f"stopped at step {step} of {steps}")
        if optimizer == "lbfgs":
            opt.step(closure)
        else:
            closure()
            opt.step()
        record = _record(step, last)
        if not math.isfinite(record.total):
            raise NonFiniteLossError(
                f"loss became {record.total} at step {step}; lower the learning rate (lr) or the style weight"
            )
        if step % every == 0:
            history.append(record)
        with torch.no_grad():
            image.clamp_(0, 1)
        if on_step is not None:
            on_step(StepInfo(step=step + 1, total=steps, losses=record, preview=preview))
    with torch.no_grad():
        final = {k: v.detach() for k, v in objective(image).items()}
    history.append(_record(steps, final))
    return OptimizationResult(
        image=image.detach(), history=history, final=final, seconds=time.perf_counter() - started, steps_done=steps
    )


@dataclass
class StylizeResult:
    """A finished run: the image ([1, 3, H, W] on the CPU, in [0, 1]) and its metrics."""

    image: torch.Tensor
    metrics: RunMetrics = field(default_factory=RunMetrics)


def _is_out_of_memory(exc: BaseException) -> bool:
    if isinstance(exc, torch.OutOfMemoryError):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


def _initial_image(
    settings: StylizeSettings,
    content: torch.Tensor,
    style: StyleSpec,
    init_image: torch.Tensor | None,
) -> torch.Tensor:
    size = tuple(content.shape[-2:])
    if init_image is not None:
        return resize(init_image.float(), size)
    if settings.init == "noise":
        generator = torch.Generator().manual_seed(int(settings.seed))
        return torch.rand(content.shape, generator=generator, dtype=torch.float32)
    if settings.init == "style":
        return resize(style.images[0].float(), size)
    return content.clone()


def stylize(
    model: VGGModel,
    content: torch.Tensor,
    style: StyleSpec,
    settings: StylizeSettings | None = None,
    device: torch.device | str = "cpu",
    init_image: torch.Tensor | None = None,
    on_step: Callable[[StepInfo], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> StylizeResult:
    """Neural style transfer of one content image ([1, 3, H, W] in [0, 1]).

    Runs with autograd on even when called under inference mode (ComfyUI),
    never changes the tensors it is given, and returns the result on the CPU.
    An out-of-memory failure is turned into OutOfMemoryError after releasing
    the memory the run held.
    """
    settings = settings or StylizeSettings()
    settings.validate()
    device = torch.device(device)
    started = time.perf_counter()
    try:
        with torch.inference_mode(False), torch.enable_grad():
            result = _run(model, content.clone(), style, settings, device, init_image, on_step, should_stop)
    except (RuntimeError, torch.OutOfMemoryError) as exc:
        if not _is_out_of_memory(exc):
            raise
        if device.type == "cuda":
            torch.cuda.empty_cache()
        raise OutOfMemoryError(
            f"out of memory on {device} at size {settings.exact or settings.size}; use a smaller size or fewer style layers"
        ) from None
    result.metrics.seconds = time.perf_counter() - started
    return result


def _run(
    model: VGGModel,
    content: torch.Tensor,
    style: StyleSpec,
    settings: StylizeSettings,
    device: torch.device,
    init_image: torch.Tensor | None,
    on_step: Callable[[StepInfo], None] | None,
    should_stop: Callable[[], bool] | None,
) -> StylizeResult:
    if content.dim() != 4 or content.shape[0] != 1 or content.shape[1] != 3:
        raise InputError(f"content: expected one RGB image [1, 3, H, W], got shape {tuple(content.shape)}")
    output_hw = settings.output_hw(tuple(content.shape[-2:]))
    content = resize(content.float(), output_hw)
    if settings.preserve_color == "histogram":
        style = StyleSpec(
            images=[match_color(image, content) for image in style.images],
            weights=style.weights,
            mode=style.mode,
            scale=style.scale,
        )
    content_layers = parse_layers(settings.content_layers, "content layers")
    style_weights = settings.style_weights_by_layer()
    extractor = model.extractor(list(dict.fromkeys([*content_layers, *style_weights])), device)
    with torch.no_grad():
        content_features = extractor(content.to(device))
        content_targets = {layer: content_features[layer].detach() for layer in content_layers}
        del content_features
    style_targets = compute_style_targets(extractor, style, list(style_weights), output_hw, device)
    objective = Objective(
        extractor=extractor,
        content_targets=content_targets,
        style_targets=style_targets,
        content_layer_weights={layer: 1.0 for layer in content_layers},
        style_layer_weights=style_weights,
        content_weight=float(settings.content_weight),
        style_weight=float(settings.style_weight),
        tv_weight=float(settings.tv_weight),
    )
    init = _initial_image(settings, content, style, init_image).to(device)
    run = optimize_pixels(
        objective,
        init,
        settings.steps,
        optimizer=settings.optimizer,
        lr=settings.learning_rate,
        on_step=on_step,
        should_stop=should_stop,
        history_every=settings.history_every,
    )
    image = run.image.float().cpu()
    if settings.preserve_color == "luminance":
        image = keep_luminance_only(image, content)
    final = _record(settings.steps, run.final)
    params = asdict(settings)
    params.update(
        lr=settings.learning_rate,
        content_layers=list(content_layers),
        style_layers=list(style_weights),
        style_layer_weights=list(style_weights.values()),
        style_mix_weights=list(style.weights),
        style_mix_mode=style.mode,
        style_scale=style.scale,
        pooling=model.pooling,
        weights_file=model.source,
        init=settings.init if init_image is None else "image",
        device=str(device),
    )
    metrics = RunMetrics(
        steps=run.steps_done,
        seconds_per_step=run.seconds / max(1, run.steps_done),
        device=str(device),
        size=list(output_hw),
        final={k: getattr(final, k) for k in ("content", "style", "tv", "total")},
        history=[asdict(record) for record in run.history],
        params=params,
    )
    return StylizeResult(image=image, metrics=metrics)
