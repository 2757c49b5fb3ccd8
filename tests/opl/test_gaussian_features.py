"""The Gaussian-feature reference op: derivatives against autograd, chunking, gradients."""

import pytest
import torch

from opl.ops import gaussian_features


def random_gaussians(n=40, k=25, d=2, c=3, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(n, d, generator=gen, dtype=torch.float64) * 2 - 1
    means = torch.rand(k, d, generator=gen, dtype=torch.float64) * 2 - 1
    scales = 0.1 + 0.3 * torch.rand(k, d, generator=gen, dtype=torch.float64)
    features = torch.randn(k, c, generator=gen, dtype=torch.float64)
    return x, means, scales, features


@pytest.mark.parametrize("d", [1, 2, 3])
def test_gradient_and_laplacian_equal_autograd(d):
    x, means, scales, features = random_gaussians(d=d)
    x = x.requires_grad_(True)
    values, gradients, laplacians = gaussian_features(x, means, scales, features)
    for c in range(features.shape[1]):
        (grad,) = torch.autograd.grad(values[:, c].sum(), x, create_graph=True)
        # float64 and closed forms: agreement to round-off of O(K) terms
        torch.testing.assert_close(gradients[:, c, :], grad, rtol=1e-12, atol=1e-12)
        lap = sum(
            torch.autograd.grad(grad[:, j].sum(), x, retain_graph=True)[0][:, j] for j in range(d)
        )
        torch.testing.assert_close(laplacians[:, c], lap, rtol=1e-11, atol=1e-11)


def test_value_of_one_gaussian_at_its_centre_and_one_scale_away():
    means = torch.tensor([[0.2, -0.1]], dtype=torch.float64)
    scales = torch.tensor([[0.5, 0.25]], dtype=torch.float64)
    features = torch.tensor([[2.0]], dtype=torch.float64)
    x = torch.tensor([[0.2, -0.1], [0.7, -0.1]], dtype=torch.float64)
    values, gradients, laplacians = gaussian_features(x, means, scales, features)
    torch.testing.assert_close(
        values[:, 0], torch.tensor([2.0, 2.0 * torch.exp(torch.tensor(-0.5, dtype=torch.float64))])
    )
    torch.testing.assert_close(gradients[0, 0], torch.zeros(2, dtype=torch.float64))
    # at the centre: ΔF = f Σ_j (-1/s_j²) = 2 (-4 - 16)
    assert laplacians[0, 0].item() == pytest.approx(-40.0)


def test_chunking_does_not_change_the_result():
    args = random_gaussians(n=37, k=11)
    whole = gaussian_features(*args)
    chunked = gaussian_features(*args, max_elements=2 * 11 * 2)  # 2 points a chunk
    for a, b in zip(whole, chunked, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-15)


def test_first_order_gradients_to_every_input_pass_gradcheck():
    x, means, scales, features = random_gaussians(n=6, k=4)
    inputs = tuple(t.clone().requires_grad_(True) for t in (x, means, scales, features))

    def outputs(*args):
        values, gradients, laplacians = gaussian_features(*args)
        return values, gradients, laplacians

    assert torch.autograd.gradcheck(outputs, inputs)


def test_bad_shapes_are_refused():
    x, means, scales, features = random_gaussians()
    with pytest.raises(ValueError, match=r"scales: expected shape \(25, 2\)"):
        gaussian_features(x, means, scales[:, :1], features)
    with pytest.raises(ValueError, match=r"means: expected \(K, 2\)"):
        gaussian_features(x, means[:, :1], scales[:, :1], features)
    with pytest.raises(ValueError, match=r"features: expected \(25, c\)"):
        gaussian_features(x, means, scales, features[:3])
