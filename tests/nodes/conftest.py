"""Fixtures of the node tests: ComfyUI 0.3.75's modules imported in this process, its progress hook, model folders."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest


@pytest.fixture(scope="module")
def comfy(comfyui_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """ComfyUI's modules, imported in this process on the CPU with a throw-away base directory."""
    if str(comfyui_dir) not in sys.path:
        sys.path.insert(0, str(comfyui_dir))
    import comfy.cli_args

    comfy.cli_args.args.cpu = True
    comfy.cli_args.args.base_directory = str(tmp_path_factory.mktemp("comfy-unit-base"))
    import comfy.model_management
    import comfy.utils
    import folder_paths

    from nst_nodes.nodes import _comfy, fast, loss, optimize, rotation, samples, search, style, vgg, video

    return SimpleNamespace(
        mm=comfy.model_management, utils=comfy.utils, folder_paths=folder_paths, runtime=_comfy, fast=fast,
        loss=loss, optimize=optimize, rotation=rotation, samples=samples, search=search, style=style, vgg=vgg,
        video=video,
    )  # fmt: skip


@pytest.fixture
def progress_events(comfy: SimpleNamespace):
    """Everything the nodes send to ComfyUI's progress hook: (value, total, preview)."""
    events: list[tuple[int, int, Any]] = []

    def hook(value, total, preview, prompt_id=None, node_id=None):
        # Unlike 0.3.75's hook this one never checks for a Cancel (newer ComfyUI throttles its
        # hook), so only the nodes' own check can stop a run here.
        events.append((value, total, preview))

    comfy.utils.set_progress_bar_global_hook(hook)
    yield events
    comfy.utils.set_progress_bar_global_hook(None)
    comfy.mm.interrupt_current_processing(False)


def _private_folder(comfy: SimpleNamespace, folder: Path, extensions: set[str], monkeypatch: pytest.MonkeyPatch) -> Path:
    """`folder` as the only path of the model folder of its name in ComfyUI's registry, for one test."""
    folder.mkdir()
    monkeypatch.setitem(comfy.folder_paths.folder_names_and_paths, folder.name, ([str(folder)], extensions))
    comfy.folder_paths.filename_list_cache.pop(folder.name, None)
    return folder


@pytest.fixture
def vgg_folder(comfy: SimpleNamespace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private `vgg` model folder in ComfyUI's registry for one test."""
    return _private_folder(comfy, tmp_path / "vgg", {".pth", ".safetensors"}, monkeypatch)


@pytest.fixture
def fast_folder(comfy: SimpleNamespace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private `nst_fast` model folder in ComfyUI's registry for one test."""
    return _private_folder(comfy, tmp_path / "nst_fast", {".safetensors"}, monkeypatch)
