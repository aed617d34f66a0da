"""What the nodes need from ComfyUI at run time (nodes/_comfy.py): the `vgg` model folder, registered next to the user's."""

from __future__ import annotations

from pathlib import Path


def test_vgg_folder_keeps_extra_model_paths_entries(comfy, tmp_path, monkeypatch):
    registry = comfy.folder_paths.folder_names_and_paths
    default = str(Path(comfy.folder_paths.models_dir) / "vgg")
    user = str(tmp_path / "mine")
    # What extra_model_paths.yaml leaves behind: the user's path, no extension filter.
    monkeypatch.setitem(registry, "vgg", ([user], set()))
    comfy.runtime.register_vgg_folder()
    comfy.runtime.register_vgg_folder()
    assert registry["vgg"][0] == [user, default]
    assert set(registry["vgg"][1]) == {".pth", ".safetensors"}


def test_vgg_folder_is_created_when_absent(comfy, monkeypatch):
    monkeypatch.delitem(comfy.folder_paths.folder_names_and_paths, "vgg", raising=False)
    comfy.runtime.register_vgg_folder()
    paths, extensions = comfy.folder_paths.folder_names_and_paths["vgg"]
    assert paths == [str(Path(comfy.folder_paths.models_dir) / "vgg")] and ".pth" in extensions
