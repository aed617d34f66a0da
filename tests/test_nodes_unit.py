"""The nodes' own logic, called directly with ComfyUI 0.3.75's source on sys.path (no server).

These tests call `execute` the way ComfyUI does (under torch.inference_mode,
with IMAGE tensors made there) and watch ComfyUI's progress hook. They do not
replace tests/test_comfy_nodes.py, which runs the pack inside a real server.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch

import nst_nodes
from nst_nodes.core.errors import InputError
from nst_nodes.core.rotation import RotationSpec
from nst_nodes.core.settings import LossSettings
from nst_nodes.core.style import StyleSpec
from nst_nodes.core.vgg import VGGModel

from nst_comfy import NODE_IDS

# ---------------------------------------------------------------------- fixtures


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

    from nst_nodes.nodes import _comfy, loss, optimize, rotation, samples, search, style, vgg

    return SimpleNamespace(
        mm=comfy.model_management, utils=comfy.utils, folder_paths=folder_paths, runtime=_comfy,
        loss=loss, optimize=optimize, rotation=rotation, samples=samples, search=search, style=style, vgg=vgg,
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


@pytest.fixture
def vgg_folder(comfy: SimpleNamespace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private `vgg` model folder in ComfyUI's registry for one test."""
    folder = tmp_path / "vgg"
    folder.mkdir()
    monkeypatch.setitem(comfy.folder_paths.folder_names_and_paths, "vgg", ([str(folder)], {".pth", ".safetensors"}))
    comfy.folder_paths.filename_list_cache.pop("vgg", None)
    return folder


def comfy_image(tensor: torch.Tensor) -> torch.Tensor:
    """[B, 3, H, W] -> an IMAGE [B, H, W, 3] made under inference mode, as ComfyUI's are."""
    with torch.inference_mode():
        return tensor.permute(0, 2, 3, 1).contiguous().clone()


def plain_style(size: int = 48, seed: int = 0) -> StyleSpec:
    generator = torch.Generator().manual_seed(seed)
    return StyleSpec(images=[torch.rand(1, 3, size, size, generator=generator)])


# -------------------------------------------------------------- extension, schemas


def test_entrypoint_gives_all_nodes_once(comfy):
    extension = asyncio.run(nst_nodes.comfy_entrypoint())
    asyncio.run(extension.on_load())
    classes = asyncio.run(extension.get_node_list())
    ids = [cls.GET_SCHEMA().node_id for cls in classes]
    assert sorted(ids) == sorted(NODE_IDS)


def test_every_node_input_and_output_is_documented(comfy):
    extension = asyncio.run(nst_nodes.comfy_entrypoint())
    for cls in asyncio.run(extension.get_node_list()):
        schema = cls.GET_SCHEMA()
        assert schema.node_id.startswith("NST_") and schema.display_name.endswith("(NST)"), schema.node_id
        assert len(schema.description) > 40, schema.node_id
        for item in [*schema.inputs, *schema.outputs]:
            assert item.tooltip and len(item.tooltip) > 15, f"{schema.node_id}.{item.id}"


def test_nodes_carry_search_words_where_the_schema_has_search_aliases(comfy, monkeypatch):
    """Newer ComfyUI's Schema has `search_aliases`; 0.3.75's has not, and there the nodes must still build."""
    from comfy_api.latest import io

    from nst_nodes.nodes import _types

    assert "search_aliases" not in {f.name for f in dataclasses.fields(io.Schema)}  # 0.3.75: left out

    @dataclasses.dataclass
    class NewerSchema(io.Schema):
        search_aliases: list[str] = dataclasses.field(default_factory=list)

    monkeypatch.setattr(_types.io, "Schema", NewerSchema)
    extension = asyncio.run(nst_nodes.comfy_entrypoint())
    for cls in asyncio.run(extension.get_node_list()):
        aliases = cls.define_schema().search_aliases
        assert {"style transfer", "neural style", "gatys", "vgg"} <= set(aliases), cls.__name__
        assert len(aliases) > len(_types.SEARCH_WORDS), f"{cls.__name__} has no words of its own"


