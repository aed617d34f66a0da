"""VGG19 as a feature extractor addressed by layer name.

The layout matches torchvision's `vgg19().features` index for index, so its
state dict (keys `features.N.weight`) loads as is. Only the layers up to the
deepest one a loss needs are run.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator, Sequence

import torch
from torch import nn

from .errors import InputError

# Channels per conv in each of VGG19's five blocks ("configuration E").
_BLOCKS: tuple[tuple[int, ...], ...] = ((64, 64), (128, 128), (256,) * 4, (512,) * 4, (512,) * 4)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
POOLING_CHOICES = ("max", "avg")


def _layer_names() -> list[str]:
    names: list[str] = []
    for block, convs in enumerate(_BLOCKS, start=1):
        for index in range(1, len(convs) + 1):
            names += [f"conv{block}_{index}", f"relu{block}_{index}"]
        names.append(f"pool{block}")
    return names


LAYER_NAMES: tuple[str, ...] = tuple(_layer_names())
LAYER_INDEX: dict[str, int] = {name: i for i, name in enumerate(LAYER_NAMES)}
CONV_INDICES: tuple[int, ...] = tuple(i for i, n in enumerate(LAYER_NAMES) if n.startswith("conv"))


def build_vgg19_features() -> nn.Sequential:
    """Untrained VGG19 convolutional part, indexed exactly like torchvision's."""
    layers: list[nn.Module] = []
    in_channels = 3
    for convs in _BLOCKS:
        for out_channels in convs:
            layers += [nn.Conv2d(in_channels, out_channels, 3, padding=1), nn.ReLU(inplace=False)]
            in_channels = out_channels
        layers.append(nn.MaxPool2d(2, 2))
    return nn.Sequential(*layers)


def expected_shapes() -> dict[str, tuple[int, ...]]:
    """State-dict keys (without the `features.` prefix) and their shapes."""
    shapes: dict[str, tuple[int, ...]] = {}
    in_channels = 3
    conv_iter = iter(CONV_INDICES)
    for convs in _BLOCKS:
        for out_channels in convs:
            index = next(conv_iter)
            shapes[f"{index}.weight"] = (out_channels, in_channels, 3, 3)
            shapes[f"{index}.bias"] = (out_channels,)
            in_channels = out_channels
    return shapes


def parse_layers(spec: str | Iterable[str], what: str) -> list[str]:
    """'relu1_1, relu2_1' or a list -> validated layer names in the given order."""
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    names = [str(item).strip() for item in items if str(item).strip()]
    if not names:
        raise InputError(f"{what}: no layer given; use names like relu4_2")
    unknown = [n for n in names if n not in LAYER_INDEX]
    if unknown:
        raise InputError(
            f"{what}: unknown layer(s) {', '.join(unknown)}; VGG19 has conv1_1..conv5_4, relu1_1..relu5_4, pool1..pool5"
        )
    if len(set(names)) != len(names):
        raise InputError(f"{what}: a layer is listed twice ({', '.join(names)})")
    return names


