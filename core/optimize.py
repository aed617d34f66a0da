"""The optimisation loop: pixels of a batch of images, Adam or L-BFGS, against an objective.

`optimize_pixels` knows nothing of settings, scales, terminals or ComfyUI:
`stylize` (stylize.py) runs it once per scale and the rotation search once
per generation; progress goes out through `on_step`, and `should_stop` is
polled every step.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch

from .errors import NonFiniteLossError, StopRequested
from .metrics import LossRecord
from .objective import Objective
from .settings import DEFAULT_LR
from .tiling import TiledObjective


@dataclass
class StepInfo:
    """What `on_step` hears after each step."""

    step: int  # steps done so far, 1..total
    total: int
    losses: LossRecord  # of the image this step started from
    preview: Callable[[], torch.Tensor]  # current image, [1, 3, H, W] on the CPU


def record_losses(step: int, terms: Mapping[str, torch.Tensor]) -> LossRecord:
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
    objective: Objective | TiledObjective,
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
    average: float = 0.0,
) -> OptimizationResult:
    """Optimise the pixels of `init` ([B, 3, H, W]) to lower the objective.

    Adam's pixels are clamped to [0, 1] after every step; L-BFGS's only at
    the end (as in Gatys et al.'s and neural-style's runs), since clamping
    between its iterations breaks the curvature pairs it builds its steps
    from (the loss jumps up and down). A NaN or infinite loss
    stops the run at once with NonFiniteLossError; `should_stop` returning
    True raises StopRequested. L-BFGS makes one iteration per step, so its
    step count equals its number of loss evaluations.

    first_step / total_steps: where these steps sit in a longer run (the
    scales of a coarse-to-fine run), so that step numbers in the history,
    `on_step` and error messages count over the whole run. backward_scale:
    the backward pass runs on the loss normalised to start at this value
    and the gradient is scaled back, so that fp16 gradients do not flush to
    zero (precision.FP16_LOSS_SCALE); 1 leaves the gradient untouched.
    average: the decay of an exponential moving average of the (clamped)
    iterates; the bias-corrected average is the result, not the last
    iterate, which Adam's last steps leave noisy. 0: the last iterate.
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

    boost: list[float | torch.Tensor] = [1.0]

    def scale_for(total: torch.Tensor) -> float | torch.Tensor:
        """What the backward pass multiplies the loss by: L-BFGS's normalisation times the fp16 boost."""
        if not loss_scale:
            loss_scale.append(1.0 / total if torch.isfinite(total) and total > 0 else torch.ones_like(total))
        net = loss_scale[0] if optimizer == "lbfgs" else 1.0
        if backward_scale != 1.0:
            boost[0] = backward_scale * (1.0 if optimizer == "lbfgs" else loss_scale[0])
        return net * boost[0]

    def closure() -> torch.Tensor:
        opt.zero_grad(set_to_none=True)
        terms = objective.backward(image, scale_for)
        if backward_scale != 1.0:
            image.grad.div_(boost[0])
        last.clear()
        last.update(terms)
        return terms["total"].sum() * (loss_scale[0] if optimizer == "lbfgs" else 1.0)

    def preview() -> torch.Tensor:
        return image.detach()[:1].float().cpu().clamp(0, 1)

    mean = IterateAverage(average)
    started = time.perf_counter()
    for step in range(first_step, first_step + steps):
        if should_stop is not None and should_stop():
            raise StopRequested(f"stopped at step {step} of {total_steps}")
        if optimizer == "lbfgs":
            opt.step(closure)
        else:
            closure()
            opt.step()
        record = record_losses(step, last)
        if not math.isfinite(record.total):
            raise NonFiniteLossError(
                f"loss became {record.total} at step {step}; lower the learning rate (lr) or the style weight"
            )
        if step % every == 0:
            history.append(record)
        if optimizer != "lbfgs":  # L-BFGS: clamping between iterations corrupts its curvature pairs
            with torch.no_grad():
                image.clamp_(0, 1)
        mean.add(image)
        if on_step is not None:
            on_step(StepInfo(step=step + 1, total=total_steps, losses=record, preview=preview))
    with torch.no_grad():
        if mean.count:
            image.copy_(mean.result())
        image.clamp_(0, 1)
        final = {k: v.detach() for k, v in objective(image).items()}
    history.append(record_losses(first_step + steps, final))
    state = opt.state.get(image) if optimizer == "adam" else None
    return OptimizationResult(
        image=image.detach(),
        history=history,
        final=final,
        seconds=time.perf_counter() - started,
        steps_done=steps,
        moments={key: value.detach() for key, value in state.items()} if state else None,
    )


class IterateAverage:
    """An exponential moving average of the iterates with Adam's bias correction: m_t / (1 - decay^t)."""

    def __init__(self, decay: float) -> None:
        self.decay = decay
        self.mean: torch.Tensor | None = None
        self.count = 0

    def add(self, image: torch.Tensor) -> None:
        if not self.decay:
            return
        with torch.no_grad():
            seen = image.detach().clamp(0, 1)
            if self.mean is None:
                self.mean = torch.zeros_like(seen)
            self.mean.mul_(self.decay).add_(seen, alpha=1 - self.decay)
            self.count += 1

    def result(self) -> torch.Tensor:
        """The bias-corrected average of what was added (at least one iterate, `count` > 0)."""
        return self.mean / (1 - self.decay**self.count)


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
