"""What the nodes need from ComfyUI while they run: devices, progress, interrupts, model folders.

Everything that touches `comfy.*` or `folder_paths` at run time goes through
this module, so node modules stay declarative and tests can replace one
function instead of patching ComfyUI. It is imported only by node modules,
which only ComfyUI (or a test that put ComfyUI on `sys.path`) imports.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import comfy.model_management
import comfy.utils
import folder_paths
import torch

from ._convert import preview_picture

VGG_FOLDER = "vgg"
FAST_FOLDER = "nst_fast"
# The pack's folders under ComfyUI's models/ and the files each lists.
MODEL_FOLDERS = {VGG_FOLDER: frozenset({".pth", ".safetensors"}), FAST_FOLDER: frozenset({".safetensors"})}
# Live previews are sent as JPEG no larger than this (ComfyUI's own default preview size).
PREVIEW_MAX_SIDE = 512


# ------------------------------------------------------------------ devices


def torch_device() -> torch.device:
    """The device ComfyUI runs models on (its --cpu, --gpu-only, ... choices included)."""
    return comfy.model_management.get_torch_device()


def output_device() -> torch.device:
    """Where ComfyUI expects node outputs (IMAGE tensors) to live."""
    return comfy.model_management.intermediate_device()


def make_room(bytes_needed: int, device: torch.device) -> None:
    """Ask ComfyUI to unload its other models until a run of this size fits on a GPU.

    Without this, models ComfyUI keeps loaded (a checkpoint from an earlier
    prompt, say) would make the engine's own memory check refuse the run.
    """
    if torch.device(device).type != "cpu":
        comfy.model_management.free_memory(int(bytes_needed), torch.device(device))


def release_memory() -> None:
    """Hand cached device memory back after a run, as ComfyUI's own nodes do."""
    comfy.model_management.soft_empty_cache()


# --------------------------------------------------------- progress, interrupt


def stop_if_interrupted() -> bool:
    """The engine's `should_stop`: raise ComfyUI's interrupt exception if the user pressed Cancel.

    Raising (rather than returning True, which makes the engine raise its own
    StopRequested) is what lets ComfyUI record the prompt as interrupted
    instead of failed. Newer ComfyUI throttles progress updates, so the
    progress hook alone would not notice a Cancel promptly.
    """
    comfy.model_management.throw_exception_if_processing_interrupted()
    return False


class Progress:
    """ComfyUI's progress bar for `total` units, with a JPEG preview every `preview_every` units."""

    def __init__(self, total: int, preview_every: int = 0) -> None:
        self.total = max(1, int(total))
        self.preview_every = max(0, int(preview_every))
        self._bar = comfy.utils.ProgressBar(self.total)

    def wants_preview(self, done: int) -> bool:
        return self.preview_every > 0 and (done % self.preview_every == 0 or done >= self.total)

    def update(self, done: int, preview: Callable[[], torch.Tensor] | None = None) -> None:
        """Report `done` units; `preview()` ([1, 3, H, W]) is rendered only when a preview is due."""
        picture = None
        if preview is not None and self.wants_preview(done):
            image = preview_picture(preview())
            # ComfyUI scales previews to fit this box, up as well as down: never enlarge small ones.
            picture = ("JPEG", image, min(PREVIEW_MAX_SIDE, max(image.size)))
        self._bar.update_absolute(min(done, self.total), self.total, picture)


class ByteProgress:
    """core.weights' download progress sink, shown on the node's progress bar (in KiB)."""

    def __init__(self, total_bytes: int | None) -> None:
        self._total = max(1, (total_bytes or 0) // 1024)
        self._done = 0
        self._bar = comfy.utils.ProgressBar(self._total)

    def update(self, n: int) -> None:
        self._done += n
        done_kib = self._done // 1024
        self._bar.update_absolute(min(done_kib, self._total), max(self._total, done_kib))

    def close(self) -> None:
        pass


# ---------------------------------------------------------- model folders


def register_folder(folder: str) -> None:
    """Make `models/<folder>` a ComfyUI model folder without losing the user's own entries.

    `extra_model_paths.yaml` is read before custom nodes load and may already
    have created the folder (with no extension filter): its paths keep their
    place in front and ComfyUI's default folder is only appended. Safe to call twice.
    """
    default = os.path.join(folder_paths.models_dir, folder)
    entry = folder_paths.folder_names_and_paths.get(folder)
    if entry is None:
        folder_paths.folder_names_and_paths[folder] = ([default], set(MODEL_FOLDERS[folder]))
        return
    folder_paths.add_model_folder_path(folder, default)
    paths, extensions = folder_paths.folder_names_and_paths[folder]
    if not extensions:
        folder_paths.folder_names_and_paths[folder] = (paths, set(MODEL_FOLDERS[folder]))


def register_model_folders() -> None:
    """Every model folder of the pack (MODEL_FOLDERS)."""
    for folder in MODEL_FOLDERS:
        register_folder(folder)


def model_files(folder: str) -> list[str]:
    """Model files found in every registered `folder`."""
    register_folder(folder)
    return folder_paths.get_filename_list(folder)


def model_path(folder: str, name: str) -> str | None:
    """Full path of a listed model file, or None if it is not there (any more)."""
    register_folder(folder)
    return folder_paths.get_full_path(folder, name)


def file_stamp(folder: str, name: str) -> str:
    """The listed file's path, size and modification time, or its name and "missing": a loader's fingerprint."""
    path = model_path(folder, name)
    if path is None:
        return f"{name}|missing"
    stat = os.stat(path)
    return f"{path}|{stat.st_size}|{stat.st_mtime_ns}"


def download_target(folder: str, name: str) -> str:
    """Where a download named `name` goes: the first of the `folder` folders."""
    register_folder(folder)
    return os.path.join(folder_paths.get_folder_paths(folder)[0], name)
