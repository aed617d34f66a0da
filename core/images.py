"""Images in and out of the engine.

The engine works on float tensors shaped [B, 3, H, W] with values in [0, 1].
This module turns files and PIL images into that, resizes them, and writes
results without ever leaving a half-written file behind.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

from .errors import InputError
from .files import refuse_existing, write_atomic

# The smallest side VGG19 can look at down to pool4 with a 2x2 map left.
MIN_SIDE = 32
MAX_SIDE = 8192
# Smaller inputs hold no texture or content worth transferring.
MIN_INPUT_SIDE = 16


def pil_to_tensor(image: Image.Image) -> torch.Tensor:
    """PIL image of any common mode -> [1, 3, H, W] float32 in [0, 1].

    Transparent images are composited over white (what viewers show), greyscale
    is replicated to three channels, 16-bit greyscale keeps its full range.
    """
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        grey = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if grey.max(initial=0) > 255 or image.mode.startswith("I;16") else 255.0
        grey = np.clip(grey / peak, 0.0, 1.0).astype(np.float32)
        array = np.repeat(grey[:, :, None], 3, axis=2)
    elif image.mode == "F":
        grey = np.clip(np.asarray(image, dtype=np.float32), 0.0, 1.0)
        array = np.repeat(grey[:, :, None], 3, axis=2)
    else:
        if image.mode == "P" or image.mode == "PA":
            image = image.convert("RGBA")
        if image.mode in ("RGBA", "LA", "La", "RGBa"):
            rgba = image.convert("RGBA")
            background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            image = Image.alpha_composite(background, rgba)
        array = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1).unsqueeze(0).contiguous()


def tensor_to_pil(image: torch.Tensor) -> Image.Image:
    """[1, 3, H, W] or [3, H, W] tensor in [0, 1] -> 8-bit RGB PIL image."""
    if image.dim() == 4:
        image = image[0]
    array = image.detach().float().clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy()
    return Image.fromarray(array, mode="RGB")


def _read(path: str | os.PathLike, what: str, convert: Callable[[Image.Image], torch.Tensor]) -> torch.Tensor:
    """Open an image file once and convert it, every failure named by `what`."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{what}: file not found: {path}")
    if path.is_dir():
        raise InputError(f"{what}: {path} is a folder, not an image file")
    try:
        with Image.open(path) as image:
            image.load()
            return convert(image)
    except UnidentifiedImageError:
        raise InputError(f"{what}: {path} is not an image Pillow can read (PNG, JPEG, WebP, ...)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"{what}: {path} could not be decoded ({exc}); the file may be truncated or corrupt") from None


def load_image(path: str | os.PathLike, what: str = "image") -> torch.Tensor:
    """Read an image file -> [1, 3, H, W] float32 in [0, 1]; `what` names it in errors."""
    return _read(path, what, pil_to_tensor)


def save_image(image: torch.Tensor, path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write the image in the format its suffix names, atomically (see files.write_atomic)."""
    path = Path(path)
    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None:
        raise InputError(f"out: unknown image extension {path.suffix!r}; use .png, .jpg or .webp")
    if not overwrite:
        refuse_existing(path, "out")
    buffer = io.BytesIO()
    tensor_to_pil(image).save(buffer, format=fmt)
    return write_atomic(path, buffer.getvalue(), overwrite=overwrite, what="out")


def check_image(image: torch.Tensor, field: str, index: int | None = None) -> None:
    """Refuse a tensor that is not one finite RGB picture of a usable size."""
    if image.dim() != 4 or image.shape[0] != 1 or image.shape[1] != 3:
        raise InputError(f"expected one RGB image [1, 3, H, W], got shape {tuple(image.shape)}", field, index)
    height, width = image.shape[-2:]
    if min(height, width) < MIN_INPUT_SIDE:
        raise InputError(f"the image is {width}x{height} px; use one at least {MIN_INPUT_SIDE} px on each side", field, index)
    if not torch.isfinite(image).all():
        raise InputError("the image has NaN or infinite pixel values", field, index)


def check_mask(mask: torch.Tensor, field: str, index: int | None = None) -> None:
    """Refuse a tensor that is not one finite mask [1, 1, H, W] with values in [0, 1]."""
    if not isinstance(mask, torch.Tensor) or mask.dim() != 4 or mask.shape[:2] != (1, 1) or min(mask.shape[-2:]) < 1:
        shape = tuple(mask.shape) if isinstance(mask, torch.Tensor) else type(mask).__name__
        raise InputError(f"expected one mask [1, 1, H, W], got {shape}", field, index)
    if not torch.isfinite(mask).all():
        raise InputError("the mask has NaN or infinite values", field, index)
    if float(mask.min()) < 0 or float(mask.max()) > 1:
        raise InputError("mask values must lie in [0, 1] (white 1: apply, black 0: not)", field, index)


def _mask_of(picture: Image.Image) -> torch.Tensor:
    """A picture's alpha channel if it has one, else its grey levels, as [1, 1, H, W] in [0, 1]."""
    if picture.mode in ("RGBA", "LA", "PA") or "transparency" in picture.info:
        alpha = np.asarray(picture.convert("RGBA"), dtype=np.float32)[:, :, 3] / 255.0
        return torch.from_numpy(alpha.copy())[None, None]
    return rgb_to_ycbcr(pil_to_tensor(picture))[:, :1].clamp(0, 1)


def load_mask(path: str | os.PathLike, what: str) -> torch.Tensor:
    """A mask file -> [1, 1, H, W] in [0, 1]: its alpha channel if it has one, else its grey levels."""
    return _read(path, what, _mask_of)


def parse_exact_size(text: str) -> tuple[int, int]:
    """'256x192' -> (height, width) = (192, 256): the user writes width first."""
    parts = text.lower().replace("×", "x").split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise InputError(f"{text!r} is not WIDTHxHEIGHT, e.g. 256x256", "exact")
    width, height = (int(p) for p in parts)
    check_side(width, "exact")
    check_side(height, "exact")
    return height, width


def check_side(value: int, field: str) -> None:
    """Refuse sides VGG19 cannot use or that no device could hold."""
    if not MIN_SIDE <= value <= MAX_SIDE:
        raise InputError(f"{value} px is out of range; use {MIN_SIDE} to {MAX_SIDE} px", field)


def fit_size(height: int, width: int, longest: int) -> tuple[int, int]:
    """(H, W) scaled so that the longer side is `longest`, keeping the aspect ratio."""
    scale = longest / max(height, width)
    new_h, new_w = max(1, round(height * scale)), max(1, round(width * scale))
    if min(new_h, new_w) < MIN_SIDE:
        raise InputError(
            f"at {longest} px the image ({width}x{height}) would be {new_w}x{new_h}, "
            f"under the {MIN_SIDE} px VGG19 needs; use a larger size or a less elongated image",
            "size",
        )
    return new_h, new_w


def resize(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Antialiased bicubic resize of [B, 3, H, W] to (H, W), kept in [0, 1]."""
    if tuple(image.shape[-2:]) == tuple(size):
        return image
    out = F.interpolate(image, size=size, mode="bicubic", align_corners=False, antialias=True)
    return out.clamp_(0, 1)


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