# ------------------------------------------------------------------- model folder


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


def test_load_vgg_lists_and_loads_a_file(comfy, vgg_folder, vgg_path):
    (vgg_folder / "mine.pth").symlink_to(vgg_path)
    (vgg_folder / "notes.txt").write_text("not weights")
    options = next(i for i in comfy.vgg.LoadVGG19.GET_SCHEMA().inputs if i.id == "weights").options
    assert options == ["mine.pth", comfy.vgg.DOWNLOAD_CHOICE, comfy.vgg.FALLBACK_CHOICE]
    model = comfy.vgg.LoadVGG19.execute(weights="mine.pth", pooling="avg")[0]
    assert isinstance(model, VGGModel) and model.pooling == "avg" and model.source.endswith("mine.pth")
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


def test_sample_image(comfy):
    image = comfy.samples.SampleImage.execute(sample="content.png")[0]
    assert image.shape == (1, 256, 256, 3) and image.dtype == torch.float32
    assert 0 <= float(image.min()) and float(image.max()) <= 1
    with pytest.raises(ValueError, match="^sample: 'nope.png' is not a bundled sample"):
        comfy.samples.SampleImage.execute(sample="nope.png")


# ------------------------------------------------------------------------ styles


def _mix(comfy, **kwargs) -> StyleSpec:
    inputs = {"weight_1": 1.0, "weight_2": 1.0, "weight_3": 1.0, "weight_4": 1.0, "mode": "gram", "style_scale": 1.0}
    inputs.update(kwargs)
    return comfy.style.StyleMix.execute(**inputs)[0]


def test_style_mix_quarter_three_quarters(comfy):
    a, b = comfy_image(torch.rand(1, 3, 40, 50)), comfy_image(torch.rand(1, 3, 30, 30))
    before = (a.clone(), b.clone())
    spec = _mix(comfy, style_1=a, style_2=b, weight_1=0.25, weight_2=0.75, weight_4=0.0)
    assert spec.weights == [0.25, 0.75]  # weight_3/4 belong to unconnected inputs and are ignored
    assert [tuple(i.shape) for i in spec.images] == [(1, 3, 40, 50), (1, 3, 30, 30)]
    assert torch.equal(a, before[0]) and torch.equal(b, before[1])
    assert not spec.images[0].is_inference()  # usable with autograd later
    assert spec.images[0].data_ptr() != a.data_ptr()


@pytest.mark.parametrize(
    "inputs, message",
    [
        ({"weight_1": 0.0, "weight_2": 0.0}, r"^weight_1, weight_2: all weights are zero"),
        ({"weight_2": -1.0}, r"^weight_2: -1.0 is a negative weight"),
        ({"mode": "blend"}, r"^mode: 'blend' is not one of gram, feature"),
        ({"style_scale": 9.0}, r"^style_scale: 9.0 is out of range"),
    ],
)
def test_style_mix_refuses_bad_values_by_input_name(comfy, inputs, message):
    images = {"style_1": comfy_image(torch.rand(1, 3, 32, 32)), "style_2": comfy_image(torch.rand(1, 3, 32, 32))}
    with pytest.raises(InputError, match=message):
        _mix(comfy, **images, **inputs)


def test_style_mix_wants_one_image_per_style(comfy):
    with pytest.raises(InputError, match=r"^style_2: got a batch of 3 images"):
        _mix(comfy, style_1=comfy_image(torch.rand(1, 3, 32, 32)), style_2=comfy_image(torch.rand(3, 3, 32, 32)))


def comfy_mask(tensor: torch.Tensor) -> torch.Tensor:
    """A MASK [B, H, W] made under inference mode, as ComfyUI's are (SolidMask, LoadImage)."""
    with torch.inference_mode():
        return tensor.clone()


