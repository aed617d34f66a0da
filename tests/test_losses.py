"""Properties of the Gram matrix and the losses."""

from __future__ import annotations

import pytest
import torch

from nst_nodes.core.losses import content_loss, gram_matrix, style_loss, tv_loss


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