class FeatureExtractor(nn.Module):
    """Frozen VGG19 trunk that returns the activations of named layers.

    Takes images in [0, 1]; ImageNet normalisation happens inside. The trunk
    is cut after the deepest requested layer, max pooling can be swapped for
    average pooling (Gatys et al. found it gives smoother results).

    Two speed options leave the caller's image alone (an optimised parameter
    must stay NCHW fp32: torch's L-BFGS fails on channels_last tensors):
    `channels_last` converts the normalised input inside the forward pass,
    which lets oneDNN/cuDNN skip their layout reorders; `compute_dtype`
    (bf16 or fp16) casts it to the dtype the trunk's weights were converted
    to (VGGModel.extractor converts its private copy for both options).
    Features then come out in that dtype, and Grams and losses are fp32
    (see losses.py). A trunk converted once beats autocast, which casts
    every weight again on every pass.
    """

    def __init__(
        self,
        features: nn.Sequential,
        layers: Sequence[str],
        pooling: str = "max",
        channels_last: bool = False,
        compute_dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if pooling not in POOLING_CHOICES:
            raise InputError(f"pooling: {pooling!r} is not one of {', '.join(POOLING_CHOICES)}")
        self.layers = parse_layers(layers, "layers")
        deepest = max(LAYER_INDEX[name] for name in self.layers)
        modules: list[nn.Module] = []
        for module in list(features.children())[: deepest + 1]:
            if isinstance(module, nn.MaxPool2d) and pooling == "avg":
                module = nn.AvgPool2d(2, 2)
            modules.append(module)
        self.trunk = nn.Sequential(*modules)
        self.trunk.requires_grad_(False)
        self.trunk.eval()
        self.pooling = pooling
        self.channels_last = channels_last
        self.compute_dtype = compute_dtype
        self._wanted = {LAYER_INDEX[name]: name for name in self.layers}
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True) -> "FeatureExtractor":
        """Always stay in eval mode: the trunk has no dropout or batch norm to train."""
        return super().train(False)

    def stream(self, image: torch.Tensor) -> Iterator[tuple[str, torch.Tensor]]:
        """(layer, activations) of each requested layer, shallowest first, as the trunk computes them.

        A loss taken from each layer as it arrives (as Objective does) is
        backpropagated only when the backward pass reaches that layer;
        losses taken after the whole forward pass would all run first and
        hold every layer's gradient at once (0.6 GB more at 1024 px).
        """
        x = (image - self.mean) / self.std
        if self.compute_dtype is not None:
            x = x.to(self.compute_dtype)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        for index, module in enumerate(self.trunk):
            x = module(x)
            if index in self._wanted:
                yield self._wanted[index], x

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        return dict(self.stream(image))


class VGGModel:
    """Loaded VGG19 weights plus the pooling choice: what a run needs from 'the model'.

    Holds the full trunk on the CPU; each run asks for an extractor cut to its
    layers and placed on its device, so runs never move or change this copy.
    """

    def __init__(self, features: nn.Sequential, source: str = "", pooling: str = "max") -> None:
        if pooling not in POOLING_CHOICES:
            raise InputError(f"pooling: {pooling!r} is not one of {', '.join(POOLING_CHOICES)}")
        self.features = features
        self.source = source
        self.pooling = pooling

    def with_pooling(self, pooling: str) -> "VGGModel":
        """The same weights with another pooling (no copy of the weights)."""
        return VGGModel(self.features, self.source, pooling)

    def extractor(
        self,
        layers: Sequence[str],
        device: torch.device | str = "cpu",
        channels_last: bool = False,
        compute_dtype: torch.dtype | None = None,
    ) -> FeatureExtractor:
        """A frozen extractor for `layers` on `device`, independent of this model's tensors.

        See FeatureExtractor for the two speed options, which convert the
        copied weights too, so that convolutions need no reorder or cast.
        """
        deepest = max(LAYER_INDEX[name] for name in parse_layers(layers, "layers"))
        trunk = copy.deepcopy(nn.Sequential(*list(self.features.children())[: deepest + 1]))
        if compute_dtype is not None:
            trunk = trunk.to(compute_dtype)
        if channels_last:
            trunk = trunk.to(memory_format=torch.channels_last)
        return FeatureExtractor(trunk, layers, self.pooling, channels_last, compute_dtype).to(device)



def random_vgg19_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """VGG19-shaped weights with torchvision's initialisation, keys `features.N.*`.

    Not a trained model: tests and benchmarks use it where the real ImageNet
    weights cannot be downloaded. Timings and FLOPs do not depend on values.
    """
    generator = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    for key, shape in expected_shapes().items():
        if key.endswith(".weight"):
            fan_out = shape[0] * shape[2] * shape[3]
            state[f"features.{key}"] = torch.randn(shape, generator=generator) * (2.0 / fan_out) ** 0.5
        else:
            state[f"features.{key}"] = torch.zeros(shape)
    return state