# Saved UI workflows store widget values by position and sockets by slot: the new inputs come last.
STYLE_MIX_INPUTS = [
    "style_1", "weight_1", "weight_2", "weight_3", "weight_4", "mode", "style_scale", "style_2", "style_3", "style_4",
    "mask_1", "mask_2", "mask_3", "mask_4",
]  # fmt: skip
OPTIMIZE_INPUTS = [
    "vgg", "content", "style", "steps", "optimizer", "learning_rate", "size", "init", "preserve_color", "seed",
    "preview_interval", "dtype", "scales", "tile", "loss", "init_image", "strength_map",
]  # fmt: skip


def test_mask_inputs_come_after_the_existing_inputs(comfy):
    for node, expected in ((comfy.style.StyleMix, STYLE_MIX_INPUTS), (comfy.optimize.Optimize, OPTIMIZE_INPUTS)):
        inputs = node.GET_SCHEMA().inputs
        assert [item.id for item in inputs] == expected
        masks = [item for item in inputs if item.get_io_type() == "MASK"]
        assert masks and all(item.optional for item in masks)


def test_style_mix_passes_masks_per_connected_style(comfy):
    styles = {f"style_{n}": comfy_image(torch.rand(1, 3, 32, 32)) for n in (1, 2, 4)}  # style_3 not connected
    right = comfy_mask(torch.arange(30).ge(15).float().expand(1, 20, 30))
    soft = comfy_mask(torch.full((24, 24), 0.5))  # a bare [H, W] mask
    spec = _mix(comfy, **styles, mask_2=right, mask_4=soft)
    first, second, fourth = spec.masks
    assert first is None  # style_1 applies everywhere
    assert torch.equal(second, right.reshape(1, 1, 20, 30)) and torch.equal(fourth, soft.reshape(1, 1, 24, 24))
    assert not second.is_inference() and second.data_ptr() != right.data_ptr()
    assert spec.regional and len(spec.images) == 3
    assert _mix(comfy, **styles).masks is None  # no mask: the plain recipe of before


@pytest.mark.parametrize(
    "masks, message",
    [
        ({"mask_1": torch.rand(2, 16, 16)}, r"^mask_1: got a batch of 2 masks; connect one mask"),
        ({"mask_1": torch.zeros(1, 16, 16)}, r"^mask_1: is black everywhere"),  # SolidMask with value 0
        ({"mask_4": torch.zeros(1, 16, 16)}, r"^mask_4: is black everywhere"),  # the third connected style
        ({"mask_2": torch.full((1, 16, 16), 2.0)}, r"^mask_2: mask values must lie in \[0, 1\]"),
        ({"mask_2": torch.full((1, 16, 16), float("nan"))}, r"^mask_2: the mask has NaN"),
        ({"mask_3": torch.ones(1, 16, 16)}, r"^mask_3: style_3 is not connected"),
        ({"mask_1": torch.ones(1, 16, 16), "mode": "feature"}, r"^mode: masks need the gram mix mode"),
    ],
)
def test_style_mix_refuses_bad_masks_by_input_name(comfy, masks, message):
    styles = {f"style_{n}": comfy_image(torch.rand(1, 3, 32, 32)) for n in (1, 2, 4)}
    inputs = {name: comfy_mask(value) if name.startswith("mask") else value for name, value in masks.items()}
    with pytest.raises(InputError, match=message):
        _mix(comfy, **styles, **inputs)


def test_style_rotate_applies_rotation_to_a_copy(comfy):
    spec = plain_style()
    rotated = comfy.rotation.StyleRotate.execute(style=spec, angles="60, 150", fusion_weights="1, 3", rho=0.5, mode="image")[0]
    assert spec.rotation is None
    assert rotated.rotation == RotationSpec(angles=[60.0, 150.0], weights=[0.25, 0.75], rho=0.5, mode="image")
    assert rotated.images[0] is spec.images[0]  # a recipe copy, not a copy of the pixels


