"""Conversions between ComfyUI's values and the engine's, with no ComfyUI import.

ComfyUI's IMAGE is a float tensor [B, H, W, C] in [0, 1] and its MASK one of
[B, H, W] (or [H, W]), both created under `torch.inference_mode()` and shared
with other nodes; the engine wants separate [1, 3, H, W] images and
[1, 1, H, W] masks it may use with autograd. Every conversion
therefore copies (outside inference mode), so no node ever changes a tensor
ComfyUI handed it and the copies can take part in gradient computation.
Only shapes are looked at here; the engine checks the values.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from PIL import Image

from ..core.errors import InputError
from ..core.images import pil_to_tensor, tensor_to_pil


def _check_image(image: torch.Tensor, what: str) -> None:
    if not isinstance(image, torch.Tensor) or image.dim() != 4:
        shape = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise InputError(f"{what}: expected an IMAGE batch [B, H, W, C], got {shape}")
    if image.shape[0] < 1 or image.shape[-1] not in (1, 3, 4):
        raise InputError(f"{what}: expected 1, 3 or 4 channels in an IMAGE [B, H, W, C], got shape {tuple(image.shape)}")


def image_to_list(image: torch.Tensor, what: str) -> list[torch.Tensor]:
    """An IMAGE batch -> one fresh [1, 3, H, W] float32 CPU tensor per item.

    Alpha is dropped (ComfyUI keeps masks separately) and greyscale is
    repeated to three channels.
    """
    _check_image(image, what)
    with torch.inference_mode(False):
        items = []
        for index in range(image.shape[0]):
            item = image[index : index + 1].detach().to("cpu", torch.float32).clone()
            item = item[..., :3] if item.shape[-1] >= 3 else item.repeat(1, 1, 1, 3)
            items.append(item.permute(0, 3, 1, 2).contiguous().clamp_(0, 1))
    return items


def image_to_single(image: torch.Tensor, what: str) -> torch.Tensor:
    """An IMAGE that must hold exactly one picture -> [1, 3, H, W]."""
    items = image_to_list(image, what)
    if len(items) != 1:
        raise InputError(
            f"{what}: got a batch of {len(items)} images; connect a single image here (e.g. pick one from the batch)"
        )
    return items[0]


def mask_to_list(mask: torch.Tensor, what: str) -> list[torch.Tensor]:
    """A MASK batch [B, H, W] (or one [H, W]) -> one fresh [1, 1, H, W] float32 CPU tensor per item.

    Leading dimensions are read as the batch, as ComfyUI's own mask nodes do
    (so [B, 1, H, W] works too). Only the shape is looked at here; the engine
    checks the values (range, NaN, black everywhere).
    """
    if not isinstance(mask, torch.Tensor) or mask.dim() < 2 or mask.numel() == 0:
        shape = tuple(mask.shape) if isinstance(mask, torch.Tensor) else type(mask).__name__
        raise InputError(f"{what}: expected a MASK [B, H, W], got {shape}")
    with torch.inference_mode(False):
        batch = mask.detach().to("cpu", torch.float32).reshape(-1, 1, *mask.shape[-2:])
        return [batch[index : index + 1].clone() for index in range(batch.shape[0])]


def mask_to_single(mask: torch.Tensor, what: str) -> torch.Tensor:
    """A MASK that must hold exactly one mask -> [1, 1, H, W]."""
    items = mask_to_list(mask, what)
    if len(items) != 1:
        raise InputError(f"{what}: got a batch of {len(items)} masks; connect one mask")
    return items[0]


def list_to_image(images: Sequence[torch.Tensor], device: torch.device | str = "cpu") -> torch.Tensor:
    """[1, 3, H, W] tensors of one size -> an IMAGE batch [B, H, W, 3] on `device`."""
    batch = torch.cat([image.detach().float().cpu() for image in images], dim=0)
    return batch.clamp(0, 1).permute(0, 2, 3, 1).contiguous().to(device)


def pil_to_image(picture: Image.Image) -> torch.Tensor:
    """A PIL image -> IMAGE [1, H, W, 3]."""
    return list_to_image([pil_to_tensor(picture)])


def preview_picture(image: torch.Tensor) -> Image.Image:
    """[1, 3, H, W] -> PIL, for ComfyUI's live preview."""
    return tensor_to_pil(image)

