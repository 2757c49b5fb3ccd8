"""Gaussian random fields have the covariance they promise.

Two kinds of check: (1) deterministic -- the covariance of the truncated Karhunen-Loève expansion
equals the continuum Green's function of (-d²/dx² + τ²) (α = 1, 1-D), where it has a closed form;
(2) statistical -- the empirical spectrum of many samples matches λ_k, with tolerances set from the
sampling distribution of the estimator (fixed seeds, so the tests are reproducible).
"""

import numpy as np
import pytest

from data_gen.random_fields import GaussianRandomField, _cosine_basis


def periodic_green(r: np.ndarray, tau: float) -> np.ndarray:
    """Σ_k exp(2πikr) / (4π²k² + τ²) on the unit circle, r in [0, 1]."""
    return np.cosh(tau * (r - 0.5)) / (2 * tau * np.sinh(tau / 2))


def neumann_green(x: np.ndarray, y: np.ndarray, tau: float) -> np.ndarray:
    """Green's function of -u'' + τ²u with u'(0) = u'(1) = 0 on [0, 1]."""
    lo, hi = np.minimum(x, y), np.maximum(x, y)
    return np.cosh(tau * lo) * np.cosh(tau * (1 - hi)) / (tau * np.sinh(tau))


def test_periodic_covariance_is_the_green_function():
    s, tau = 512, 4.0
    grf = GaussianRandomField(alpha=1.0, tau=tau, sigma=1.0, boundary="periodic")
    lam = grf.eigenvalues((s,))
    # covariance of u(x_j) and u(x_0): Σ_k λ_k exp(2πik x_j) = s · ifft(λ)
    cov = (s * np.fft.ifft(lam)).real
    r = grf.grid(s)
    # truncation to |k| < s/2 leaves Σ_{|k|>=s/2} 1/(4π²k²) ≈ 1/(2π² s) ≈ 1e-4 of a ~0.5 value
    np.testing.assert_allclose(cov, periodic_green(r, tau), atol=2e-4)


def test_neumann_covariance_is_the_green_function():
    s, tau = 400, 3.0
    grf = GaussianRandomField(alpha=1.0, tau=tau, sigma=1.0, boundary="neumann")
    basis = _cosine_basis(s)
    cov = basis @ np.diag(grf.eigenvalues((s,))) @ basis.T
    x = grf.grid(s)
    exact = neumann_green(x[:, None], x[None, :], tau)
    # the tail Σ_{k>=s} 2/(π²k²) ≈ 2/(π² s) = 5e-4 bounds the truncation error
    np.testing.assert_allclose(cov, exact, atol=6e-4)


def test_periodic_2d_spectrum_matches_eigenvalues():
    s, m = 16, 3000
    grf = GaussianRandomField(alpha=2.5, tau=7.0, boundary="periodic")
    rng = np.random.default_rng(1)
    power = np.zeros((s, s))
    for _ in range(m):
        power += np.abs(np.fft.fft2(grf.sample(rng, (s, s)))) ** 2
    ratio = power / m / ((s * s) ** 2 * grf.eigenvalues((s, s)))
    # E|û_k|² = N²λ_k (N = s²); |û_k|²/(N²λ_k) is Exp(1) for complex modes (std 1) and χ²₁ for
    # the 4 real ones (std √2): the mean of m draws has std ≤ √(2/m) = 0.026; allow 6 of them
    # for the max over 256 modes
    assert np.max(np.abs(ratio - 1)) < 6 * np.sqrt(2 / m)
    assert abs(ratio.mean() - 1) < 6 / np.sqrt(m * s * s)


def test_neumann_2d_coefficients_have_variance_lambda():
    s, m = 12, 3000
    grf = GaussianRandomField(alpha=2.0, tau=3.0, boundary="neumann")
    rng = np.random.default_rng(2)
    inverse = np.linalg.inv(_cosine_basis(s))
    second_moment = np.zeros((s, s))
    for _ in range(m):
        coeffs = inverse @ grf.sample(rng, (s, s)) @ inverse.T
        second_moment += coeffs**2
    ratio = second_moment / m / grf.eigenvalues((s, s))
    # each ξ_k² is χ²₁ (std √2): the mean of m draws has std √(2/m) = 0.026; 6σ over 144 modes
    assert np.max(np.abs(ratio - 1)) < 6 * np.sqrt(2 / m)


def test_default_amplitude_and_field_statistics():
    grf = GaussianRandomField(alpha=2.0, tau=3.0)
    assert grf.amplitude(2) == pytest.approx(3.0)  # τ^(α - d/2)
    sample = grf.sample(np.random.default_rng(0), (65, 65))
    assert sample.shape == (65, 65) and np.all(np.isfinite(sample))


def test_same_rng_state_gives_same_field_and_bad_shape_is_refused():
    grf = GaussianRandomField(boundary="periodic")
    a = grf.sample(np.random.default_rng(5), (32, 32))
    b = grf.sample(np.random.default_rng(5), (32, 32))
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="GRF shape"):
        grf.sample(np.random.default_rng(0), (4, 4, 4))