@pytest.mark.parametrize(
    "inputs, message",
    [
        ({"angles": "ninety"}, r"^angles: 'ninety' is not a number"),
        ({"angles": ""}, r"^angles: no number given"),
        ({"angles": "400"}, r"^angles: 400.0 is outside \[-360, 360\]"),
        ({"angles": "45", "mode": "dfr"}, r"^angles: dfr mode takes only 90, 180 or 270"),
        ({"fusion_weights": "1, 2"}, r"^fusion_weights: 2 weight\(s\) given for 1 angle"),
        ({"fusion_weights": "0"}, r"^fusion_weights: all weights are zero"),
        ({"rho": 1.5}, r"^rho: 1.5 is outside \[0, 1\]"),
    ],
)
def test_style_rotate_refuses_bad_values_by_input_name(comfy, inputs, message):
    values = {"angles": "90", "fusion_weights": "", "rho": 1.0, "mode": "image", **inputs}
    with pytest.raises(InputError, match=message):
        comfy.rotation.StyleRotate.execute(style=plain_style(), **values)


# -------------------------------------------------------------------------- loss


def _loss(comfy, **kwargs) -> LossSettings:
    inputs = {
        "content_layers": "relu4_2", "style_layers": "relu1_1, relu2_1", "style_layer_weights": "",
        "content_weight": 1.0, "style_weight": 1.0, "tv_weight": 0.0, **kwargs,
    }  # fmt: skip
    return comfy.loss.LossConfig.execute(**inputs)[0]


def test_loss_config_builds_settings(comfy):
    settings = _loss(comfy, style_layer_weights="1, 0.5", tv_weight=2.0)
    assert settings.content_layers == ("relu4_2",) and settings.style_layers == ("relu1_1", "relu2_1")
    assert settings.style_layer_weights == (1.0, 0.5) and settings.tv_weight == 2.0


@pytest.mark.parametrize(
    "inputs, message",
    [
        ({"style_layers": "relu1_1, relu6_1"}, r"^style_layers: unknown layer\(s\) relu6_1"),
        ({"content_layers": " "}, r"^content_layers: no layer given"),
        ({"style_layer_weights": "1"}, r"^style_layer_weights: 1 given for 2 style layers"),
        ({"style_layer_weights": "1, x"}, r"^style_layer_weights: 'x' is not a number"),
        ({"content_weight": 0.0, "style_weight": 0.0}, r"^content_weight, style_weight: both are 0"),
    ],
)
def test_loss_config_refuses_bad_values_by_input_name(comfy, inputs, message):
    with pytest.raises(InputError, match=message):
        _loss(comfy, **inputs)


# ---------------------------------------------------------------------- optimize


def _optimize(comfy, vgg_model, content, style, **kwargs):
    inputs = {
        "vgg": vgg_model, "content": content, "style": style, "steps": 2, "optimizer": "adam",
        "learning_rate": 0.0, "size": 40, "init": "content", "preserve_color": "none", "seed": 0,
        "preview_interval": 1, **kwargs,
    }  # fmt: skip
    with torch.inference_mode():  # as ComfyUI runs every node
        return comfy.optimize.Optimize.execute(**inputs)


def test_optimize_batch_gives_one_result_each_with_progress_and_previews(comfy, vgg_model, progress_events):
    content = comfy_image(torch.rand(2, 3, 36, 48, generator=torch.Generator().manual_seed(1)))
    before = content.clone()
    image, plot, metrics = _optimize(comfy, vgg_model, content, plain_style(), size=48)
    assert image.shape == (2, 36, 48, 3) and image.device.type == "cpu"
    assert plot.shape == (2, 320, 512, 3)
    runs = json.loads(metrics)
    assert [run["steps"] for run in runs] == [2, 2] and runs[0]["size"] == [36, 48]
    assert torch.equal(content, before)  # ComfyUI's tensor untouched
    assert [event[:2] for event in progress_events] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    for _, _, preview in progress_events:
        kind, picture, max_side = preview
        assert kind == "JPEG" and picture.size == (48, 36) and max_side == 48  # not enlarged


