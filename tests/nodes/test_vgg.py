"""Load VGG (nodes/vgg.py): the files of models/vgg listed and loaded, the download choice fetched once."""

from __future__ import annotations

import hashlib

import pytest

from nst_nodes.core.vgg import VGGModel


def test_load_vgg_lists_and_loads_a_file(comfy, vgg_folder, vgg_path):
    (vgg_folder / "mine.pth").symlink_to(vgg_path)
    (vgg_folder / "notes.txt").write_text("not weights")
    options = next(i for i in comfy.vgg.LoadVGG19.GET_SCHEMA().inputs if i.id == "weights").options
    assert options == ["mine.pth", comfy.vgg.DOWNLOAD_CHOICE, comfy.vgg.FALLBACK_CHOICE]
    model = comfy.vgg.LoadVGG19.execute(weights="mine.pth", pooling="avg")[0]
    assert isinstance(model, VGGModel) and model.pooling == "avg" and model.source.endswith("mine.pth")
    assert model.padding == "zeros"  # a prompt saved before the input existed
    assert comfy.vgg.LoadVGG19.execute(weights="mine.pth", pooling="max", padding="replicate")[0].padding == "replicate"
    with pytest.raises(ValueError, match=r"^weights: 'gone.pth' is not in any models/vgg folder"):
        comfy.vgg.LoadVGG19.execute(weights="gone.pth", pooling="max")


def test_download_choice_downloads_once_with_progress(comfy, vgg_folder, vgg_path, monkeypatch, progress_events):
    """The download goes through core's checked temp-then-rename path, reporting on the node's bar."""
    digest = hashlib.sha256(vgg_path.read_bytes()).hexdigest()
    real_download = comfy.vgg.download_checked
    calls = []

    def local_download(target, url, sha256_prefix, progress=None):  # torchvision's address swapped for a local file
        calls.append(target)
        return real_download(target, url=vgg_path.as_uri(), sha256_prefix=digest[:8], progress=progress)

    monkeypatch.setattr(comfy.vgg, "download_checked", local_download)
    first = comfy.vgg.LoadVGG19.execute(weights=comfy.vgg.DOWNLOAD_CHOICE, pooling="max")[0]
    target = vgg_folder / "vgg19-dcbb9e9d.pth"
    assert calls == [str(target)] and target.read_bytes() == vgg_path.read_bytes()
    assert first.source == str(target)
    assert progress_events and progress_events[-1][0] == progress_events[-1][1]  # the bar reached its end
    assert not list(vgg_folder.glob(".*part"))
    comfy.vgg.LoadVGG19.execute(weights=comfy.vgg.DOWNLOAD_CHOICE, pooling="max")
    assert len(calls) == 1  # the file is there now: no second download
