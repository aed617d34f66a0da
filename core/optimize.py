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
from dataclasses import asdict, dataclass, field, replace

import torch

from .errors import InputError, NonFiniteLossError, StopRequested
from .images import check_image, check_side, fit_size, keep_luminance_only, match_color, resize
from .losses import content_loss, gram_matrix, mean_square, style_loss, tv_loss
from .memory import check_fits, gradient_run
from .metrics import LossRecord, RunMetrics
from .precision import DTYPE_CHOICES, FP16_LOSS_SCALE, compute_dtype, dtype_name, prefers_channels_last
from .scales import ScalesSetting, parse_scales, scale_ladder, split_steps
from .style import StyleSpec, compute_style_targets
from .vgg import Architecture, FeatureExtractor, VGGModel, parse_layers

OPTIMIZERS = ("adam", "lbfgs")
INIT_CHOICES = ("content", "noise", "style")
COLOR_CHOICES = ("none", "luminance", "histogram")
DEFAULT_CONTENT_LAYERS = ("relu4_2",)
DEFAULT_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
DEFAULT_LR = {"lbfgs": 1.0, "adam": 0.02}
MAX_STEPS = 100_000
# Each loss term is a relative error of order 1 (losses.py); a weight 1e4 times another already
# leaves that other term without effect, so larger ones are refused as a likely old-scale value.
MAX_LOSS_WEIGHT = 1e4


@dataclass
class StylizeSettings:
    """Every knob of a run; README's table explains each default and where it comes from."""

    size: int = 512
    exact: tuple[int, int] | None = None  # (height, width); overrides size
    steps: int = 300
    optimizer: str = "adam"
    lr: float | None = None  # None: DEFAULT_LR of the optimizer
    content_weight: float = 1.0
    style_weight: float = 1.0
    tv_weight: float = 0.0
    content_layers: Sequence[str] = DEFAULT_CONTENT_LAYERS
    style_layers: Sequence[str] = DEFAULT_STYLE_LAYERS
    style_layer_weights: Sequence[float] | None = None  # None: 1 for each style layer
    init: str = "content"
    seed: int = 0
    preserve_color: str = "none"
    history_every: int = 0  # 0: about 50 points over the run
    dtype: str = "auto"  # auto | fp32 | bf16 | fp16, see precision.py
    scales: ScalesSetting = "off"  # auto | off | longest sides of the coarser scales, see scales.py

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
            if value > MAX_LOSS_WEIGHT:
                raise InputError(
                    f"{name.replace('_', ' ')}: {value:g} is above {MAX_LOSS_WEIGHT:g}; the losses are relative to "
                    f"their targets (README), so content and style weights near 1 balance them (style weights "
                    f"like 1e6 belonged to the earlier absolute losses)"
                )
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
        if self.dtype not in DTYPE_CHOICES:
            raise InputError(f"dtype: {self.dtype!r} is not one of {', '.join(DTYPE_CHOICES)}")
        parse_scales(self.scales)

    @property
    def learning_rate(self) -> float:
        return float(DEFAULT_LR[self.optimizer] if self.lr is None else self.lr)

    def output_hw(self, content_hw: tuple[int, int]) -> tuple[int, int]:
        """(H, W) of the result: the exact size, or the content's aspect at `size`."""
        if self.exact is not None:
            return int(self.exact[0]), int(self.exact[1])
        return fit_size(content_hw[0], content_hw[1], int(self.size))

    def layers_needed(self) -> list[str]:
        """Content layers, then style layers, each once: what the extractor must return."""
        content = parse_layers(self.content_layers, "content layers")
        return list(dict.fromkeys([*content, *parse_layers(self.style_layers, "style layers")]))

    def style_weights_by_layer(self) -> dict[str, float]:
        layers = parse_layers(self.style_layers, "style layers")
        weights = self.style_layer_weights or [1.0] * len(layers)
        return {layer: float(w) for layer, w in zip(layers, weights)}


