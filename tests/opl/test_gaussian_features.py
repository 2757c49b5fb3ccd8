"""The Gaussian-feature op: values and derivatives against autograd of the plain sum, the cutoff
bound, chunking, first-order gradients (gradcheck) and the op's registration (opcheck)."""

import math

import pytest
import torch

from opl.ops import cutoff_error_bound, gaussian_features, gaussian_values


def random_gaussians(n=40, k=25, d=2, c=3, seed=0, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(n, d, generator=gen, dtype=dtype) * 2 - 1
    means = torch.rand(k, d, generator=gen, dtype=dtype) * 2 - 1
    scales = 0.1 + 0.3 * torch.rand(k, d, generator=gen, dtype=dtype)
    features = torch.randn(k, c, generator=gen, dtype=dtype)
    return x, means, scales, features


def plain_sum(x, means, scales, features):
    """F(x) = Σ_k f_k exp(-½ Σ_j ((x_j - μ_kj)/s_kj)²) by broadcasting: the definition."""
    z = (x[:, None, :] - means[None]) / scales[None]
    return torch.exp(-0.5 * (z * z).sum(-1)) @ features


@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("weighted", [False, True])
def test_values_gradients_and_second_order_terms_equal_autograd(d, weighted):
    x, means, scales, features = random_gaussians(d=d)
    weights = torch.linspace(-1.0, 2.0, d, dtype=torch.float64) if weighted else None
    values, gradients, curvatures = gaussian_features(x, means, scales, features, weights)
    x = x.clone().requires_grad_(True)
    exact = plain_sum(x, means, scales, features)
    w = weights if weighted else torch.ones(d, dtype=torch.float64)
    # float64: the moment expansion loses about log10(|x - x0|² / s²) <= 3 of 16 digits, so the
    # comparison is at 1e-11 relative to the largest term
    torch.testing.assert_close(values, exact.detach(), rtol=1e-11, atol=1e-11)
    for c in range(features.shape[1]):
        (grad,) = torch.autograd.grad(exact[:, c].sum(), x, create_graph=True)
        torch.testing.assert_close(gradients[:, c, :], grad.detach(), rtol=1e-10, atol=1e-10)
        second = sum(
            w[j] * torch.autograd.grad(grad[:, j].sum(), x, retain_graph=True)[0][:, j]
            for j in range(d)
        )
        torch.testing.assert_close(curvatures[:, c], second, rtol=1e-9, atol=1e-9)


def test_one_gaussian_at_its_centre_and_one_scale_away():
    means = torch.tensor([[0.2, -0.1]], dtype=torch.float64)
    scales = torch.tensor([[0.5, 0.25]], dtype=torch.float64)
    features = torch.tensor([[2.0]], dtype=torch.float64)
    x = torch.tensor([[0.2, -0.1], [0.7, -0.1]], dtype=torch.float64)
    values, gradients, laplacians = gaussian_features(x, means, scales, features)
    e = math.exp(-0.5)
    torch.testing.assert_close(values[:, 0], torch.tensor([2.0, 2.0 * e], dtype=torch.float64))
    # at the centre the gradient vanishes and ΔF = f Σ_j (-1/s_j²) = 2 (-4 - 16)
    torch.testing.assert_close(gradients[0, 0], torch.zeros(2, dtype=torch.float64))
    assert laplacians[0, 0].item() == pytest.approx(-40.0, rel=1e-13)
    # one scale away along x: ∂F/∂x = -f g z / s = -2 e / 0.5, ΔF = f g ((z² - 1)/s_x² - 1/s_y²)
    assert gradients[1, 0, 0].item() == pytest.approx(-4.0 * e, rel=1e-13)
    assert laplacians[1, 0].item() == pytest.approx(2.0 * e * (0.0 - 16.0), rel=1e-13)


def test_chunking_does_not_change_the_result():
    args = random_gaussians(n=37, k=11)
    whole = gaussian_features(*args)
    chunked = gaussian_features(*args, max_elements=2 * 11)  # 2 points a chunk
    for a, b in zip(whole, chunked, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-13, atol=1e-13)


def test_chunked_backward_equals_the_unchunked_one():
    inputs = random_gaussians(n=37, k=11)
    grads = []
    for max_elements in (1 << 20, 3 * 11):
        leaves = [t.clone().requires_grad_(True) for t in inputs]
        values, gradients, laplacians = gaussian_features(*leaves, max_elements=max_elements)
        (values.sum() + gradients.square().sum() + laplacians.sin().sum()).backward()
        grads.append([t.grad for t in leaves])
    # chunking reorders the float64 sums over the 37 x 11 terms, whose sizes exceed the sums
    # where they cancel: differences of 1.1e-12 of the largest entry were seen (2026-12-02), so
    # the tolerance is 1e-11 of the gradient's largest entry
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-11 * b.abs().max().item())


