"""The fast mode (one pass of the real feed-forward pair) and the warm start it gives the optimisation."""

from __future__ import annotations

import pytest
import torch

from nst_nodes.core.errors import InputError
from nst_nodes.core.fast import FastSettings, fast_stylize
from nst_nodes.core.rotation import RotationSpec
from nst_nodes.core.settings import RunSettings, default_steps
from nst_nodes.core.style import StyleSpec
from nst_nodes.core.transfer import stylize, warm_start

from helpers import FAST, photo, settings, stripes

SIZE = 96


@pytest.fixture(scope="module")
def pictures() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A real photo and two styles that differ: a painting-like stripe pattern in two orientations and colours."""
    waves = stripes(80, 80, 30.0, seed=2)
    other = stripes(72, 88, 120.0, period=5.0, seed=3).flip(1)
    return photo("astronaut", SIZE), waves, other


def _fast(model, content, spec, **fields):
    return fast_stylize(model, content, spec, RunSettings(size=SIZE), FastSettings(**fields)).image


def test_a_mix_at_its_ends_is_each_style_alone(fast_model, pictures):
    content, a, b = pictures
    assert torch.equal(_fast(fast_model, content, StyleSpec([a, b], mix_weights=[1, 0])), _fast(fast_model, content, StyleSpec([a])))
    assert torch.equal(_fast(fast_model, content, StyleSpec([a, b], mix_weights=[0, 1])), _fast(fast_model, content, StyleSpec([b])))
    halfway = _fast(fast_model, content, StyleSpec([a, b], mix_weights=[1, 1]))
    assert not torch.equal(halfway, _fast(fast_model, content, StyleSpec([a])))


def test_strength_zero_gives_back_about_the_content(fast_model, pictures):
    content, style, _ = pictures
    spec = StyleSpec([style])
    kept = (_fast(fast_model, content, spec, strength=0.0) - content).abs().mean()
    styled = (_fast(fast_model, content, spec, strength=1.0) - content).abs().mean()
    halfway = (_fast(fast_model, content, spec, strength=0.5) - content).abs().mean()
    assert kept < styled / 2 and kept < halfway < styled


def test_the_result_has_the_runs_size_and_the_network_paints_at_the_working_size(fast_model, pictures):
    content, style, _ = pictures
    result = fast_stylize(fast_model, content, StyleSpec([style]), RunSettings(exact=(40, 64)), FastSettings(working_size=128))
    assert result.image.shape == (1, 3, 40, 64) and 0 <= result.image.min() and result.image.max() <= 1
    assert result.metrics.params["working_size"] == [80, 128] and result.metrics.steps == 0


def test_preserve_color_luminance_keeps_the_contents_colours(fast_model, pictures):
    from nst_nodes.core.color import rgb_to_ycbcr

    content, style, _ = pictures
    run = RunSettings(size=SIZE, preserve_color="luminance")
    image = fast_stylize(fast_model, content, StyleSpec([style]), run).image
    chroma = lambda picture: rgb_to_ycbcr(picture)[:, 1:]  # noqa: E731
    assert (chroma(image) - chroma(content)).abs().mean() < 0.005  # not 0: the result is clamped to [0, 1]


def test_outside_every_region_the_content_stays(fast_model, pictures):
    content, style, _ = pictures
    left = torch.zeros(1, 1, *content.shape[-2:])
    left[..., : content.shape[-1] // 2] = 1
    image = fast_stylize(fast_model, content, StyleSpec([style], masks=[left]), RunSettings(size=SIZE)).image
    middle = content.shape[-1] // 2
    kept = (image[..., middle + 2 :] - content[..., middle + 2 :]).abs().mean()  # only resampling to the working size and back
    painted = (image[..., : middle - 2] - content[..., : middle - 2]).abs().mean()
    assert kept < 0.01 < 0.05 < painted


@pytest.mark.parametrize(
    "fields, field",
    [({"strength": 1.5}, "strength"), ({"strength": float("nan")}, "strength"), ({"working_size": 7}, "working_size"),
     ({"working_size": True}, "working_size")],
)  # fmt: skip
def test_bad_settings_are_named(fields, field):
    with pytest.raises(InputError) as caught:
        FastSettings(**fields)
    assert caught.value.fields == (field,)


def test_bad_inputs_are_named(fast_model, pictures):
    content, style, _ = pictures
    with pytest.raises(InputError) as caught:
        fast_stylize(fast_model, content[0], StyleSpec([style]))
    assert caught.value.fields == ("content",)
    with pytest.raises(InputError) as caught:
        fast_stylize(fast_model, content, StyleSpec([style], style_masks=[torch.ones(1, 1, 8, 8)]))
    assert caught.value.fields == ("style_mask",)
    dfr = StyleSpec([style]).with_rotation(RotationSpec(angles=[90.0], mode="dfr"))
    with pytest.raises(InputError) as caught:
        fast_stylize(fast_model, content, dfr)
    assert caught.value.fields == ("rotation_mode",)


def test_init_fast_needs_the_fast_networks(vgg_model, pictures):
    content, style, _ = pictures
    with pytest.raises(InputError) as caught:
        stylize(vgg_model, content, StyleSpec([style]), *settings(**FAST, init="fast", steps=1))
    assert caught.value.fields == ("init",)


def test_init_fast_starts_from_the_fast_result(vgg_model, fast_model, pictures):
    content, style, _ = pictures
    run, loss = settings(**FAST, init="fast", steps=2)
    spec = StyleSpec([style])
    result = stylize(vgg_model, content, spec, run, loss, fast_model=fast_model)
    start = warm_start(fast_model, content, spec, run, torch.device("cpu"))
    from_content = stylize(vgg_model, content, spec, *settings(**FAST, steps=2)).image
    assert result.metrics.params["init"] == "fast"
    assert (result.image - start).abs().mean() < (from_content - start).abs().mean()


def test_a_warm_start_takes_fewer_steps_unless_told():
    assert default_steps("fast") < default_steps("content") == RunSettings().steps


def test_a_warm_start_leaves_dfr_rotations_to_the_optimisation(vgg_model, fast_model, pictures):
    content, style, _ = pictures
    spec = StyleSpec([style]).with_rotation(RotationSpec(angles=[90.0], mode="dfr"))
    run, loss = settings(**FAST, init="fast", steps=1)
    start = warm_start(fast_model, content, spec, run, torch.device("cpu"))
    assert torch.equal(start, warm_start(fast_model, content, StyleSpec([style]), run, torch.device("cpu")))
    assert stylize(vgg_model, content, spec, run, loss, fast_model=fast_model).metrics.params["init"] == "fast"
