"""What the nodes need from ComfyUI at run time (nodes/_comfy.py): the `vgg` and `nst_fast` model folders, registered next to the user's."""

from __future__ import annotations

from pathlib import Path

import pytest

FOLDERS = {"vgg": {".pth", ".safetensors"}, "nst_fast": {".safetensors"}}


@pytest.mark.parametrize("folder", FOLDERS)
def test_model_folder_keeps_extra_model_paths_entries(comfy, tmp_path, monkeypatch, folder):
    registry = comfy.folder_paths.folder_names_and_paths
    default = str(Path(comfy.folder_paths.models_dir) / folder)
    user = str(tmp_path / "mine")
    # What extra_model_paths.yaml leaves behind: the user's path, no extension filter.
    monkeypatch.setitem(registry, folder, ([user], set()))
    comfy.runtime.register_model_folders()
    comfy.runtime.register_model_folders()
    assert registry[folder][0] == [user, default]
    assert set(registry[folder][1]) == FOLDERS[folder]


@pytest.mark.parametrize("folder", FOLDERS)
def test_model_folder_is_created_when_absent(comfy, monkeypatch, folder):
    monkeypatch.delitem(comfy.folder_paths.folder_names_and_paths, folder, raising=False)
    comfy.runtime.register_model_folders()
    paths, extensions = comfy.folder_paths.folder_names_and_paths[folder]
    assert paths == [str(Path(comfy.folder_paths.models_dir) / folder)] and set(extensions) == FOLDERS[folder]