@pytest.mark.parametrize("cutoff", [None, 2.5])
def test_values_alone_equal_the_ops_values_and_the_definitions_gradients(cutoff):
    inputs = random_gaussians(n=37, k=11, d=3)
    leaves = [t.clone().requires_grad_(True) for t in inputs]
    values = gaussian_values(*leaves, cutoff, max_elements=4 * 11)  # 10 chunks
    # as the op's first output: the same expansion, so the same digits up to summation order
    torch.testing.assert_close(
        values, gaussian_features(*inputs, cutoff=cutoff)[0], rtol=1e-13, atol=1e-13
    )
    if cutoff is None:  # through the recomputed chunks, against autograd of the definition
        values.sin().sum().backward()
        copies = [t.clone().requires_grad_(True) for t in inputs]
        plain_sum(*copies).sin().sum().backward()
        for a, b in zip(leaves, copies, strict=True):
            torch.testing.assert_close(a.grad, b.grad, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("cutoff", [None, 2.5])
def test_first_order_gradients_to_every_input_pass_gradcheck(cutoff):
    x, means, scales, features = random_gaussians(n=6, k=4, d=2, c=2)
    weights = torch.tensor([1.0, -0.5], dtype=torch.float64)
    inputs = tuple(t.clone().requires_grad_(True) for t in (x, means, scales, features))
    assert torch.autograd.gradcheck(
        lambda *args: gaussian_features(*args, weights, cutoff, max_elements=8), inputs
    )


def test_the_custom_op_passes_opcheck():
    x, means, scales, features = random_gaussians(n=9, k=5, d=3, c=2)
    args = [t.clone().requires_grad_(True) for t in (x, means, scales, features)]
    weights = torch.tensor([1.0, 1.0, -1.0], dtype=torch.float64)
    for cutoff in (math.inf, 3.0):
        torch.library.opcheck(torch.ops.opl.gaussian_features.default, (*args, weights, cutoff, 16))


@pytest.mark.parametrize("cutoff", [2.0, 3.0, 4.5])
def test_the_cutoff_changes_no_output_by_more_than_its_bound(cutoff):
    # many wide Gaussians, so that a large share of the pairs is cut
    x, means, scales, features = random_gaussians(n=400, k=300, d=2, c=2, seed=3)
    weights = torch.tensor([1.0, -2.0], dtype=torch.float64)
    exact = gaussian_features(x, means, scales, features, weights)
    cut = gaussian_features(x, means, scales, features, weights, cutoff=cutoff)
    bounds = cutoff_error_bound(scales, features, cutoff, weights)
    changed = 0.0
    for full, approx, bound in zip(exact, cut, bounds, strict=True):
        error = (full - approx).abs().amax(0)
        assert torch.all(error <= bound), (cutoff, error, bound)
        changed = max(changed, float(error.max()))
    assert changed > 0.0  # the cutoff did drop pairs (the test is not vacuous)
    assert bounds[0].max() < 2 * features.abs().sum() * math.exp(-0.5 * cutoff**2)


def test_float32_error_of_the_cpu_path_is_within_its_stated_bound():
    # module docstring: relative rounding error about ε |x - x0|² / s²
    inputs64 = random_gaussians(n=200, k=100, d=2, c=2, seed=5)
    exact = gaussian_features(*inputs64)
    approx = gaussian_features(*(t.float() for t in inputs64))
    scales = inputs64[2]
    eps = torch.finfo(torch.float32).eps
    reach = (2.0 * 2**0.5) ** 2 / scales.min().item() ** 2  # |x - x0| <= diameter of [-1, 1]²
    for full, single in zip(exact, approx, strict=True):
        relative = (full - single.double()).abs().max() / full.abs().max()
        assert relative < 10 * eps * reach


def test_bad_input_is_refused_with_a_message_naming_it():
    x, means, scales, features = random_gaussians()
    with pytest.raises(ValueError, match=r"scales: expected shape \(25, 2\)"):
        gaussian_features(x, means, scales[:, :1], features)
    with pytest.raises(ValueError, match=r"means: expected \(K, 2\)"):
        gaussian_features(x, means[:, :1], scales[:, :1], features)
    with pytest.raises(ValueError, match=r"features: expected \(25, c\)"):
        gaussian_features(x, means, scales, features[:3])
    with pytest.raises(ValueError, match=r"weights: expected \(2,\)"):
        gaussian_features(x, means, scales, features, torch.ones(3, dtype=torch.float64))
    with pytest.raises(ValueError, match="features: expected torch.float64"):
        gaussian_features(x, means, scales, features.float())
    with pytest.raises(ValueError, match="cutoff: expected a positive number"):
        gaussian_features(x, means, scales, features, cutoff=0.0)
    with pytest.raises(ValueError, match="cutoff: the bound holds for cutoff >= sqrt"):
        cutoff_error_bound(scales, features, 1.0)