def test_optimize_single_image_metrics_match_the_cli_format(comfy, vgg_model, progress_events):
    content = comfy_image(torch.rand(1, 3, 36, 36))
    _, _, metrics = _optimize(comfy, vgg_model, content, plain_style(), preview_interval=0, optimizer="lbfgs")
    data = json.loads(metrics)
    assert {"steps", "seconds", "seconds_per_step", "device", "size", "final", "history", "params"} <= set(data)
    assert data["params"]["optimizer"] == "lbfgs" and data["params"]["lr"] == 1.0
    assert all(preview is None for _, _, preview in progress_events)


def test_optimize_tiles_when_asked_and_names_a_bad_tile(comfy, vgg_model, progress_events):
    content = comfy_image(torch.rand(1, 3, 80, 80))
    _, _, metrics = _optimize(comfy, vgg_model, content, plain_style(), size=80, tile=64, preview_interval=0)
    data = json.loads(metrics)
    assert data["params"]["tile"] == 64 and data["scales"][-1]["tile"] == 64
    with pytest.raises(InputError, match="tile: 48 px is smaller than 64 px"):
        _optimize(comfy, vgg_model, content, plain_style(), size=80, tile=48)


def test_optimize_uses_loss_and_init_image(comfy, vgg_model, progress_events):
    content = comfy_image(torch.rand(2, 3, 32, 32))
    loss = _loss(comfy, style_layers="relu1_1", content_layers="relu2_1")
    init = comfy_image(torch.zeros(1, 3, 32, 32))
    init_before = init.clone()
    _, _, metrics = _optimize(comfy, vgg_model, content, plain_style(), loss=loss, init_image=init)
    assert torch.equal(init, init_before)
    params = json.loads(metrics)[0]["params"]
    assert params["style_layers"] == ["relu1_1"] and params["content_layers"] == ["relu2_1"] and params["init"] == "image"


@pytest.mark.parametrize(
    "inputs, message",
    [
        ({"learning_rate": -1.0}, r"^learning_rate: -1.0 must be a positive finite number"),
        ({"size": 8}, r"^size: 8 px is out of range"),
        ({"steps": 0}, r"^steps: 0 is out of range"),
        ({"loss": "nonsense"}, r"^loss: connect the output of Content/Style Loss"),
        ({"init_image": "three"}, r"^init_image: a batch of 3 images for 2 content images"),
    ],
)
def test_optimize_refuses_bad_values_by_input_name(comfy, vgg_model, inputs, message):
    content = comfy_image(torch.rand(2, 3, 32, 32))
    if inputs.get("init_image") == "three":
        inputs["init_image"] = comfy_image(torch.rand(3, 3, 32, 32))
    with pytest.raises(InputError, match=message):
        _optimize(comfy, vgg_model, content, plain_style(), **inputs)


def test_optimize_strength_map_of_zeros_keeps_the_content(comfy, vgg_model, progress_events):
    content = comfy_image(torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(4)))
    black = comfy_mask(torch.zeros(1, 16, 16))  # any size: resized to the result
    image, _, metrics = _optimize(comfy, vgg_model, content, plain_style(), size=32, steps=3, strength_map=black)
    assert torch.allclose(image, content, atol=1e-6)
    assert json.loads(metrics)["params"]["strength_map"] is True
    styled, _, _ = _optimize(comfy, vgg_model, content, plain_style(), size=32, steps=3)
    assert not torch.allclose(styled, content, atol=1e-3)  # without the map the same run does change it


