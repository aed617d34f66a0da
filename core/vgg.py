"""VGG16 and VGG19 as feature extractors addressed by layer name.

A trunk is indexed exactly like torchvision's `vgg16().features` or
`vgg19().features`, so their state dicts (keys `features.N.weight`) load as
they are. Two input conventions exist for the same architecture: torchvision's
(RGB in 0..1, ImageNet mean and std) and Caffe's (BGR in 0..255 minus the
mean pixel), which the VGG authors' own weights and their conversions use.
Only the layers up to the deepest one a loss needs are run.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property

import torch
from torch import nn

from .checks import check_choice
from .errors import InputError
from .text import split_list

POOLING_CHOICES = ("max", "avg")
# How the first convolution sees past the image's border: zeros (as VGG was trained: a frame of the
# training set's mean colour, its inputs being centred on it) or the picture's own edge pixels.
PADDING_CHOICES = ("zeros", "replicate", "reflect")


@dataclass(frozen=True)
class Architecture:
    """A VGG configuration: output channels of each conv in each of its five blocks."""

    name: str
    blocks: tuple[tuple[int, ...], ...]

    @cached_property
    def layer_names(self) -> tuple[str, ...]:
        names: list[str] = []
        for block, convs in enumerate(self.blocks, start=1):
            for index in range(1, len(convs) + 1):
                names += [f"conv{block}_{index}", f"relu{block}_{index}"]
            names.append(f"pool{block}")
        return tuple(names)

    @cached_property
    def layer_index(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.layer_names)}

    @cached_property
    def conv_indices(self) -> tuple[int, ...]:
        return tuple(i for i, n in enumerate(self.layer_names) if n.startswith("conv"))

    @property
    def label(self) -> str:
        return self.name.upper()

    def channels(self, layer: str) -> int:
        """Output channels of a named layer (a pool keeps its block's)."""
        block = int(layer[4] if layer.startswith("pool") else layer[-3])
        return self.blocks[block - 1][0]

    def stride(self, layer: str) -> int:
        """A layer's stride in image pixels: 2 ** the poolings up to and including it."""
        return 2 ** sum(name.startswith("pool") for name in self.layer_names[: self.layer_index[layer] + 1])

    def reach(self, deepest: str) -> int:
        """How far (px) the pixels a `deepest` position depends on reach beyond its own stride x stride block.

        Each 3x3 convolution reaches one of its layer's positions further on
        every side, i.e. its layer's stride in pixels; a 2x2 pooling reads
        exactly the block of the position it makes, so it adds nothing.
        """
        return sum(
            self.stride(name) for name in self.layer_names[: self.layer_index[deepest] + 1] if name.startswith("conv")
        )

    def expected_shapes(self) -> dict[str, tuple[int, ...]]:
        """State-dict keys (without the `features.` prefix) and their shapes."""
        shapes: dict[str, tuple[int, ...]] = {}
        in_channels = 3
        conv_iter = iter(self.conv_indices)
        for convs in self.blocks:
            for out_channels in convs:
                index = next(conv_iter)
                shapes[f"{index}.weight"] = (out_channels, in_channels, 3, 3)
                shapes[f"{index}.bias"] = (out_channels,)
                in_channels = out_channels
        return shapes

    def build_features(self) -> nn.Sequential:
        """Untrained convolutional part, indexed exactly like torchvision's."""
        layers: list[nn.Module] = []
        in_channels = 3
        for convs in self.blocks:
            for out_channels in convs:
                layers += [nn.Conv2d(in_channels, out_channels, 3, padding=1), nn.ReLU(inplace=False)]
                in_channels = out_channels
            layers.append(nn.MaxPool2d(2, 2))
        return nn.Sequential(*layers)

    def parse_layers(self, spec: str | Iterable[str], field: str) -> list[str]:
        """'relu1_1, relu2_1' or a list -> validated layer names of this architecture, in the given order."""
        names = _split_names(spec, field)
        unknown = [n for n in names if n not in self.layer_index]
        if unknown:
            last = len(self.blocks[-1])
            raise InputError(
                f"unknown layer(s) {', '.join(unknown)}; {self.label} has conv1_1..conv5_{last}, "
                f"relu1_1..relu5_{last}, pool1..pool5",
                field,
            )
        return names


VGG16 = Architecture("vgg16", ((64, 64), (128, 128), (256,) * 3, (512,) * 3, (512,) * 3))
VGG19 = Architecture("vgg19", ((64, 64), (128, 128), (256,) * 4, (512,) * 4, (512,) * 4))
ARCHITECTURES: dict[str, Architecture] = {arch.name: arch for arch in (VGG16, VGG19)}
# Settings are checked before a model is loaded: against VGG19, whose names include VGG16's.
# The loaded model checks them again against its own architecture.
LAYER_NAMES = VGG19.layer_names


def _split_names(spec: str | Iterable[str], field: str) -> list[str]:
    items = split_list(spec) if isinstance(spec, str) else list(spec)
    names = [str(item).strip() for item in items if str(item).strip()]
    if not names:
        raise InputError("no layer given; use names like relu4_2", field)
    if len(set(names)) != len(names):
        raise InputError(f"a layer is listed twice ({', '.join(names)})", field)
    return names


def parse_layers(spec: str | Iterable[str], field: str) -> list[str]:
    """Layer names valid for some VGG (VGG19's set); the model checks its own when a run starts."""
    return VGG19.parse_layers(spec, field)


@dataclass(frozen=True)
class Convention:
    """How a trunk expects its input: channel order, value range, per-channel mean and std.

    mean and std are in the trunk's channel order and value range.
    """

    name: str
    bgr: bool
    value_range: float
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


TORCHVISION = Convention("torchvision", False, 1.0, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
CAFFE = Convention("caffe", True, 255.0, (103.939, 116.779, 123.68), (1.0, 1.0, 1.0))
CONVENTIONS: dict[str, Convention] = {c.name: c for c in (TORCHVISION, CAFFE)}
CONVENTION_CHOICES = ("auto", *CONVENTIONS)


def architecture_for_convs(count: int) -> Architecture:
    """The smallest VGG with room for `count` 3x3 convolutions (VGG16 has 13, VGG19 16).

    A state dict short of some layers is so reported against the VGG it was meant to be.
    """
    for arch in sorted(ARCHITECTURES.values(), key=lambda a: len(a.conv_indices)):
        if count <= len(arch.conv_indices):
            return arch
    raise InputError(f"{count} convolutions: more than any VGG has (VGG16 has 13, VGG19 16)")


def architecture_of(features: nn.Sequential) -> Architecture:
    """Which VGG a built trunk is, from its number of convolutions."""
    return architecture_for_convs(sum(isinstance(m, nn.Conv2d) for m in features.children()))


class FeatureExtractor(nn.Module):
    """Frozen VGG trunk that returns the activations of named layers.

    Takes RGB images in [0, 1]; the trunk's input convention (channel order,
    range, mean and std) is applied inside. The trunk is cut after the
    deepest requested layer; max pooling can be swapped for average pooling
    (Gatys et al. found it gives smoother results), and the first
    convolution's zero padding for the image's own edge (PADDING_CHOICES).
    Only the first: deeper layers pad features, whose zeros are ReLU's own.

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
        convention: Convention = TORCHVISION,
        architecture: Architecture = VGG19,
        padding: str = "zeros",
    ) -> None:
        super().__init__()
        check_choice(pooling, POOLING_CHOICES, "pooling")
        check_choice(padding, PADDING_CHOICES, "padding")
        self.architecture = architecture
        self.layers = self.architecture.parse_layers(layers, "layers")
        index_of = self.architecture.layer_index
        deepest = max(index_of[name] for name in self.layers)
        modules: list[nn.Module] = []
        for module in list(features.children())[: deepest + 1]:
            if isinstance(module, nn.MaxPool2d) and pooling == "avg":
                module = nn.AvgPool2d(2, 2)
            if isinstance(module, nn.Conv2d) and not modules and padding != "zeros":
                module = copy.copy(module)  # the same weights, its own padding
                module.padding_mode = padding
            modules.append(module)
        self.trunk = nn.Sequential(*modules)
        self.trunk.requires_grad_(False)
        self.trunk.eval()
        self.pooling = pooling
        self.padding = padding
        self.channels_last = channels_last
        self.compute_dtype = compute_dtype
        self.convention = convention
        self._wanted = {index_of[name]: name for name in self.layers}
        # input = (image * range - mean) / std, written as (image - offset) * gain
        mean = torch.tensor(convention.mean).view(1, 3, 1, 1)
        std = torch.tensor(convention.std).view(1, 3, 1, 1)
        self.register_buffer("offset", mean / convention.value_range, persistent=False)
        self.register_buffer("gain", convention.value_range / std, persistent=False)

    def train(self, mode: bool = True) -> "FeatureExtractor":
        """Always stay in eval mode: the trunk has no dropout or batch norm to train."""
        return super().train(False)

    def stream(self, image: torch.Tensor) -> Iterator[tuple[str, torch.Tensor]]:
        """(layer, activations) of each requested layer, shallowest first, as the trunk computes them.

        A loss taken from each layer as it arrives (as Objective does) is
        backpropagated only when the backward pass reaches that layer;
        losses taken after the whole forward pass would all run first and
        hold every layer's gradient at once.
        """
        x = image.flip(1) if self.convention.bgr else image
        x = (x - self.offset) * self.gain
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
    """Loaded VGG weights, their input convention, pooling and padding: what a run needs from 'the model'.

    Holds the full trunk on the CPU; each run asks for an extractor cut to its
    layers and placed on its device, so runs never move or change this copy.
    """

    def __init__(
        self,
        features: nn.Sequential,
        source: str = "",
        pooling: str = "max",
        convention: Convention = TORCHVISION,
        padding: str = "zeros",
    ) -> None:
        check_choice(pooling, POOLING_CHOICES, "pooling")
        check_choice(padding, PADDING_CHOICES, "padding")
        self.features = features
        self.architecture = architecture_of(features)
        self.source = source
        self.pooling = pooling
        self.convention = convention
        self.padding = padding

    def describe(self) -> dict[str, str]:
        """What a run's metrics record about the model."""
        return {
            "architecture": self.architecture.name,
            "convention": self.convention.name,
            "weights_file": self.source,
            "pooling": self.pooling,
            "padding": self.padding,
        }

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
        index_of = self.architecture.layer_index
        deepest = max(index_of[name] for name in self.architecture.parse_layers(layers, "layers"))
        trunk = copy.deepcopy(nn.Sequential(*list(self.features.children())[: deepest + 1]))
        if compute_dtype is not None:
            trunk = trunk.to(compute_dtype)
        if channels_last:
            trunk = trunk.to(memory_format=torch.channels_last)
        return FeatureExtractor(
            trunk, layers, self.pooling, channels_last, compute_dtype, self.convention, self.architecture, self.padding
        ).to(device)

