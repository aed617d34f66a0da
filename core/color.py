"""Colour: luminance and chroma, and moving one image's colour statistics onto another's.

`--preserve-color` is built from these: `luminance` keeps the result's
brightness with the content's chroma, `histogram` gives the style images the
content's colour mean and covariance before the run.
"""

from __future__ import annotations

import torch

from .geometry import resize

# ITU-R BT.601 full-range YCbCr, as JPEG uses.
_RGB_TO_YCBCR = torch.tensor(
    [[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]]
)


def rgb_to_ycbcr(image: torch.Tensor) -> torch.Tensor:
    """[B, 3, H, W] RGB -> YCbCr with chroma centred on 0."""
    matrix = _RGB_TO_YCBCR.to(image)
    return torch.einsum("ij,bjhw->bihw", matrix, image)


def ycbcr_to_rgb(image: torch.Tensor) -> torch.Tensor:
    """Inverse of rgb_to_ycbcr."""
    matrix = torch.linalg.inv(_RGB_TO_YCBCR.double()).to(image)
    return torch.einsum("ij,bjhw->bihw", matrix, image)


def keep_luminance_only(result: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """The result's luminance with the content's chroma: style without its colours."""
    content = resize(content, tuple(result.shape[-2:]))
    luma = rgb_to_ycbcr(result)[:, :1]
    chroma = rgb_to_ycbcr(content)[:, 1:]
    return ycbcr_to_rgb(torch.cat([luma, chroma], dim=1)).clamp(0, 1)


def _matrix_power_sym(cov: torch.Tensor, power: float) -> torch.Tensor:
    values, vectors = torch.linalg.eigh(cov)
    values = values.clamp_min(1e-8) ** power
    return vectors @ torch.diag(values) @ vectors.T


def match_color(source: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Give `source` the colour mean and covariance of `reference`.

    A linear colour transfer (x - mu_s) -> C_r^1/2 C_s^-1/2 (x - mu_s) + mu_r,
    as in Gatys et al. 2017, "Controlling perceptual factors", section 5.
    """
    src = source[0].reshape(3, -1).double()
    ref = reference[0].reshape(3, -1).double()
    mu_s, mu_r = src.mean(1, keepdim=True), ref.mean(1, keepdim=True)
    eye = torch.eye(3, dtype=torch.float64) * 1e-5
    cov_s = torch.cov(src) + eye
    cov_r = torch.cov(ref) + eye
    transform = _matrix_power_sym(cov_r, 0.5) @ _matrix_power_sym(cov_s, -0.5)
    out = transform @ (src - mu_s) + mu_r
    return out.reshape_as(source[0]).unsqueeze(0).to(source.dtype).clamp(0, 1)
