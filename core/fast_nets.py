"""The feed-forward pair of arbitrary style transfer (Ghiasi et al., 2017), in Magenta's small variant.

A style predictor (MobileNetV2, ReLU6, TensorFlow's "same" padding, then a
1x1 convolution) turns a style image into a 100-number style vector; a
transformer turns a content image and that vector into the stylised image in
one pass: three convolutions down (reflect padding), five residual blocks
and three up (nearest x2, reflect padding), each normalised per image by
conditional instance normalisation, whose scale and shift the style vector
gives through 1x1 convolutions; a sigmoid keeps the result in [0, 1].

Images are RGB in [0, 1], [B, 3, H, W]; the networks are fully convolutional
and run at any size. Their weights come from fast_weights.py.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from .errors import WeightsError

STYLE_VECTOR = 100
# MobileNetV2's inverted residual blocks: expansion, output channels, repeats, first stride.
_MOBILENET = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))
_STEM, _HEAD = 32, 1280
# The transformer's channels: down 3 -> 8 -> 16 -> 32, residual 32, up 32 -> 16 -> 8 -> 3.
_DOWN = ((3, 8, 9, 1), (8, 16, 3, 2), (16, 32, 3, 2))
_RESIDUALS, _WIDTH = 5, 32
_UP = ((32, 16, 3, 2), (16, 8, 3, 2), (8, 3, 9, 1))
# The transformer's total stride: inputs whose sides are multiples of it come back at their own size.
STRIDE = 4


def _same_padding(x: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    """TensorFlow's 'same' zero padding: more on the bottom and right when the total is odd."""
    pads = []
    for size in (x.shape[-1], x.shape[-2]):  # F.pad's order: last dimension first
        total = max(kernel - stride, 0) if size % stride == 0 else max(kernel - size % stride, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


class _SameConv(nn.Conv2d):
    """A convolution with TensorFlow's 'same' padding, as MobileNetV2 was trained with."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _same_padding(x, self.kernel_size[0], self.stride[0])
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class _InvertedResidual(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, expansion: int, stride: int) -> None:
        super().__init__()
        hidden = in_channels * expansion
        self.expand = nn.Conv2d(in_channels, hidden, 1) if expansion != 1 else None
        self.depthwise = _SameConv(hidden, hidden, 3, stride, groups=hidden)
        self.project = nn.Conv2d(hidden, out_channels, 1)
        self.residual = stride == 1 and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu6(self.expand(x)) if self.expand is not None else x
        y = self.project(F.relu6(self.depthwise(y)))
        return x + y if self.residual else y


class StylePredictor(nn.Module):
    """Style image(s) [B, 3, H, W] in [0, 1] -> style vectors [B, 100]."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = _SameConv(3, _STEM, 3, 2)
        blocks, channels = [], _STEM
        for expansion, out_channels, repeats, stride in _MOBILENET:
            for index in range(repeats):
                blocks.append(_InvertedResidual(channels, out_channels, expansion, stride if index == 0 else 1))
                channels = out_channels
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Conv2d(channels, _HEAD, 1)
        self.bottleneck = nn.Conv2d(_HEAD, STYLE_VECTOR, 1)

    def forward(self, style: torch.Tensor) -> torch.Tensor:
        x = self.blocks(F.relu6(self.stem(style)))
        x = F.relu6(self.head(x)).mean(dim=(2, 3), keepdim=True)
        return self.bottleneck(x).flatten(1)


class _ConditionalNorm(nn.Module):
    """Instance normalisation whose per-channel scale and shift come from the style vector."""

    EPSILON = 1e-5

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.scale = nn.Linear(STYLE_VECTOR, channels)
        self.shift = nn.Linear(STYLE_VECTOR, channels)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=(2, 3), keepdim=True)
        variance = (x - mean).pow(2).mean(dim=(2, 3), keepdim=True)
        scale = self.scale(style)[:, :, None, None]
        shift = self.shift(style)[:, :, None, None]
        return (x - mean) * torch.rsqrt(variance + self.EPSILON) * scale + shift