def layers_of(settings: StylizeSettings, architecture: Architecture) -> tuple[list[str], dict[str, float]]:
    """The content layers and the style layers' weights, checked against the loaded model's architecture."""
    content_layers = architecture.parse_layers(settings.content_layers, "content layers")
    style_weights = settings.style_weights_by_layer()
    architecture.parse_layers(list(style_weights), "style layers")
    return content_layers, style_weights


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
    rotation search uses) or not (one target shared by all). Each layer's
    term is relative to its target's mean square (losses.py), taken once here.
    """

    extractor: FeatureExtractor
    content_targets: Mapping[str, torch.Tensor]
    style_targets: Mapping[str, torch.Tensor]
    content_layer_weights: Mapping[str, float]
    style_layer_weights: Mapping[str, float]
    content_weight: float
    style_weight: float
    tv_weight: float
    content_scales: dict[str, torch.Tensor] = field(init=False, repr=False)
    style_scales: dict[str, torch.Tensor] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.content_scales = {layer: mean_square(t, 3) for layer, t in self.content_targets.items()}
        self.style_scales = {layer: mean_square(t, 2) for layer, t in self.style_targets.items()}

    def __call__(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-image loss terms, each [B]; 'total' is their sum.

        Each layer's terms are taken as soon as the trunk yields the layer,
        which keeps the backward pass's peak memory down (FeatureExtractor.stream).
        """
        content_terms: list[torch.Tensor] = []
        style_terms: list[torch.Tensor] = []
        for layer, features in self.extractor.stream(image):
            if self.content_weight and layer in self.content_layer_weights:
                weight = self.content_layer_weights[layer]
                content_terms.append(
                    weight * content_loss(features, self.content_targets[layer], self.content_scales[layer])
                )
            if self.style_weight and layer in self.style_layer_weights:
                weight = self.style_layer_weights[layer]
                style_terms.append(
                    weight * style_loss(gram_matrix(features), self.style_targets[layer], self.style_scales[layer])
                )
        zeros = image.new_zeros(image.shape[0])
        content = self.content_weight * torch.stack(content_terms).sum(0) if content_terms else zeros
        style = self.style_weight * torch.stack(style_terms).sum(0) if style_terms else zeros
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
    moments: dict[str, torch.Tensor] | None = None  # Adam's state at the end, to carry to the next scale


