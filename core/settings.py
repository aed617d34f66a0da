"""What a run is told, split by what each part describes: the loss, the run, the search.

Each settings type is checked when it is made (so a `replace()` is checked
too) and refuses a bad value with an `InputError` naming its field; the
doors (command line, nodes) only translate those field names into their own.
The README's table explains each default and where it comes from.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from .checks import check_choice, check_int, check_nonnegative
from .content_stats import CONTENT_LOSSES
from .errors import InputError
from .geometry import MAX_SIDE, MIN_SIDE, check_side, fit_size
from .precision import DTYPE_CHOICES
from .rotation import MAX_ANGLE
from .scales import ScalesSetting, parse_scales
from .style_stats import STYLE_LOSSES
from .vgg import Architecture, parse_layers

OPTIMIZERS = ("adam", "lbfgs")
# The steps a run takes unless told: an `init` "fast" run starts near a finished
# painting and needs fewer (README, "Fast mode": measured).
DEFAULT_STEPS = 300
WARM_STEPS = 100


def default_steps(init: str) -> int:
    """The steps a run of this `init` takes when none are given."""
    return WARM_STEPS if init == "fast" else DEFAULT_STEPS
INIT_CHOICES = ("content", "noise", "style", "fast")
COLOR_CHOICES = ("none", "luminance", "histogram")
OBJECTIVES = ("fit", "diverse")
DEFAULT_CONTENT_LAYERS = ("relu4_2",)
DEFAULT_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
DEFAULT_LR = {"lbfgs": 1.0, "adam": 0.02}
MAX_STEPS = 100_000
# scipy's DE needs at least 4 members to build its mutants from.
MIN_POPSIZE = 4
# Two sets of angles on the circle are never more than half a turn apart (search.angle_separation).
MAX_SEPARATION = 180.0
# Seeds of noise starts and of the search: torch takes 64-bit seeds; scipy's DE takes 32-bit ones and
# is given the seed modulo 2**32.
MAX_SEED = 2**64 - 1
# Each loss term is a relative error of order 1 (losses.py); a weight 1e4 times another already
# leaves that other term without effect, so larger ones are refused as a likely old-scale value.
MAX_LOSS_WEIGHT = 1e4
# A tile is read with halos as wide as the deepest layer's reach (tiles.py); smaller cores would be mostly halo.
MIN_TILE = 64


def _set(settings: object, name: str, value: object) -> None:
    """Store a normalised value on a frozen dataclass while it is being made."""
    object.__setattr__(settings, name, value)


@dataclass(frozen=True)
class LossSettings:
    """Which VGG layers define content and style, and how the loss terms are weighted.

    This is what the NST_LOSS socket carries. Layer names are checked against
    VGG19's (which include VGG16's) here, and against the loaded model's own
    architecture when a run starts (`layers_for`).
    """

    content_layers: Sequence[str] = DEFAULT_CONTENT_LAYERS
    style_layers: Sequence[str] = DEFAULT_STYLE_LAYERS
    style_layer_weights: Sequence[float] | None = None  # None: 1 for each style layer
    content_weight: float = 1.0
    style_weight: float = 1.0
    tv_weight: float = 0.0
    style_loss: str = "gram"  # what each style layer compares (style_stats.STYLE_LOSSES)
    content_loss: str = "mse"  # what each content layer compares (content_stats.CONTENT_LOSSES)

    def __post_init__(self) -> None:
        check_choice(self.style_loss, STYLE_LOSSES, "style_loss")
        check_choice(self.content_loss, CONTENT_LOSSES, "content_loss")
        _set(self, "content_layers", tuple(parse_layers(self.content_layers, "content_layers")))
        _set(self, "style_layers", tuple(parse_layers(self.style_layers, "style_layers")))
        for name in ("content_weight", "style_weight", "tv_weight"):
            value = check_nonnegative(getattr(self, name), name)
            if value > MAX_LOSS_WEIGHT:
                raise InputError(
                    f"{value:g} is above {MAX_LOSS_WEIGHT:g}; the losses are relative to their targets (README), "
                    f"so content and style weights near 1 balance them (style weights like 1e6 belonged to the "
                    f"earlier absolute losses)",
                    name,
                )
            _set(self, name, value)
        if self.content_weight == 0 and self.style_weight == 0:
            raise InputError("both are 0; nothing would be optimised", ("content_weight", "style_weight"))
        if self.style_layer_weights is not None:
            weights = tuple(check_nonnegative(w, "style_layer_weights", i) for i, w in enumerate(self.style_layer_weights))
            if len(weights) != len(self.style_layers):
                raise InputError(
                    f"{len(weights)} given for {len(self.style_layers)} style layers; give one per layer "
                    "(or none for 1 each)",
                    "style_layer_weights",
                )
            if sum(weights) == 0:
                raise InputError(f"{list(weights)} are all 0; give at least one style layer a weight", "style_layer_weights")
            _set(self, "style_layer_weights", weights)

    def layers_needed(self) -> list[str]:
        """Content layers, then style layers, each once: what the extractor must return."""
        return list(dict.fromkeys([*self.content_layers, *self.style_layers]))

    def style_weights_by_layer(self) -> dict[str, float]:
        weights = self.style_layer_weights or [1.0] * len(self.style_layers)
        return {layer: float(w) for layer, w in zip(self.style_layers, weights)}

    def layers_for(self, architecture: Architecture) -> tuple[list[str], dict[str, float]]:
        """The content layers and the style layers' weights, checked against the loaded model's architecture."""
        content_layers = architecture.parse_layers(self.content_layers, "content_layers")
        architecture.parse_layers(self.style_layers, "style_layers")
        return content_layers, self.style_weights_by_layer()


@dataclass(frozen=True)
class RunSettings:
    """How one stylisation runs: the result's size, the optimiser and its steps, the start, the arithmetic."""

    size: int = 512
    exact: tuple[int, int] | None = None  # (height, width); overrides size
    steps: int = DEFAULT_STEPS
    optimizer: str = "adam"
    lr: float | None = None  # None: DEFAULT_LR of the optimizer
    init: str = "content"
    seed: int = 0
    preserve_color: str = "none"
    history_every: int = 0  # 0: about 50 points over the run
    dtype: str = "auto"  # auto | fp32 | bf16 | fp16, see precision.py
    scales: ScalesSetting = "auto"  # auto | on | off | longest sides of the coarser scales, see scales.py
    tile: int = 0  # px of a tile's core, 0: tiles only where the whole image does not fit (memory.py)
    average: float = 0.0  # decay of the iterates' moving average, the result at each scale; 0: the last iterate

    def __post_init__(self) -> None:
        if self.exact is not None:
            check_side(int(self.exact[0]), "exact")
            check_side(int(self.exact[1]), "exact")
            _set(self, "exact", (int(self.exact[0]), int(self.exact[1])))
        else:
            check_side(int(self.size), "size")
        check_int(self.steps, "steps", 1, MAX_STEPS)
        check_choice(self.optimizer, OPTIMIZERS, "optimizer")
        if self.lr is not None and not (math.isfinite(float(self.lr)) and self.lr > 0):
            raise InputError(f"{self.lr} must be a positive finite number (e.g. {DEFAULT_LR[self.optimizer]})", "lr")
        check_choice(self.init, INIT_CHOICES, "init")
        check_int(self.seed, "seed", 0, MAX_SEED)
        check_choice(self.preserve_color, COLOR_CHOICES, "preserve_color")
        check_int(self.history_every, "history_every", 0)
        check_choice(self.dtype, DTYPE_CHOICES, "dtype")
        parse_scales(self.scales)
        check_int(self.tile, "tile", 0, MAX_SIDE, meaning="px, 0: as memory needs")
        if 0 < self.tile < MIN_TILE:
            raise InputError(f"{self.tile} px is smaller than {MIN_TILE} px; use 0 (as memory needs) or {MIN_TILE} px or more", "tile")
        if not (math.isfinite(float(self.average)) and 0 <= self.average < 1):
            raise InputError(f"{self.average} is not in [0, 1); use 0 for the last iterate or e.g. 0.9", "average")

    @property
    def learning_rate(self) -> float:
        return float(DEFAULT_LR[self.optimizer] if self.lr is None else self.lr)

    def output_hw(self, content_hw: tuple[int, int]) -> tuple[int, int]:
        """(H, W) of the result: the exact size, or the content's aspect at `size`."""
        if self.exact is not None:
            return self.exact
        return fit_size(content_hw[0], content_hw[1], int(self.size))


