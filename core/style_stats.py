"""What a style loss compares, layer by layer: Gram matrices, Gaussian statistics or sorted projections.

- gram (Gatys et al. 2016): the uncentred second moment of the features,
  compared entry by entry.
- w2: the features' mean and covariance, compared by the 2-Wasserstein
  distance between the two Gaussians they describe (as in crowsonkb's
  style-transfer-pytorch; Kolkin et al. 2019 argue for distribution
  distances). It weighs the shape of the distribution, not its raw entries.
- sliced: the sliced 2-Wasserstein distance (Heitz et al. 2021): the
  features are projected on fixed random orthonormal directions, each
  projection sorted and compared with the style's quantiles. It matches
  whole marginal distributions, not only two moments.

Every target is linear in what it is made of, so blends of styles, of
rotated views and of mixing weights stay weighted sums of targets (a
mixture's moments; a 1-D barycentre of quantile functions). gram and w2
are sums over positions, so they split over tiles and take region masks
(`additive`); sliced sorts a layer's positions all at once and does not.

Each loss is relative to its target (losses.py): a scale-free number,
unchanged when every activation is multiplied by a constant.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from .checks import check_choice
from .errors import InputError
from .losses import gram_matrix, mean_square, style_loss
from .regions import guided_gram

STYLE_LOSSES = ("gram", "w2", "sliced")

# The sliced loss's projections: their own seed (not the judge's, quality.py), the same every run,
# so that a run's loss is one fixed function (L-BFGS needs that) and a target fits every run.
SLICED_SEED = 2024
# A style's quantile function is kept at this many points, so styles of different sizes blend.
QUANTILES = 4096
# Eigenvalues of a covariance below this fraction of its largest are taken as 0: fp32 eigen-
# decompositions give them as noise, and their square root's slope is unbounded.
EIGEN_FLOOR = 1e-7

Prepared = tuple[torch.Tensor, ...]


def _symmetric(matrix: torch.Tensor) -> torch.Tensor:
    return (matrix + matrix.transpose(-1, -2)) / 2


def _eigvalsh(matrix: torch.Tensor) -> torch.Tensor:
    """Eigenvalues of symmetric matrices, in float64 (in fp32 LAPACK fails to converge on the many
    zero eigenvalues of VGG's unused channels); on the CPU for MPS, which has neither float64 nor an eigensolver."""
    wide = matrix.cpu() if matrix.device.type == "mps" else matrix
    return torch.linalg.eigvalsh(wide.double()).to(matrix.dtype).to(matrix.device)


def _eigh(matrix: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """As _eigvalsh, with the eigenvectors."""
    wide = matrix.cpu() if matrix.device.type == "mps" else matrix
    values, vectors = torch.linalg.eigh(wide.double())
    return values.to(matrix.dtype).to(matrix.device), vectors.to(matrix.dtype).to(matrix.device)


def _floored(values: torch.Tensor) -> torch.Tensor:
    """Eigenvalues with those under EIGEN_FLOOR of the largest set to that floor, none negative."""
    floor = EIGEN_FLOOR * values.amax(-1, keepdim=True).clamp_min(torch.finfo(values.dtype).tiny)
    return torch.maximum(values, floor)


def psd_sqrt(matrix: torch.Tensor) -> torch.Tensor:
    """The symmetric square root of positive semi-definite matrices [..., C, C]."""
    values, vectors = _eigh(_symmetric(matrix))
    return vectors @ (_floored(values).sqrt().unsqueeze(-1) * vectors.transpose(-1, -2))


class GramStatistic:
    """Gatys's Gram matrices [B, C, C]; the loss is their relative squared error (losses.style_loss)."""

    name = "gram"
    additive = True
    working_bytes = 0  # per feature value, held beside the activations (memory.Footprint)

    def summary(self, features: torch.Tensor, mask: torch.Tensor | None = None, weight: torch.Tensor | None = None) -> torch.Tensor:
        """Of the image being made; a layer-size mask weights positions (regions.py), `weight` is its whole sum of squares."""
        return gram_matrix(features) if mask is None else guided_gram(features, mask, weight)

    def target(self, features: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Of a style image: what its targets are made of."""
        return self.summary(features, mask)

    def prepare(self, target: torch.Tensor) -> Prepared:
        """What the loss needs of a fixed target, computed once: the target and its mean square."""
        return target, mean_square(target, 2)

    def loss(self, summary: torch.Tensor, prepared: Prepared) -> torch.Tensor:
        """Per batch item -> [B]."""
        target, scale = prepared
        return style_loss(summary, target, scale)


class GaussianStatistic:
    """Mean and second moment of the features, packed [B, C, C + 1]: the C x C moment, then the mean.

    The uncentred moment (not the covariance) is what is packed because it
    is a mean over positions like the mean: both add up over tiles and blend
    linearly as a mixture's. The covariance is formed in the loss.
    """

    name = "w2"
    additive = True
    working_bytes = 0

    def summary(self, features: torch.Tensor, mask: torch.Tensor | None = None, weight: torch.Tensor | None = None) -> torch.Tensor:
        channels = features.shape[1]
        if mask is None:
            moment = gram_matrix(features) * channels
            mean = features.float().mean((-2, -1))
        else:
            mask = mask.to(features.dtype)
            moment = guided_gram(features, mask, weight) * channels
            total = (mask.pow(2).sum() if weight is None else weight).clamp_min(torch.finfo(torch.float32).tiny)
            mean = (features * mask.pow(2)).float().sum((-2, -1)) / total
        return torch.cat([moment, mean.unsqueeze(-1)], -1)

    def target(self, features: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.summary(features, mask)

    @staticmethod
    def _unpack(packed: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean [.., C], covariance [.., C, C]) of packed statistics."""
        moment, mean = packed[..., :-1], packed[..., -1]
        return mean, _symmetric(moment - mean.unsqueeze(-1) * mean.unsqueeze(-2))

    def prepare(self, target: torch.Tensor) -> Prepared:
        """The target's mean, covariance's square root and trace, and the scale: its mean square summed over channels."""
        mean, covariance = self._unpack(target.float())
        scale = torch.diagonal(target[..., :-1], dim1=-2, dim2=-1).float().sum(-1).clamp_min(torch.finfo(torch.float32).tiny)
        return mean, psd_sqrt(covariance), torch.diagonal(covariance, dim1=-2, dim2=-1).sum(-1), scale

    def loss(self, summary: torch.Tensor, prepared: Prepared) -> torch.Tensor:
        """W2^2 = |m - m*|^2 + tr S + tr S* - 2 tr (S*^1/2 S S*^1/2)^1/2, relative to the target's mean square."""
        target_mean, target_root, target_trace, scale = prepared
        mean, covariance = self._unpack(summary.float())
        cross = _symmetric(target_root @ covariance @ target_root)
        root_trace = _floored(_eigvalsh(cross)).sqrt().sum(-1)
        trace = torch.diagonal(covariance, dim1=-2, dim2=-1).sum(-1)
        distance = (mean - target_mean).pow(2).sum(-1) + trace + target_trace - 2 * root_trace
        return distance.clamp_min(0) / scale


@dataclass
class SlicedStatistic:
    """Features projected on C fixed orthonormal directions and sorted: [B, C, N] for the image, [B, C, QUANTILES] for a style."""

    name = "sliced"
    additive = False
    working_bytes = 16  # the projections and the sorted values (fp32), and the sort's int64 ranks
    _projections: dict[tuple[int, torch.device], torch.Tensor] = field(default_factory=dict, repr=False)

    def projections(self, channels: int, device: torch.device) -> torch.Tensor:
        """[C, C] orthonormal rows, drawn once per channel count from SLICED_SEED."""
        key = (channels, device)
        if key not in self._projections:
            generator = torch.Generator().manual_seed(SLICED_SEED + channels)
            draw = torch.randn(channels, channels, generator=generator, dtype=torch.float64)
            self._projections[key] = torch.linalg.qr(draw).Q.float().to(device)
        return self._projections[key]

    def _sorted(self, features: torch.Tensor) -> torch.Tensor:
        flat = features.flatten(2).float()
        return (self.projections(flat.shape[1], flat.device) @ flat).sort(-1).values

    def summary(self, features: torch.Tensor, mask: torch.Tensor | None = None, weight: torch.Tensor | None = None) -> torch.Tensor:
        if mask is not None:
            raise ValueError("the sliced statistic takes no region mask (check_supports refuses those runs)")
        return self._sorted(features)

    def target(self, features: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if mask is not None:
            raise ValueError("the sliced statistic takes no style mask (check_supports refuses those runs)")
        return resample_quantiles(self._sorted(features), QUANTILES)

    def prepare(self, target: torch.Tensor) -> Prepared:
        return target, mean_square(target, 2)

    def loss(self, summary: torch.Tensor, prepared: Prepared) -> torch.Tensor:
        """Mean squared difference of sorted projections and the target's quantiles at the same ranks, relative."""
        target, scale = prepared
        ranks = resample_quantiles(target, summary.shape[-1])
        return (summary - ranks).pow(2).flatten(-2).mean(-1) / scale


def resample_quantiles(values: torch.Tensor, count: int) -> torch.Tensor:
    """Sorted values [..., N] (quantiles at (i + 1/2) / N) read at `count` evenly spaced ranks, linearly between."""
    if values.shape[-1] == count:
        return values
    flat = values.reshape(-1, 1, values.shape[-1])
    return F.interpolate(flat, size=count, mode="linear", align_corners=False).reshape(*values.shape[:-1], count)


StyleStatistic = GramStatistic | GaussianStatistic | SlicedStatistic


def statistic_type(style_loss_name: str) -> type[StyleStatistic]:
    """The kind of statistic a `style_loss` setting names: what the memory plan reads before a run makes one."""
    check_choice(style_loss_name, STYLE_LOSSES, "style_loss")
    return {"gram": GramStatistic, "w2": GaussianStatistic, "sliced": SlicedStatistic}[style_loss_name]


def statistic_for(style_loss_name: str) -> StyleStatistic:
    """The statistic a `style_loss` setting names."""
    return statistic_type(style_loss_name)()


def check_supports(statistic: StyleStatistic, *, regions: bool, tiled_hw: tuple[int, int] | None) -> None:
    """Refuse, naming style_loss, what a statistic that is not a sum over positions cannot do."""
    if statistic.additive:
        return
    if regions:
        raise InputError(
            f"'{statistic.name}' sorts all of a layer's positions together and cannot weigh them by a mask; "
            "use 'w2' or 'gram' with regional masks or a strength map",
            "style_loss",
        )
    if tiled_hw is not None:
        height, width = tiled_hw
        raise InputError(
            f"a {width}x{height} run is computed in tiles here (a tile size is set, or it does not fit whole), and "
            f"'{statistic.name}' sorts all of a layer's positions together so cannot be tiled; use 'w2' or 'gram', "
            "or no tile size and a size that fits whole",
            "style_loss",
        )
