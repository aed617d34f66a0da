"""Checked downloads (core/download.py): verified before the rename, nothing left of a bad one, the user's file kept."""

from __future__ import annotations

import hashlib
import os

import pytest
import torch

from nst_nodes.core.download import download_checked
from nst_nodes.core.errors import WeightsError
from nst_nodes.core.weights import load_model

from helpers import recording_progress, same_weights


def test_download_verifies_then_renames(tmp_path, file_server, vgg_path):
    root, base = file_server
    (root / "w.pth").write_bytes(vgg_path.read_bytes())
    prefix = hashlib.sha256(vgg_path.read_bytes()).hexdigest()[:8]
    target = tmp_path / "models" / "vgg19.pth"
    seen = []

    assert download_checked(target, url=f"{base}/w.pth", sha256_prefix=prefix, progress=recording_progress(seen)) == target
    assert target.read_bytes() == vgg_path.read_bytes()
    assert seen[0] == vgg_path.stat().st_size and sum(seen[1:]) == seen[0]
    assert same_weights(load_model(target).features, torch.load(vgg_path, weights_only=True))
    assert sorted(os.listdir(target.parent)) == ["vgg19.pth"]


def test_corrupt_download_leaves_nothing(tmp_path, file_server, vgg_path):
    root, base = file_server
    (root / "w.pth").write_bytes(vgg_path.read_bytes())
    target = tmp_path / "models" / "vgg19.pth"
    with pytest.raises(WeightsError, match="corrupt"):
        download_checked(target, url=f"{base}/w.pth", sha256_prefix="00000000")
    assert not target.exists()
    assert os.listdir(target.parent) == []


def test_unreachable_download_says_where_to_put_file(tmp_path, file_server):
    _, base = file_server
    target = tmp_path / "models" / "vgg19.pth"
    with pytest.raises(WeightsError, match=f"put .* at {target}"):
        download_checked(target, url=f"{base}/missing.pth", sha256_prefix="00000000")
    assert os.listdir(target.parent) == []


def test_existing_weights_never_replaced(tmp_path, file_server):
    root, base = file_server
    (root / "w.pth").write_bytes(b"new content")
    target = tmp_path / "vgg19.pth"
    target.write_bytes(b"the user's file")
    download_checked(target, url=f"{base}/w.pth", sha256_prefix="")
    assert target.read_bytes() == b"the user's file"
