"""Gram matrices and the losses (core/losses.py): their properties, either memory layout, and weights free of scale."""

from __future__ import annotations

import copy

import pytest
import torch

from nst_nodes.core.losses import content_loss, gram_matrix, style_loss, tv_loss
from nst_nodes.core.quality import content_distance
from nst_nodes.core.style import StyleSpec
from nst_nodes.core.transfer import stylize
from nst_nodes.core.vgg import VGGModel

from helpers import cosine, photo, settings


@pytest.mark.parametrize("shape", [(1, 8, 5, 7), (2, 16, 9, 9), (3, 4, 12, 3)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gram_invariant_to_spatial_rotation_and_flip(shape, seed):
    features = torch.randn(shape, generator=torch.Generator().manual_seed(seed))
    gram = gram_matrix(features)
    for moved in (
        torch.rot90(features, 1, dims=(2, 3)),
        torch.rot90(features, 2, dims=(2, 3)),
        torch.rot90(features, 3, dims=(2, 3)),
        torch.flip(features, dims=(3,)),
        torch.flip(features, dims=(2,)),
        features[:, :, torch.randperm(shape[2], generator=torch.Generator().manual_seed(seed + 9))],
    ):
        torch.testing.assert_close(gram_matrix(moved), gram, rtol=1e-5, atol=1e-6)


def test_gram_changes_when_channels_are_scrambled():
    """The invariance above is not vacuous: mixing channels and positions changes it."""
    features = torch.randn(1, 8, 6, 6, generator=torch.Generator().manual_seed(0))
    scrambled = features.reshape(-1)[torch.randperm(features.numel(), generator=torch.Generator().manual_seed(1))]
    assert not torch.allclose(gram_matrix(scrambled.view_as(features)), gram_matrix(features), atol=1e-3)


def test_gram_symmetric_psd_and_size_independent():
    features = torch.rand(1, 6, 8, 8, generator=torch.Generator().manual_seed(3))
    gram = gram_matrix(features)[0]
    torch.testing.assert_close(gram, gram.T)
    assert torch.linalg.eigvalsh(gram.double()).min() > -1e-9
    tiled = features.repeat(1, 1, 3, 2)  # same statistics, six times the positions
    torch.testing.assert_close(gram_matrix(tiled)[0], gram, rtol=1e-5, atol=1e-7)


def test_gram_matches_definition():
    features = torch.randn(2, 3, 4, 5, generator=torch.Generator().manual_seed(4))
    flat = features.reshape(2, 3, 20)
    expected = torch.einsum("bip,bjp->bij", flat, flat) / (3 * 20)
    torch.testing.assert_close(gram_matrix(features), expected)


def test_losses_are_zero_at_target_and_positive_elsewhere():
    a = torch.rand(2, 4, 6, 6, generator=torch.Generator().manual_seed(5))
    b = a + 0.1
    assert torch.all(content_loss(a, a) == 0) and torch.all(content_loss(a, b) > 0)
    # relative, by hand: 0.3 against 0.4 everywhere is (0.1 ** 2) / (0.4 ** 2)
    assert content_loss(torch.full((1, 4, 6, 6), 0.3), torch.full((1, 4, 6, 6), 0.4)).item() == pytest.approx(0.0625)
    # closed form for any target t: 1.1 t is off by 0.1 t, so 0.1 ** 2 of t's mean square; the second argument
    # is the target, so t against 1.1 t is (0.1 / 1.1) ** 2
    for loss, target in ((content_loss, a), (style_loss, gram_matrix(a))):
        torch.testing.assert_close(loss(1.1 * target, target), torch.full((2,), 0.01), rtol=1e-4, atol=0)
        torch.testing.assert_close(loss(target, 1.1 * target), torch.full((2,), (0.1 / 1.1) ** 2), rtol=1e-4, atol=0)
    ga = gram_matrix(a)
    assert torch.all(style_loss(ga, ga) == 0) and torch.all(style_loss(gram_matrix(b), ga) > 0)
    assert style_loss(ga, ga[0]).shape == (2,)


def test_tv_loss():
    flat = torch.full((1, 3, 10, 10), 0.3)
    assert tv_loss(flat).item() == 0
    checker = (torch.arange(10).view(1, 10) + torch.arange(10).view(10, 1)) % 2
    image = checker.float().expand(1, 3, 10, 10)
    assert tv_loss(image).item() == pytest.approx(2.0)


def test_losses_do_not_change_when_activations_are_scaled():
    """A backbone whose activations are c times larger (Caffe's vs torchvision's) weighs the terms the same."""
    generator = torch.Generator().manual_seed(7)
    a, b = torch.rand(2, 8, 6, 6, generator=generator), torch.rand(2, 8, 6, 6, generator=generator)
    for c in (60.0, 1 / 60):
        torch.testing.assert_close(content_loss(c * a, c * b), content_loss(a, b), rtol=1e-5, atol=0)
        torch.testing.assert_close(
            style_loss(gram_matrix(c * a), gram_matrix(c * b)), style_loss(gram_matrix(a), gram_matrix(b)), rtol=1e-5, atol=0
        )


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_gram_backward_matches_the_numerical_gradient_and_keeps_the_layout(layout):
    features = torch.randn(2, 5, 4, 3, dtype=torch.float64).contiguous(memory_format=layout).requires_grad_(True)
    assert torch.autograd.gradcheck(gram_matrix, (features,))
    (gram_matrix(features) * torch.randn(2, 5, 5, dtype=torch.float64)).sum().backward()
    assert features.grad.is_contiguous(memory_format=layout)  # no reorder for the conv below


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_gram_of_bf16_features_is_fp32_with_a_bf16_gradient(layout):
    generator = torch.Generator().manual_seed(5)
    features = torch.randn(1, 8, 6, 6, generator=generator).bfloat16().contiguous(memory_format=layout)
    features.requires_grad_(True)
    gram = gram_matrix(features)
    assert gram.dtype == torch.float32
    # The CPU multiplies bf16 maps in bf16 with fp32 sums: only the result is
    # rounded, to 8 significant bits (relative error at most 2**-8).
    exact = gram_matrix(features.detach().double())
    assert torch.allclose(gram.double(), exact, rtol=2**-8, atol=1e-6)
    weights = torch.randn(1, 8, 8, generator=generator)
    (gram * weights).sum().backward()
    assert features.grad.dtype == torch.bfloat16 and features.grad.is_contiguous(memory_format=layout)
    wide = features.detach().double().requires_grad_(True)
    (gram_matrix(wide) * weights.double()).sum().backward()
    assert cosine(features.grad.double(), wide.grad) > 0.999


@pytest.mark.parametrize("batch", [1, 3])
def test_gram_is_the_same_for_either_layout(batch):
    """Property: the memory layout (and the view taken for a batch of one) never changes the Gram."""
    generator = torch.Generator().manual_seed(batch)
    features = torch.randn(batch, 16, 9, 7, generator=generator, dtype=torch.float64)
    nchw = gram_matrix(features)
    nhwc = gram_matrix(features.contiguous(memory_format=torch.channels_last))
    flat = features.reshape(batch, 16, 63)
    torch.testing.assert_close(nhwc, nchw)
    torch.testing.assert_close(nchw, flat @ flat.transpose(1, 2) / (16 * 63))


def _scaled_checkpoint(model: VGGModel, c: float) -> VGGModel:
    """The same VGG with every activation c times larger: conv1_1's weights and every bias times c."""
    features = copy.deepcopy(model.features)
    convs = [m for m in features if isinstance(m, torch.nn.Conv2d)]
    with torch.no_grad():
        convs[0].weight.mul_(c)
        for conv in convs:
            conv.bias.mul_(c)
    return VGGModel(features, "scaled", model.pooling, model.convention)


def test_loss_weights_do_not_depend_on_the_activations_scale(real_vgg16, pair):
    content, style = pair
    scaled = _scaled_checkpoint(real_vgg16, 60.0)
    image = photo("coffee", 64)
    with torch.no_grad():
        plain, large = real_vgg16.extractor(["relu5_1"])(image)["relu5_1"], scaled.extractor(["relu5_1"])(image)["relu5_1"]
    torch.testing.assert_close(large, 60.0 * plain, rtol=1e-4, atol=1e-3)
    chosen = settings(size=96, steps=30, dtype="fp32")
    a = stylize(real_vgg16, content, StyleSpec([style]), *chosen).image
    b = stylize(scaled, content, StyleSpec([style]), *chosen).image
    # measured 52 dB (float rounding, which Adam's per-pixel normalisation amplifies where gradients
    # are near 0); the earlier absolute losses, at a style weight balanced for c = 1, gave 17 dB
    psnr = float(10 * torch.log10(1 / (a - b).pow(2).mean()))
    assert psnr >= 40, psnr
    assert content_distance(real_vgg16, a, content) > 0.05  # it did move
