"""The NST engine: pure PyTorch, no ComfyUI. See README.md for the knobs."""

from .devices import resolve_device
from .errors import InputError, NonFiniteLossError, NSTError, OutOfMemoryError, StopRequested, WeightsError
from .images import load_image, save_image
from .metrics import RunMetrics
from .optimize import StepInfo
from .settings import LossSettings, RunSettings, SearchSettings
from .style import StyleSpec
from .style_targets import compute_style_targets
from .transfer import StylizeResult, stylize
from .vgg import LAYER_NAMES, FeatureExtractor, VGGModel
from .weights import load_model, locate_weights

__all__ = [
    "FeatureExtractor",
    "InputError",
    "LAYER_NAMES",
    "LossSettings",
    "NSTError",
    "NonFiniteLossError",
    "OutOfMemoryError",
    "RunMetrics",
    "RunSettings",
    "SearchSettings",
    "StepInfo",
    "StopRequested",
    "StyleSpec",
    "StylizeResult",
    "VGGModel",
    "WeightsError",
    "compute_style_targets",
    "load_image",
    "load_model",
    "locate_weights",
    "resolve_device",
    "save_image",
    "stylize",
]
