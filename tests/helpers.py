"""Test images with known properties."""

from __future__ import annotations

import torch


def stripes(height: int, width: int, angle_deg: float, period: float = 12.0, seed: int = 0) -> torch.Tensor:
    """Colour stripes at an angle (counter-clockwise from horizontal stripes), [1, 3, H, W]."""
    ys, xs = torch.meshgrid(torch.arange(height, dtype=torch.float32), torch.arange(width, dtype=torch.float32), indexing="ij")
    theta = torch.deg2rad(torch.tensor(float(angle_deg)))
    coord = xs * torch.sin(theta) + ys * torch.cos(theta)
    phase = 2 * torch.pi * coord / period
    generator = torch.Generator().manual_seed(seed)
    colours = torch.rand(2, 3, generator=generator)
    mix = (torch.sin(phase) > 0).float()
    image = colours[0].view(3, 1, 1) * mix + colours[1].view(3, 1, 1) * (1 - mix)
    return image.unsqueeze(0)


def photo(name: str, longest: int) -> torch.Tensor:
    """One of scikit-image's bundled photos as [1, 3, H, W] in [0, 1], its longest side `longest` px."""
    from skimage import data

    from nst_nodes.core.images import fit_size, resize

    image = torch.from_numpy(getattr(data, name)()).permute(2, 0, 1)[None].float() / 255
    return resize(image, fit_size(image.shape[-2], image.shape[-1], longest))


def pil_resize(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """[1, 3, H, W] resized to (H, W) by PIL's bicubic filter (antialiased), channel by channel in float mode, in [0, 1]."""
    import numpy as np
    from PIL import Image

    height, width = size
    planes = [np.ascontiguousarray(c.detach().numpy()) for c in image[0].float()]
    resized = [np.asarray(Image.fromarray(p, "F").resize((width, height), Image.BICUBIC)) for p in planes]
    return torch.from_numpy(np.stack(resized))[None].clamp(0, 1)


def recording_progress(seen: list) -> type:
    """A progress-bar class for downloads that appends its total, then each update, to `seen`."""

    class Bar:
        def __init__(self, total):
            seen.append(total)

        def update(self, n):
            seen.append(n)

        def close(self):
            pass

    return Bar


def settings(**fields):
    """(RunSettings, LossSettings) from one set of keyword fields, each going to the type that has it."""
    from dataclasses import fields as fields_of

    from nst_nodes.core.settings import LossSettings, RunSettings

    loss_names = {f.name for f in fields_of(LossSettings)}
    run = RunSettings(**{k: v for k, v in fields.items() if k not in loss_names})
    return run, LossSettings(**{k: v for k, v in fields.items() if k in loss_names})
