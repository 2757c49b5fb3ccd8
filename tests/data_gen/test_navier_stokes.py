"""Tests of the pseudo-spectral vorticity solver against exact solutions (float64 throughout)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from data_gen.grid.navier_stokes import kolmogorov_forcing, solve_vorticity


def _grid(s: int) -> tuple[np.ndarray, np.ndarray]:
    x = np.arange(s) / s
    return np.meshgrid(x, x, indexing="ij")


def _cn_amplification(lam: float, h: float) -> float:
    """Crank–Nicolson amplification factor per step for dω/dt = λω."""
    return (1.0 + 0.5 * h * lam) / (1.0 - 0.5 * h * lam)


def _random_modes(s: int, kmax: int, seed: int) -> np.ndarray:
    """Smooth field: random Fourier modes with 0 < max(|k_x|, |k_y|) <= kmax, zero mean."""
    rng = np.random.default_rng(seed)
    x, y = _grid(s)
    w = np.zeros((s, s))
    for kx in range(-kmax, kmax + 1):
        for ky in range(-kmax, kmax + 1):
            if kx == ky == 0:
                continue
            a, b = rng.standard_normal(2)
            phase = 2.0 * np.pi * (kx * x + ky * y)
            w += a * np.cos(phase) + b * np.sin(phase)
    return w


def test_kolmogorov_forcing_formula_and_spectrum() -> None:
    s = 12
    x, y = _grid(s)
    f = kolmogorov_forcing(s)
    assert f.shape == (s, s) and f.dtype == np.float64
    expected = 0.1 * (np.sin(2 * np.pi * (x + y)) + np.cos(2 * np.pi * (x + y)))
    np.testing.assert_allclose(f, expected, rtol=0, atol=1e-15)  # same formula, round-off only
    # Only the modes k = ±(1, 1) are present (|k|² = 2 shell, zero mean); 1e-15 = round-off.
    spec = np.abs(np.fft.fft2(f)) / s**2
    spec[1, 1] = spec[-1, -1] = 0.0
    assert spec.max() < 1e-15


@pytest.mark.parametrize("dt", [0.01, 0.03])
def test_taylor_green_decay(dt: float) -> None:
    # ω0 = A sin(2πkx) sin(2πky) is a Laplacian eigenfunction with ψ ∝ ω, so u·∇ω ≡ 0 and
    # ω(t) = ω0 exp(λt), λ = −8π²k²ν.  On this mode the scheme reduces exactly to Crank–Nicolson,
    # i.e. ω_n = ω0 Rⁿ with R = (1 + hλ/2)/(1 − hλ/2), h = interval/ceil(interval/dt).
    s, k, amp, nu, t_end, n_snap = 16, 2, 1.3, 0.01, 1.0, 5
    x, y = _grid(s)
    w0 = amp * np.sin(2 * np.pi * k * x) * np.sin(2 * np.pi * k * y)
    out = solve_vorticity(w0, nu=nu, t_end=t_end, n_snapshots=n_snap, dt=dt)
    assert out.shape == (n_snap, s, s) and out.dtype == np.float64

    lam = -8.0 * np.pi**2 * k**2 * nu
    interval = t_end / n_snap
    m = math.ceil(interval / dt)  # 20 steps for dt = 0.01 (exact), 7 for dt = 0.03
    h = interval / m
    for j in range(n_snap):
        t = (j + 1) * interval
        discrete = w0 * _cn_amplification(lam, h) ** (m * (j + 1))
        # Discrete CN solution reproduced to round-off (1e-13 of |A|, ~100 steps of 1e-16 each);
        # this also pins the step count m = ceil(interval/dt) and step h = interval/m.
        np.testing.assert_allclose(out[j], discrete, rtol=0, atol=1e-13 * amp)
        # Against the exact solution, the error is the CN time error |Rⁿ − e^{λt}|·A
        # (≈ t|λ|³h²/12 · e^{λt}·A; max over snapshots ≈ 3e-5 A at dt = 0.01 and 2.4e-4 A at
        # h = 0.2/7), plus round-off.
        cn_err = amp * abs(_cn_amplification(lam, h) ** (m * (j + 1)) - np.exp(lam * t))
        err = np.abs(out[j] - w0 * np.exp(lam * t)).max()
        assert err <= cn_err + 1e-13 * amp


def test_forced_kolmogorov_transient() -> None:
    # ω0 = 0 with the Kolmogorov forcing: ω stays on the |k|² = 2 shell where J(ψ, ω) = 0, so
    # ω(t) = f/(8π²ν) (1 − e^{λt}), λ = −8π²ν.  With a constant explicit term the scheme is CN:
    # ω_n = f/(8π²ν) (1 − Rⁿ) (the steady state f/(8π²ν) is reproduced exactly).
    s, nu, t_end, n_snap, dt = 16, 0.02, 2.0, 4, 0.01
    f = kolmogorov_forcing(s)
    out = solve_vorticity(
        np.zeros((s, s)), nu=nu, t_end=t_end, n_snapshots=n_snap, dt=dt, forcing=f
    )
    lam = -8.0 * np.pi**2 * nu
    steady = f / (8.0 * np.pi**2 * nu)
    scale = np.abs(steady).max()  # ≈ 0.09
    n_per = round(t_end / n_snap / dt)  # 50 steps per snapshot interval
    for j in range(n_snap):
        t = (j + 1) * t_end / n_snap
        rn = _cn_amplification(lam, dt) ** (n_per * (j + 1))
        # Discrete CN solution to round-off (1e-13 of the amplitude).
        np.testing.assert_allclose(out[j], steady * (1.0 - rn), rtol=0, atol=1e-13 * scale)
        # Exact solution within the CN time error |Rⁿ − e^{λt}|·max|steady| (≤ 7e-7 here).
        cn_err = scale * abs(rn - np.exp(lam * t))
        assert np.abs(out[j] - steady * (1.0 - np.exp(lam * t))).max() <= cn_err + 1e-13 * scale


def test_initial_time_derivative_matches_pde() -> None:
    # Checks the signs/conventions of u = (ψ_y, −ψ_x), −Δψ = ω and of advection with a state
    # where u·∇ω ≠ 0.  For ω0 = cos 2πx + cos 4πy one finds by hand
    #   ∂ω/∂t(0) = −u·∇ω + νΔω = 1.5 sin 2πx sin 4πy − 4π²ν (cos 2πx + 4 cos 4πy).
    # The one-sided difference (−3ω0 + 4ω(τ) − ω(2τ))/(2τ) is O(τ²) accurate (also with the
    # scheme's O(τ³) local error); observed ≈ 5τ² = 5e-8 at τ = 1e-4, tolerance 100τ² = 1e-6
    # (a sign error in the advection would give an error ≈ 3).
    s, nu, tau = 16, 0.01, 1e-4
    x, y = _grid(s)
    w0 = np.cos(2 * np.pi * x) + np.cos(4 * np.pi * y)
    rhs = 1.5 * np.sin(2 * np.pi * x) * np.sin(4 * np.pi * y) - 4 * np.pi**2 * nu * (
        np.cos(2 * np.pi * x) + 4 * np.cos(4 * np.pi * y)
    )
    w1, w2 = solve_vorticity(w0, nu=nu, t_end=2 * tau, n_snapshots=2, dt=tau)
    deriv = (-3.0 * w0 + 4.0 * w1 - w2) / (2.0 * tau)
    np.testing.assert_allclose(deriv, rhs, rtol=0, atol=100 * tau**2)


def test_second_order_in_time() -> None:
    # Multi-mode initial condition (|k| <= 3, max|ω0| = 10, max|u| ≈ 0.5), ν = 1e-3, s = 32: the
    # nonlinear dynamics is active.  The same grid is used throughout, so differences to a
    # reference run with dt/64 isolate the time error.  Measured errors ≈ 5.5e-2, 1.3e-2,
    # 3.3e-3 (orders 2.04, 2.03); the reference's own error (≈ 64⁻² of the coarsest) perturbs
    # the observed order by < 0.01.  Required: 1.8 <= order <= 2.2 over both halvings.
    s, nu, t_end, dt = 32, 1e-3, 1.0, 0.02
    w0 = _random_modes(s, kmax=3, seed=0)
    w0 *= 10.0 / np.abs(w0).max()
    ref = solve_vorticity(w0, nu=nu, t_end=t_end, n_snapshots=1, dt=dt / 64)[-1]

    # Nonlinearity matters: the viscous-only (linear) evolution differs by O(1) from ref.
    kx = np.fft.fftfreq(s, 1.0 / s)[:, None]
    ky = np.fft.rfftfreq(s, 1.0 / s)[None, :]
    linear = np.fft.irfft2(
        np.fft.rfft2(w0) * np.exp(-4 * np.pi**2 * nu * (kx**2 + ky**2) * t_end), s=(s, s)
    )
    assert np.abs(ref - linear).max() > 0.1 * np.abs(ref).max()

    errs = [
        np.abs(solve_vorticity(w0, nu=nu, t_end=t_end, n_snapshots=1, dt=dt / 2**i)[-1] - ref).max()
        for i in range(3)
    ]
    orders = np.log2(np.array(errs[:-1]) / np.array(errs[1:]))
    assert np.all((orders >= 1.8) & (orders <= 2.2)), (errs, orders)


def test_dealiasing_keeps_spectrum_in_band() -> None:
    # With the 2/3 rule the nonlinear term only fills modes with 3|k_x| < s and 3|k_y| < s; a
    # field that starts there (and is unforced) must stay there.  Without truncation the
    # products fill those modes at O(1e-2..1) within a few steps.  1e-13 = round-off level.
    s = 16
    w0 = _random_modes(s, kmax=5, seed=1)  # 3·5 < 16: fully inside the band
    out = solve_vorticity(w0, nu=1e-3, t_end=0.5, n_snapshots=1, dt=0.005)[-1]
    spec = np.abs(np.fft.fft2(out)) / s**2
    k = np.abs(np.fft.fftfreq(s, 1.0 / s))
    outside = (3 * k[:, None] >= s) | (3 * k[None, :] >= s)
    assert spec[~outside].max() > 0.1  # the in-band dynamics is O(1)
    assert spec[outside].max() < 1e-13


def test_mean_is_conserved() -> None:
    # u·∇ω = ∇·(uω) has zero mean and the Kolmogorov forcing has zero mean, so the mean of ω is
    # constant; 1e-13 absolute = accumulated round-off over 200 steps.
    s = 32
    w0 = _random_modes(s, kmax=3, seed=2) + 0.7
    out = solve_vorticity(
        w0, nu=1e-3, t_end=1.0, n_snapshots=4, dt=0.005, forcing=kolmogorov_forcing(s)
    )
    np.testing.assert_allclose(out.mean(axis=(1, 2)), w0.mean(), rtol=0, atol=1e-13)


def test_snapshot_times() -> None:
    s = 16
    w0 = _random_modes(s, kmax=2, seed=3)
    kw = {"nu": 1e-3, "dt": 0.01, "forcing": kolmogorov_forcing(s)}
    out = solve_vorticity(w0, t_end=1.0, n_snapshots=4, **kw)
    assert out.shape == (4, s, s) and out.dtype == np.float64
    # Same step size 0.01 in both runs (25 steps per snapshot vs 100 in one go), so the results
    # agree to round-off (1e-12 relative to max|ω|).
    scale = np.abs(out).max()
    last = solve_vorticity(w0, t_end=1.0, n_snapshots=1, **kw)
    np.testing.assert_allclose(out[-1], last[0], rtol=0, atol=1e-12 * scale)
    first = solve_vorticity(w0, t_end=0.25, n_snapshots=1, **kw)
    np.testing.assert_allclose(out[0], first[0], rtol=0, atol=1e-12 * scale)
    # dt larger than a snapshot interval: one step per interval.
    assert solve_vorticity(w0, t_end=0.1, n_snapshots=5, **{**kw, "dt": 0.5}).shape == (5, s, s)


_GOOD = {"nu": 1e-3, "t_end": 0.1, "n_snapshots": 2, "dt": 0.01}


@pytest.mark.parametrize(
    ("w0", "overrides", "match"),
    [
        (np.zeros((8, 6)), {}, "w0 must be a square 2-D"),
        (np.zeros((8, 8, 1)), {}, "w0 must be a square 2-D"),
        (np.zeros((3, 3)), {}, "s >= 4"),
        (np.zeros((8, 8), complex), {}, "w0 must be a real"),
        (np.full((8, 8), np.nan), {}, "w0 must contain only finite"),
        (np.zeros((8, 8)), {"nu": 0.0}, "nu must be"),
        (np.zeros((8, 8)), {"nu": -1.0}, "nu must be"),
        (np.zeros((8, 8)), {"nu": np.inf}, "nu must be"),
        (np.zeros((8, 8)), {"t_end": 0.0}, "t_end must be"),
        (np.zeros((8, 8)), {"dt": -0.1}, "dt must be"),
        (np.zeros((8, 8)), {"dt": float("nan")}, "dt must be"),
        (np.zeros((8, 8)), {"n_snapshots": 0}, "n_snapshots must be"),
        (np.zeros((8, 8)), {"n_snapshots": 2.0}, "n_snapshots must be"),
        (np.zeros((8, 8)), {"forcing": np.zeros((8, 9))}, "forcing must have the shape"),
        (np.zeros((8, 8)), {"forcing": np.full((8, 8), np.inf)}, "forcing must contain only"),
    ],
)
def test_invalid_arguments(w0: np.ndarray, overrides: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        solve_vorticity(w0, **{**_GOOD, **overrides})


def test_blow_up_is_reported() -> None:
    # Strong flow (max|u| ≈ 10) with dt = 1: far beyond the advective CFL limit.
    s = 16
    x, y = _grid(s)
    w0 = 50.0 * (np.sin(2 * np.pi * (x + 2 * y)) + np.cos(6 * np.pi * x) + np.sin(4 * np.pi * y))
    with pytest.raises(FloatingPointError, match="non-finite at step .*smaller dt"):
        solve_vorticity(w0, nu=1e-4, t_end=100.0, n_snapshots=1, dt=1.0)
