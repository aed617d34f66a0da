"""Pictures and masks in and out of the engine: files and PIL images to tensors, results to files.

Images become float tensors [1, 3, H, W] in [0, 1], masks [1, 1, H, W] in
[0, 1]. Every failure to read names the input it was for; a result is
written without ever leaving a half-written file behind (files.py).
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from .color import rgb_to_ycbcr
from .errors import InputError
from .files import refuse_existing, write_atomic


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


def _mask_of(picture: Image.Image) -> torch.Tensor:
    """A picture's alpha channel if it has one, else its grey levels, as [1, 1, H, W] in [0, 1]."""
    if picture.mode in ("RGBA", "LA", "PA") or "transparency" in picture.info:
        alpha = np.asarray(picture.convert("RGBA"), dtype=np.float32)[:, :, 3] / 255.0
        return torch.from_numpy(alpha.copy())[None, None]
    return rgb_to_ycbcr(pil_to_tensor(picture))[:, :1].clamp(0, 1)


def load_mask(path: str | os.PathLike, what: str) -> torch.Tensor:
    """A mask file -> [1, 1, H, W] in [0, 1]: its alpha channel if it has one, else its grey levels."""
    return _read(path, what, _mask_of)


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