def optimize_pixels(
    objective: Objective,
    init: torch.Tensor,
    steps: int,
    optimizer: str = "adam",
    lr: float = DEFAULT_LR["adam"],
    on_step: Callable[[StepInfo], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    history_every: int = 0,
    first_step: int = 0,
    total_steps: int | None = None,
    backward_scale: float = 1.0,
    moments: Mapping[str, torch.Tensor] | None = None,
) -> OptimizationResult:
    """Optimise the pixels of `init` ([B, 3, H, W]) to lower the objective.

    Adam's pixels are clamped to [0, 1] after every step; L-BFGS's only at
    the end (as in Gatys et al.'s and neural-style's runs), since clamping
    between its iterations breaks the curvature pairs it builds its steps
    from (on random weights: losses jumping 13 -> 100 -> 18). A NaN or infinite loss
    stops the run at once with NonFiniteLossError; `should_stop` returning
    True raises StopRequested. L-BFGS makes one iteration per step, so its
    step count equals its number of loss evaluations.

    first_step / total_steps: where these steps sit in a longer run (the
    scales of a coarse-to-fine run), so that step numbers in the history,
    `on_step` and error messages count over the whole run. backward_scale:
    the backward pass runs on the loss normalised to start at this value
    and the gradient is scaled back, so that fp16 gradients do not flush to
    zero (precision.FP16_LOSS_SCALE); 1 leaves the gradient untouched.
    """
    total_steps = steps if total_steps is None else total_steps
    every = history_every or max(1, total_steps // 50)
    image = init.detach().clone().contiguous().requires_grad_(True)
    if optimizer == "lbfgs":
        opt: torch.optim.Optimizer = torch.optim.LBFGS([image], lr=lr, max_iter=1, history_size=50)
    else:
        opt = torch.optim.Adam([image], lr=lr)
        if moments is not None:
            # the step count stays where Adam keeps it (a CPU scalar unless capturable)
            opt.state[image] = {key: value.to(image.device) if value.dim() else value for key, value in moments.items()}
    history: list[LossRecord] = []
    last: dict[str, torch.Tensor] = {}
    # L-BFGS's tolerances are absolute, so it sees the loss divided by its
    # first value: the same run whatever the scale of the loss weights.
    loss_scale: list[torch.Tensor] = []

    def closure() -> torch.Tensor:
        opt.zero_grad(set_to_none=True)
        terms = objective(image)
        total = terms["total"].sum()
        if not loss_scale:
            first = total.detach()
            loss_scale.append(1.0 / first if torch.isfinite(first) and first > 0 else torch.ones_like(first))
        if optimizer == "lbfgs":
            total = total * loss_scale[0]
        if backward_scale == 1.0:
            total.backward()
        else:
            boost = backward_scale * (1.0 if optimizer == "lbfgs" else loss_scale[0])
            (total * boost).backward()
            image.grad.div_(boost)
        last.clear()
        last.update({k: v.detach() for k, v in terms.items()})
        return total

    def preview() -> torch.Tensor:
        return image.detach()[:1].float().cpu().clamp(0, 1)

    started = time.perf_counter()
    for step in range(first_step, first_step + steps):
        if should_stop is not None and should_stop():
            raise StopRequested(f"stopped at step {step} of {total_steps}")
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
        if optimizer != "lbfgs":  # L-BFGS: clamping between iterations corrupts its curvature pairs
            with torch.no_grad():
                image.clamp_(0, 1)
        if on_step is not None:
            on_step(StepInfo(step=step + 1, total=total_steps, losses=record, preview=preview))
    with torch.no_grad():
        image.clamp_(0, 1)
        final = {k: v.detach() for k, v in objective(image).items()}
    history.append(_record(first_step + steps, final))
    state = opt.state.get(image) if optimizer == "adam" else None
    return OptimizationResult(
        image=image.detach(),
        history=history,
        final=final,
        seconds=time.perf_counter() - started,
        steps_done=steps,
        moments={key: value.detach() for key, value in state.items()} if state else None,
    )


def carry_moments(moments: Mapping[str, torch.Tensor] | None, size: tuple[int, int]) -> dict[str, torch.Tensor] | None:
    """Adam's state resized to the next scale: moments interpolated bilinearly (which keeps the second
    moment non-negative), the step count kept so that bias correction does not start again."""
    if moments is None:
        return None
    carried: dict[str, torch.Tensor] = {}
    for key, value in moments.items():
        if value.dim() == 4:
            value = torch.nn.functional.interpolate(value, size=size, mode="bilinear", align_corners=False)
        carried[key] = value
    return carried


@dataclass
class StylizeResult:
    """A finished run: the image ([1, 3, H, W] on the CPU, in [0, 1]) and its metrics."""

    image: torch.Tensor
    metrics: RunMetrics = field(default_factory=RunMetrics)


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


def build_objective(
    extractor: FeatureExtractor, content: torch.Tensor, style: StyleSpec, settings: StylizeSettings, device: torch.device
) -> Objective:
    """The loss of `settings` for images the size of `content`, with its targets computed once, here.

    `content` is the content image already at the working size; the style
    targets are made for that size too (style.scale is relative to it).
    """
    content_layers, style_weights = layers_of(settings, extractor.architecture)
    with torch.no_grad():
        found = extractor(content.to(device))
        content_targets = {layer: found[layer].detach() for layer in content_layers}
        del found
    style_targets = compute_style_targets(extractor, style, list(style_weights), tuple(content.shape[-2:]), device)
    return Objective(
        extractor=extractor,
        content_targets=content_targets,
        style_targets=style_targets,
        content_layer_weights={layer: 1.0 for layer in content_layers},
        style_layer_weights=style_weights,
        content_weight=float(settings.content_weight),
        style_weight=float(settings.style_weight),
        tv_weight=float(settings.tv_weight),
    )


def _previews_at(
    on_step: Callable[[StepInfo], None] | None, output_hw: tuple[int, int]
) -> Callable[[StepInfo], None] | None:
    """`on_step` whose previews are upsampled to the result's size, so a coarse scale looks like the run's image."""
    if on_step is None:
        return None

    def forward(info: StepInfo) -> None:
        on_step(replace(info, preview=lambda: resize(info.preview(), output_hw)))

    return forward


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
    hint = f"at size {settings.exact or settings.size}; use a smaller size or fewer style layers"
    with gradient_run(device, hint):
        result = _run(model, content.clone(), style, settings, device, init_image, on_step, should_stop)
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
    check_image(content, "content")
    style.check_images()
    if init_image is not None:
        check_image(init_image, "init image")
    output_hw = settings.output_hw(tuple(content.shape[-2:]))
    content_layers, style_weights = layers_of(settings, model.architecture)
    layers = settings.layers_needed()
    check_fits(*output_hw, layers, settings.optimizer, device, architecture=model.architecture)
    content = resize(content.float(), output_hw)
    if settings.preserve_color == "histogram":
        style = replace(style, images=[match_color(image, content) for image in style.images])
    precision = compute_dtype(settings.dtype, device)
    channels_last = prefers_channels_last(device, precision)
    extractor = model.extractor(layers, device, channels_last, precision)
    ladder = scale_ladder(output_hw, settings.scales)
    plan = [(hw, steps) for hw, steps in zip(ladder, split_steps(ladder, settings.steps)) if steps > 0]
    # Each scale starts from the previous one's result upsampled; the first from the chosen init.
    image = _initial_image(settings, resize(content, plan[0][0]), style, init_image)
    history: list[LossRecord] = []
    scales: list[dict[str, object]] = []
    done, seconds = 0, 0.0
    moments: dict[str, torch.Tensor] | None = None
    for index, (hw, steps) in enumerate(plan):
        run = optimize_pixels(
            build_objective(extractor, resize(content, hw), style, settings, device),
            resize(image, hw).to(device),
            steps,
            optimizer=settings.optimizer,
            lr=settings.learning_rate,
            on_step=on_step if hw == output_hw else _previews_at(on_step, output_hw),
            should_stop=should_stop,
            history_every=settings.history_every,
            first_step=done,
            total_steps=settings.steps,
            backward_scale=FP16_LOSS_SCALE if precision == torch.float16 else 1.0,
            moments=carry_moments(moments, hw),
        )
        moments = run.moments
        # A coarse scale's closing record would repeat the step the next scale starts with.
        history += run.history if index == len(plan) - 1 else run.history[:-1]
        scales.append({"size": list(hw), "steps": steps, "first_step": done, "seconds": run.seconds})
        image, done, seconds = run.image, done + steps, seconds + run.seconds
    image = image.float().cpu()
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
        style_rotation=asdict(style.rotation) if style.rotation is not None else None,
        **model.describe(),
        init=settings.init if init_image is None else "image",
        device=str(device),
        scales=parse_scales(settings.scales),
        compute_dtype=dtype_name(precision),
        channels_last=channels_last,
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
