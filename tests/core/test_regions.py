"""Regional style (core/regions.py): masks decide where each style goes, a strength map how strongly."""

from __future__ import annotations

import pytest
import torch

from nst_nodes.core.errors import InputError
from nst_nodes.core.geometry import resize
from nst_nodes.core.images import load_image
from nst_nodes.core.quality import style_distance
from nst_nodes.core.rotation import RotationSpec
from nst_nodes.core.search import search_rotation
from nst_nodes.core.settings import LossSettings, RunSettings, SearchSettings
from nst_nodes.core.style import StyleSpec
from nst_nodes.core.style_targets import compute_style_targets
from nst_nodes.core.transfer import stylize

from helpers import halves, photo, stripes
from paths import SAMPLES

RANDOM_RUN = RunSettings(size=64, steps=6, dtype="fp32")


@pytest.fixture(scope="module")
def real_styles() -> tuple[torch.Tensor, torch.Tensor]:
    return load_image(SAMPLES / "style_waves.png", "a"), load_image(SAMPLES / "style_mosaic.png", "b")


def _half_distances(model, image: torch.Tensor, styles) -> list[list[float]]:
    """[[left to A, left to B], [right to A, right to B]] in the judge's style distance."""
    width = image.shape[-1]
    parts = (image[..., : width // 2], image[..., width // 2 :])
    return [[style_distance(model, part, style) for style in styles] for part in parts]


def test_left_right_masks_put_each_style_on_its_half_on_real_features(real_vgg16, real_styles):
    content = photo("astronaut", 96)
    left, right = halves(32, 32)  # any size: resized to the result
    run = RunSettings(size=96, steps=60)
    first = stylize(real_vgg16, content, StyleSpec(list(real_styles), masks=[left, right]), run).image
    swapped = stylize(real_vgg16, content, StyleSpec(list(real_styles), masks=[right, left]), run).image
    (la, lb), (ra, rb) = _half_distances(real_vgg16, first, real_styles)
    assert la < 0.8 * lb and rb < 0.8 * ra, (la, lb, ra, rb)  # each half is closer to its own style
    (la, lb), (ra, rb) = _half_distances(real_vgg16, swapped, real_styles)
    assert lb < 0.8 * la and ra < 0.8 * rb, (la, lb, ra, rb)  # swapping the masks swaps the halves


def test_soft_strength_lies_between_none_and_full_on_real_features(real_vgg16, real_styles):
    content, style = photo("chelsea", 64), real_styles[1]
    run = RunSettings(size=64, steps=30)
    distances = [
        style_distance(real_vgg16, stylize(real_vgg16, content, StyleSpec([style]), run, strength_map=torch.full((1, 1, 4, 4), s)).image, style)
        for s in (0.0, 0.5, 1.0)
    ]  # fmt: skip
    assert distances[0] > distances[1] > distances[2], distances


def test_a_mask_of_ones_is_the_unmasked_run(vgg_model, small_images):
    content, style = small_images
    plain = stylize(vgg_model, content, StyleSpec([style]), RANDOM_RUN).image
    masked = stylize(vgg_model, content, StyleSpec([style], masks=[torch.ones(1, 1, 7, 9)]), RANDOM_RUN).image
    everywhere = stylize(vgg_model, content, StyleSpec([style]), RANDOM_RUN, strength_map=torch.ones(1, 1, 3, 3)).image
    torch.testing.assert_close(masked, plain, rtol=0, atol=1e-5)
    torch.testing.assert_close(everywhere, plain, rtol=0, atol=1e-5)


def test_a_strength_map_of_zeros_keeps_the_content(vgg_model, small_images):
    content, style = small_images
    result = stylize(vgg_model, content, StyleSpec([style]), RANDOM_RUN, strength_map=torch.zeros(1, 1, 8, 8))
    assert torch.equal(result.image, resize(content, (48, 64)))  # no style gradient: the content start stays
    assert result.metrics.final["style"] == 0 and result.metrics.params["strength_map"] is True


def test_where_no_style_applies_the_content_stays(vgg_model, small_images):
    """Only the content loss acts outside the mask; shallow layers keep the style's reach to a few pixels.

    (Deep layers see the whole of a small image, so there some style spills over the edge: see README.)
    """
    content, style = small_images
    left, _ = halves(48, 64)
    start = resize(content, (48, 64))
    shallow = LossSettings(content_layers=("relu2_1",), style_layers=("relu1_1", "relu2_1"))
    result = stylize(vgg_model, content, StyleSpec([style], masks=[left]), RunSettings(size=64, steps=20, dtype="fp32"), shallow)
    change = (result.image - start).abs().mean(dim=(0, 1, 2))  # per column
    assert float(change[-16:].mean()) < 0.05 * float(change[:32].mean()), change


def test_regional_styles_work_with_rotation_and_the_search(vgg_model, small_images):
    content, style = small_images
    left, right = halves(48, 64)
    other = stripes(48, 48, 70.0, seed=4)
    spec = StyleSpec([style, other], masks=[left, right], rotation=RotationSpec([30.0, 120.0]))
    result = stylize(vgg_model, content, spec, RunSettings(size=64, steps=3, scales="32"))
    assert result.metrics.params["style_masks"] == [True, True] and result.metrics.params["style_rotation"]["angles"] == [30.0, 120.0]
    found = search_rotation(
        vgg_model, torch.rand(1, 3, 64, 64), StyleSpec([style, other], masks=[left, None]),
        SearchSettings(popsize=4, generations=1, proxy_size=32, proxy_steps=2),
    )  # fmt: skip
    assert len(found.top_k) >= 1 and found.apply(StyleSpec([style, other], masks=[left, None])).regional
    with pytest.raises(InputError, match="search mix weights: cannot be searched for a regional style"):
        search_rotation(vgg_model, content, StyleSpec([style, other], masks=[left, None]), SearchSettings(search_mix_weights=True))


def test_a_style_mask_takes_the_style_from_its_part_only(vgg_model):
    """A style image half stripes, half flat grey: masked to the stripes, its target is the stripes' own."""
    stripes_only = stripes(64, 32, 30.0, seed=2)
    both = torch.cat([stripes_only, torch.full((1, 3, 64, 32), 0.5)], dim=-1)
    left, _ = halves(64, 64)
    extractor = vgg_model.extractor(["relu2_1"], "cpu")
    masked = compute_style_targets(extractor, StyleSpec([both], style_masks=[left]), ["relu2_1"], (64, 64), torch.device("cpu"))
    whole = compute_style_targets(extractor, StyleSpec([both]), ["relu2_1"], (64, 64), torch.device("cpu"))
    own = compute_style_targets(extractor, StyleSpec([stripes_only]), ["relu2_1"], (64, 32), torch.device("cpu"))
    gap = lambda a, b: float((a - b).norm() / b.norm())  # noqa: E731
    assert gap(masked["relu2_1"], own["relu2_1"]) < 0.5 * gap(whole["relu2_1"], own["relu2_1"])