class _Conv(nn.Module):
    """Reflect padding and a convolution; normalised by the style where `conditional`."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int = 1, conditional: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel, stride)
        self.norm = _ConditionalNorm(out_channels) if conditional else None

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        pad = self.conv.kernel_size[0] // 2
        x = self.conv(F.pad(x, (pad, pad, pad, pad), mode="reflect"))
        return x if self.norm is None else self.norm(x, style)


class _Residual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.first = _Conv(_WIDTH, _WIDTH, 3)
        self.second = _Conv(_WIDTH, _WIDTH, 3)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        return x + self.second(F.relu(self.first(x, style)), style)


class StyleTransformer(nn.Module):
    """Content [B, 3, H, W] in [0, 1] and style vectors [B, 100] -> the stylised images [B, 3, H', W'].

    H' and W' are H and W rounded up to multiples of STRIDE; pad and crop
    (fast.py) to keep the size.
    """

    def __init__(self) -> None:
        super().__init__()
        self.down = nn.ModuleList(_Conv(i, o, k, s, conditional=False) for i, o, k, s in _DOWN)
        self.residuals = nn.ModuleList(_Residual() for _ in range(_RESIDUALS))
        self.up = nn.ModuleList(_Conv(i, o, k) for i, o, k, _ in _UP)
        self.upsample = [scale for *_, scale in _UP]

    def forward(self, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        x = content
        for layer in self.down:
            x = F.relu(layer(x, style))
        for block in self.residuals:
            x = block(x, style)
        for index, (layer, scale) in enumerate(zip(self.up, self.upsample)):
            if scale > 1:
                x = F.interpolate(x, scale_factor=scale, mode="nearest")
            x = layer(x, style)
            x = torch.sigmoid(x) if index == len(self.up) - 1 else F.relu(x)
        return x


class FastModel:
    """The loaded pair on the CPU, and where it came from; each run takes its own copies to its device."""

    def __init__(self, predictor: StylePredictor, transformer: StyleTransformer, source: str = "") -> None:
        self.predictor = predictor.requires_grad_(False).eval()
        self.transformer = transformer.requires_grad_(False).eval()
        self.source = source

    @classmethod
    def from_state(cls, state: dict[str, torch.Tensor], source: str) -> "FastModel":
        """The pair from a state dict with `predictor.*` and `transformer.*` keys; a wrong file is named, not loaded."""
        model = cls(StylePredictor(), StyleTransformer(), source)
        expected = {f"{prefix}.{key}": value.shape for prefix, module in (("predictor", model.predictor), ("transformer", model.transformer))
                    for key, value in module.state_dict().items()}  # fmt: skip
        missing = sorted(set(expected) - set(state))
        wrong = [f"{key} is {tuple(state[key].shape)}, expected {tuple(shape)}" for key, shape in expected.items()
                 if key in state and tuple(state[key].shape) != tuple(shape)]  # fmt: skip
        if missing or wrong:
            shown = ", ".join(missing[:4]) + (f" and {len(missing) - 4} more" if len(missing) > 4 else "")
            raise WeightsError(f"weights: {source} is not the fast mode's pair: " + ("; ".join(wrong[:3]) or f"missing {shown}"))
        bad = [key for key in expected if not torch.isfinite(state[key]).all()]
        if bad:
            raise WeightsError(f"weights: {source} contains NaN or infinite values in {', '.join(bad[:4])}")
        for prefix, module in (("predictor", model.predictor), ("transformer", model.transformer)):
            module.load_state_dict({key[len(prefix) + 1 :]: value.float() for key, value in state.items() if key.startswith(prefix + ".")})
        return model

    def on(self, device: torch.device) -> tuple[StylePredictor, StyleTransformer]:
        """Copies of the two networks on `device`, which a run may use as it likes."""
        return copy.deepcopy(self.predictor).to(device), copy.deepcopy(self.transformer).to(device)

    def describe(self) -> dict[str, str]:
        """What a run's metrics record about the model."""
        return {"fast_weights_file": self.source}