@dataclass(frozen=True)
class SearchSettings:
    """What the rotation search looks for and how much it spends.

    popsize is scipy's multiplier: a generation holds max(5, popsize * the
    number of searched parameters) candidates, i.e. one proxy batch of that
    size. rotation_weight is rho when it is not searched. min_separation is
    the least angle distance (degrees) between two of the top_k candidates.
    region: 0 searches the rotation of every style of the recipe; n only
    that of its n-th style (its region, when masked), the others keeping theirs.
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
    # tests/core/test_search.py's orientation ground truth wrongly.
    proxy_lr: float = 0.02
    region: int = 0

    def __post_init__(self) -> None:
        check_int(self.region, "region", 0, meaning="0: every style; n: the n-th style only")
        check_int(self.rotations, "rotations", 1, meaning="the number of angles K")
        check_choice(self.objective, OBJECTIVES, "objective")
        low, high = (float(v) for v in self.angle_range)
        if not low < high:
            raise InputError(
                f"the bounds are reversed or empty ({low:g} >= {high:g}); give the low end first, e.g. 0 and 360",
                "angle_range",
            )
        if not (-MAX_ANGLE <= low and high <= MAX_ANGLE):
            raise InputError(f"{low:g},{high:g} must lie within [-360, 360], e.g. 0,360", "angle_range")
        _set(self, "angle_range", (low, high))
        check_int(self.popsize, "popsize", MIN_POPSIZE, meaning="candidates per searched parameter")
        check_int(self.generations, "generations", 1, meaning="DE generations")
        check_int(self.proxy_size, "proxy_size", MIN_SIDE, MAX_SIDE, meaning="px, the proxy runs' longest side")
        check_int(self.proxy_steps, "proxy_steps", 1, meaning="Adam steps per candidate")
        check_int(self.top_k, "top_k", 1, meaning="candidates to keep")
        if not 0.0 <= float(self.min_separation) <= MAX_SEPARATION:
            raise InputError(f"{self.min_separation} must be between 0 and {MAX_SEPARATION:g} degrees", "min_separation")
        check_nonnegative(self.epsilon, "epsilon")
        check_int(self.seed, "seed", 0, MAX_SEED)
        if not 0.0 <= float(self.rotation_weight) <= 1.0:
            raise InputError(f"{self.rotation_weight} is outside [0, 1]", "rotation_weight")
        if not (math.isfinite(float(self.proxy_lr)) and self.proxy_lr > 0):
            raise InputError(f"{self.proxy_lr} must be a positive finite number (e.g. 0.02)", "proxy_lr")
