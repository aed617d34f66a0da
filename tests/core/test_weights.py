"""VGG weights (core/weights.py): files of either layout and convention loaded and checked, and where they are looked for."""

from __future__ import annotations

import pickle

import pytest
import torch
from safetensors.torch import save_file

from nst_nodes.core import weights as weights_mod
from nst_nodes.core.errors import WeightsError
from nst_nodes.core.vgg import VGG16
from nst_nodes.core.weights import features_state_dict, load_model, locate_weights

from helpers import photo, same_weights

LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_2", "relu5_1", "relu5_3")


def test_full_torchvision_checkpoint_loads(tmp_path):
    """A checkpoint of torchvision's whole VGG19 (classifier included) loads its features."""
    import torchvision

    torch.manual_seed(3)
    full = torchvision.models.vgg19(weights=None).state_dict()
    path = tmp_path / "vgg19-full.pth"
    torch.save(full, path)
    features = load_model(path).features
    assert same_weights(features, {k: v for k, v in full.items() if k.startswith("features.")})


def test_features_only_pth_and_safetensors(tmp_path, vgg_state):
    pth = tmp_path / "f.pth"
    torch.save(vgg_state, pth)
    st = tmp_path / "f.safetensors"
    save_file(vgg_state, str(st))
    bare = tmp_path / "bare.pth"
    torch.save({k.removeprefix("features."): v for k, v in vgg_state.items()}, bare)
    for path in (pth, st, bare):
        assert same_weights(load_model(path).features, vgg_state)


def test_loaded_weights_are_frozen(vgg_path):
    features = load_model(vgg_path).features
    assert not any(p.requires_grad for p in features.parameters())


def test_truncated_file_refused(tmp_path, vgg_path):
    data = vgg_path.read_bytes()
    bad = tmp_path / "truncated.pth"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsError, match="corrupt or truncated"):
        load_model(bad).features


def test_truncated_safetensors_refused(tmp_path, vgg_state):
    st = tmp_path / "f.safetensors"
    save_file(vgg_state, str(st))
    data = st.read_bytes()
    st.write_bytes(data[: len(data) // 3])
    with pytest.raises(WeightsError, match="safetensors"):
        load_model(st).features


def test_empty_file_refused(tmp_path):
    empty = tmp_path / "empty.pth"
    empty.write_bytes(b"")
    with pytest.raises(WeightsError, match="empty"):
        load_model(empty).features


def test_wrong_shape_named(tmp_path, vgg_state):
    state = dict(vgg_state)
    state["features.10.weight"] = torch.zeros(256, 128, 5, 5)
    path = tmp_path / "shape.pth"
    torch.save(state, path)
    with pytest.raises(WeightsError, match=r"features\.10\.weight is \(256, 128, 5, 5\), expected \(256, 128, 3, 3\)"):
        load_model(path).features


def test_missing_keys_named(vgg_state):
    state = {k: v for k, v in vgg_state.items() if not k.startswith("features.34.")}
    with pytest.raises(WeightsError, match=r"missing features\.34\.weight, features\.34\.bias"):
        features_state_dict(state, "x.pth")


def test_integer_safetensors_refused(tmp_path, vgg_state):
    state = {k: v.to(torch.int32) for k, v in vgg_state.items()}
    path = tmp_path / "int.safetensors"
    save_file(state, str(path))
    with pytest.raises(WeightsError, match="floating point"):
        load_model(path).features


def test_half_precision_file_loads_as_float32(tmp_path, vgg_state):
    path = tmp_path / "half.safetensors"
    save_file({k: v.half() for k, v in vgg_state.items()}, str(path))
    features = load_model(path).features
    assert all(p.dtype == torch.float32 for p in features.parameters())


class _Payload:
    """Unpickling this would create a marker file: the loader must never do it."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickle_payload_never_runs(tmp_path, vgg_state):
    marker = tmp_path / "PWNED"
    state = dict(vgg_state)
    state["extra"] = _Payload(str(marker))
    path = tmp_path / "evil.pth"
    torch.save(state, path)
    with pytest.raises(WeightsError, match="not a plain state dict"):
        load_model(path).features
    assert not marker.exists()
    raw = tmp_path / "raw.pth"
    raw.write_bytes(pickle.dumps(_Payload(str(marker))))
    with pytest.raises(WeightsError):
        load_model(raw).features
    assert not marker.exists()


def test_lookup_order(tmp_path, monkeypatch, vgg_path):
    hub = tmp_path / "hub"
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub))
    monkeypatch.delenv(weights_mod.ENV_VAR, raising=False)
    with pytest.raises(WeightsError, match=str(hub / "checkpoints" / weights_mod.WEIGHTS_FILE)):
        locate_weights(offline=True)
    cached = hub / "checkpoints" / weights_mod.WEIGHTS_FILE
    cached.parent.mkdir(parents=True)
    cached.write_bytes(vgg_path.read_bytes())
    assert locate_weights(offline=True) == cached
    env_file = tmp_path / "env.pth"
    env_file.write_bytes(b"x")
    monkeypatch.setenv(weights_mod.ENV_VAR, str(env_file))
    assert locate_weights(offline=True) == env_file
    assert locate_weights(vgg_path, offline=True) == vgg_path
    with pytest.raises(WeightsError, match="does not exist"):
        locate_weights(tmp_path / "nope.pth", offline=True)


def test_weights_url_is_torchvisions():
    assert weights_mod.weights_url().endswith("/" + weights_mod.WEIGHTS_FILE)


def test_both_conventions_load_as_vgg16_and_see_the_same(hed_checkpoints):
    caffe, torchvision = load_model(hed_checkpoints["caffe"]), load_model(hed_checkpoints["torchvision"])
    assert caffe.architecture is VGG16 and torchvision.architecture is VGG16
    assert (caffe.convention.name, torchvision.convention.name) == ("caffe", "torchvision")
    image = photo("astronaut", 128)
    with torch.no_grad():
        seen_caffe, seen_torchvision = caffe.extractor(LAYERS)(image), torchvision.extractor(LAYERS)(image)
    for layer in LAYERS:
        a, b = seen_caffe[layer], seen_torchvision[layer]
        # equal but for the outermost pixels, where zero padding is a different colour in each convention
        assert float((a - b).norm() / a.norm()) < 2e-3, layer
        assert float((a - b)[..., 2:-2, 2:-2].norm() / a.norm()) < 2e-4, layer