def test_optimize_pairs_strength_maps_with_the_content_batch(comfy, vgg_model, monkeypatch, progress_events):
    calls = []
    real_stylize = comfy.optimize.stylize

    def recording_stylize(*args, **kwargs):
        calls.append(kwargs["strength_map"])
        return real_stylize(*args, **kwargs)

    monkeypatch.setattr(comfy.optimize, "stylize", recording_stylize)
    content = comfy_image(torch.rand(2, 3, 32, 32))
    maps = comfy_mask(torch.stack([torch.full((8, 8), 0.25), torch.full((8, 8), 0.75)]))
    _optimize(comfy, vgg_model, content, plain_style(), steps=1, strength_map=maps)
    assert [float(m.mean()) for m in calls] == [0.25, 0.75] and all(m.shape == (1, 1, 8, 8) for m in calls)
    calls.clear()
    _optimize(comfy, vgg_model, content, plain_style(), steps=1, strength_map=maps[:1])
    assert [float(m.mean()) for m in calls] == [0.25, 0.25]  # one map for every content image
    calls.clear()
    _optimize(comfy, vgg_model, content, plain_style(), steps=1)
    assert calls == [None, None]


@pytest.mark.parametrize(
    "strength_map, message",
    [
        (torch.rand(3, 16, 16), r"^strength_map: a batch of 3 masks for 2 content images"),
        (torch.full((1, 16, 16), -0.5), r"^strength_map: mask values must lie in \[0, 1\]"),
        (torch.rand(16), r"^strength_map: expected a MASK \[B, H, W\], got \(16,\)"),
    ],
)
def test_optimize_refuses_bad_strength_map_by_input_name(comfy, vgg_model, strength_map, message):
    content = comfy_image(torch.rand(2, 3, 32, 32))
    with pytest.raises(InputError, match=message):
        _optimize(comfy, vgg_model, content, plain_style(), strength_map=comfy_mask(strength_map))


def test_optimize_asks_comfyui_to_make_room_on_a_gpu(comfy, vgg_model, monkeypatch, progress_events):
    freed = []
    monkeypatch.setattr(comfy.mm, "free_memory", lambda need, device, keep_loaded=(): freed.append((need, device)))
    comfy.runtime.make_room(10, torch.device("cpu"))
    assert freed == []  # ComfyUI's CPU models are left alone
    comfy.runtime.make_room(123, torch.device("cuda", 0))
    assert freed == [(123, torch.device("cuda", 0))]
    asked = []
    monkeypatch.setattr(comfy.runtime, "make_room", lambda need, device: asked.append((need, device)))
    _optimize(comfy, vgg_model, comfy_image(torch.rand(1, 3, 32, 32)), plain_style(), optimizer="lbfgs")
    ((need, device),) = asked
    assert device == torch.device("cpu") and need > 80 * 2**20  # at least VGG19's weights


def test_optimize_stops_with_comfyui_interrupt(comfy, vgg_model, progress_events):
    """A Cancel raises ComfyUI's own exception, so the prompt is recorded as interrupted."""
    comfy.mm.interrupt_current_processing(True)
    with pytest.raises(comfy.mm.InterruptProcessingException):
        _optimize(comfy, vgg_model, comfy_image(torch.rand(1, 3, 32, 32)), plain_style(), steps=50)
    assert not comfy.mm.processing_interrupted()  # the flag is consumed, the next prompt runs
    assert progress_events == []


# ------------------------------------------------------------------------ search


SEARCH_INPUTS = {
    "rotations": 1, "objective": "fit", "angle_min": 0.0, "angle_max": 360.0, "popsize": 4, "generations": 1,
    "proxy_size": 32, "proxy_steps": 1, "top_k": 2, "seed": 0, "search_rotation_weight": False,
    "rotation_weight": 1.0, "search_fusion_weights": False, "search_mix_weights": False,
    "min_separation": 15.0, "epsilon": 0.1,
}  # fmt: skip


def test_search_outputs_best_style_previews_report_and_list(comfy, vgg_model, progress_events):
    content = comfy_image(torch.rand(1, 3, 40, 40, generator=torch.Generator().manual_seed(2)))
    style = plain_style(seed=3)
    with torch.inference_mode():
        best, previews, report, top_k = comfy.search.RotationDESearch.execute(
            vgg=vgg_model, content=content, style=style, **SEARCH_INPUTS
        )
    data = json.loads(report)
    assert data["settings"]["popsize"] == 4 and data["settings"]["angle_range"] == [0.0, 360.0]
    assert best.rotation is not None and best.rotation.angles == data["best"]["angles"]
    assert style.rotation is None
    assert len(top_k) == len(data["top_k"]) == previews.shape[0] and 1 <= len(top_k) <= 2
    assert [s.rotation.angles for s in top_k] == [c["angles"] for c in data["top_k"]]
    assert previews.shape[1:] == (32, 32, 3)
    assert progress_events and all(preview is not None for _, _, preview in progress_events[:-1])
    assert progress_events[-1][:2] == (1, 1)


def test_search_refuses_reversed_bounds_and_batches(comfy, vgg_model):
    content = comfy_image(torch.rand(1, 3, 32, 32))
    with pytest.raises(InputError, match=r"^angle_min, angle_max: the bounds are reversed"):
        comfy.search.RotationDESearch.execute(
            vgg=vgg_model, content=content, style=plain_style(), **{**SEARCH_INPUTS, "angle_min": 90.0, "angle_max": 10.0}
        )
    with pytest.raises(InputError, match=r"^content: got a batch of 2 images"):
        comfy.search.RotationDESearch.execute(
            vgg=vgg_model, content=comfy_image(torch.rand(2, 3, 32, 32)), style=plain_style(), **SEARCH_INPUTS
        )


def test_search_stops_with_comfyui_interrupt(comfy, vgg_model, progress_events):
    comfy.mm.interrupt_current_processing(True)
    with pytest.raises(comfy.mm.InterruptProcessingException), torch.inference_mode():
        comfy.search.RotationDESearch.execute(
            vgg=vgg_model, content=comfy_image(torch.rand(1, 3, 32, 32)), style=plain_style(), **SEARCH_INPUTS
        )
    assert not comfy.mm.processing_interrupted()


def test_search_result_feeds_optimize(comfy, vgg_model, progress_events):
    """The seed's flow: search, then render with the best rotation."""
    content = comfy_image(torch.rand(1, 3, 32, 32))
    with torch.inference_mode():
        best = comfy.search.RotationDESearch.execute(vgg=vgg_model, content=content, style=plain_style(), **SEARCH_INPUTS)[0]
    _, _, metrics = _optimize(comfy, vgg_model, content, best)
    assert json.loads(metrics)["params"]["style_rotation"] == dataclasses.asdict(best.rotation)


def test_style_rotate_region_turns_one_style_only(comfy):
    a, b = comfy_image(torch.rand(1, 3, 32, 32)), comfy_image(torch.rand(1, 3, 32, 32))
    spec = _mix(comfy, style_1=a, style_2=b)
    turned = comfy.rotation.StyleRotate.execute(style=spec, angles="60", fusion_weights="", rho=1.0, mode="image", region=2)[0]
    assert turned.rotation is None and turned.rotations == [None, RotationSpec(angles=[60.0])]
    with pytest.raises(InputError, match=r"^region: 3 is not one of the recipe's 2 style"):
        comfy.rotation.StyleRotate.execute(style=spec, angles="60", fusion_weights="", rho=1.0, mode="image", region=3)


def test_search_region_turns_only_that_style(comfy, vgg_model, progress_events):
    content = comfy_image(torch.rand(1, 3, 40, 40, generator=torch.Generator().manual_seed(2)))
    style = _mix(comfy, style_1=comfy_image(torch.rand(1, 3, 32, 32)), style_2=comfy_image(torch.rand(1, 3, 32, 32)))
    with torch.inference_mode():
        best, _, report, _ = comfy.search.RotationDESearch.execute(
            vgg=vgg_model, content=content, style=style, **SEARCH_INPUTS, region=2
        )
    assert best.rotations[0] is None and best.rotations[1].angles == json.loads(report)["best"]["angles"]
    assert json.loads(report)["region"] == 2
