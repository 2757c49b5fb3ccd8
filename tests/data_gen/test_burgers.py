"""Tests for the periodic viscous Burgers solver (Fourier pseudo-spectral, ETDRK4)."""

from __future__ import annotations

import numpy as np
import pytest

from data_gen.grid.burgers import solve_burgers


def cole_hopf(
    x: np.ndarray,
    t: np.ndarray,
    *,
    nu: float,
    length: float,
    a0: float,
    amps: tuple[float, ...],
    phases: tuple[float, ...],
    shift: float = 0.0,
) -> np.ndarray:
    """Exact solution u(x, t), shape (len(t), len(x)), of u_t + u u_x = nu u_xx.

    u = shift - 2 nu phi_x / phi evaluated at (x - shift t, t), where
    phi = a0 + sum_j a_j exp(-nu kappa_j^2 t) cos(kappa_j x + theta_j), kappa_j = 2 pi j / L,
    solves the heat equation phi_t = nu phi_xx (Cole-Hopf), and a0 > sum |a_j| keeps phi > 0.
    The constant shift is a Galilean boost: it tests advection by a non-zero mean.
    """
    assert a0 > sum(abs(a) for a in amps) > 0
    xs = x[None, :] - shift * t[:, None]
    phi = np.full(xs.shape, a0)
    dphi = np.zeros(xs.shape)
    for j, (a, theta) in enumerate(zip(amps, phases, strict=True), start=1):
        kappa = 2.0 * np.pi * j / length
        amp = a * np.exp(-nu * kappa**2 * t)[:, None]
        phi += amp * np.cos(kappa * xs + theta)
        dphi -= amp * kappa * np.sin(kappa * xs + theta)
    return shift - 2.0 * nu * dphi / phi


def grid(s: int, length: float) -> np.ndarray:
    return np.arange(s) * length / s


def cole_hopf_error(
    *, s: int, nu: float, length: float, dt: float, t_end: float, n_snapshots: int, **phi
) -> float:
    """Max-norm error over all snapshots relative to the max of the exact solution."""
    x = grid(s, length)
    u0 = cole_hopf(x, np.zeros(1), nu=nu, length=length, **phi)[0]
    u = solve_burgers(u0, nu=nu, t_end=t_end, n_snapshots=n_snapshots, dt=dt, length=length)
    t = np.arange(1, n_snapshots + 1) * t_end / n_snapshots
    exact = cole_hopf(x, t, nu=nu, length=length, **phi)
    assert u.shape == exact.shape and u.dtype == np.float64
    return float(np.abs(u - exact).max() / np.abs(exact).max())


PHI_MILD = {"a0": 1.0, "amps": (0.5, 0.25, 0.1), "phases": (0.3, 1.1, -0.7)}
PHI_STEEP = {"a0": 1.0, "amps": (0.6, 0.25, 0.1), "phases": (-0.4, 2.0, 0.5)}


@pytest.mark.parametrize(
    ("s", "nu", "length", "dt", "phi", "shift"),
    [
        (128, 0.1, 1.0, 2.5e-4, PHI_MILD, 0.0),
        (127, 0.05, 1.0, 2.5e-4, PHI_MILD, 0.4),  # odd s, boosted
        (128, 0.1, 2.0 * np.pi, 1e-3, PHI_MILD, 0.0),
        (256, 0.05, 2.0 * np.pi, 1e-3, PHI_STEEP, 0.4),  # Reynolds number ~ 60, boosted
    ],
)
def test_matches_cole_hopf(s, nu, length, dt, phi, shift):
    err = cole_hopf_error(
        s=s, nu=nu, length=length, dt=dt, t_end=1.0, n_snapshots=5, shift=shift, **phi
    )
    # Measured 6e-14 .. 5e-13. The grids resolve every case to round-off (doubling s changes
    # nothing) and from the observed C dt^4 the time error at these dt is <= 1e-13; the rest is
    # round-off accumulated over up to 4000 steps, and 2e-12 leaves a 4x margin on the worst.
    assert err < 2e-12


@pytest.mark.parametrize(
    ("nu", "length", "dts"),
    [
        (0.1, 1.0, (0.02, 0.01, 0.005, 0.0025)),
        (0.1, 2.0 * np.pi, (0.5, 0.25, 0.125, 0.0625)),
    ],
)
def test_fourth_order_in_time(nu, length, dts):
    errs = np.array(
        [
            cole_hopf_error(
                s=64, nu=nu, length=length, dt=dt, t_end=1.0, n_snapshots=2, shift=0.3, **PHI_MILD
            )
            for dt in dts
        ]
    )
    # Errors run 4e-6 .. 1e-9 (L = 1) and 1e-3 .. 3e-7 (L = 2 pi): far above the spatial error
    # at s = 64 (< 1e-12) and round-off, so the time error dominates. Measured orders
    # 3.98-4.00 and 3.79-3.86; [3.5, 4.5] is the asymptotic order 4 with pre-asymptotic slack.
    orders = np.log2(errs[:-1] / errs[1:])
    assert np.all((orders > 3.5) & (orders < 4.5)), (errs, orders)


def random_smooth(s: int, length: float, seed: int, n_modes: int = 8) -> np.ndarray:
    """Band-limited random field with non-zero mean and O(1) amplitude."""
    rng = np.random.default_rng(seed)
    x = grid(s, length)
    u = np.full(s, 0.3)
    for j in range(1, n_modes + 1):
        u += rng.normal() / j * np.cos(2.0 * np.pi * j * x / length + rng.uniform(0, 2 * np.pi))
    return u


@pytest.mark.parametrize("nu", [0.05, 0.01, 0.002])
def test_mean_conserved_and_energy_decays(nu):
    length = 2.0
    u0 = random_smooth(256, length, seed=1)
    u = solve_burgers(u0, nu=nu, t_end=1.0, n_snapshots=20, dt=1e-3, length=length)
    # The k = 0 mode is untouched by the scheme (its linear factor is exactly 1 and the
    # nonlinear term is a derivative), so the mean drifts only by FFT round-off: 1e-14.
    np.testing.assert_allclose(u.mean(axis=1), u0.mean(), rtol=0, atol=1e-14)
    # d/dt ||u||^2 = -2 nu ||u_x||^2 holds exactly for the dealiased Galerkin system, so the norm
    # is non-increasing; 1e-13 relative allows for round-off only, and it must decay visibly.
    norms = np.linalg.norm(np.vstack([u0, u]), axis=1)
    assert np.all(np.diff(norms) <= 1e-13 * norms[0])
    assert norms[-1] < 0.99 * norms[0]


def test_last_snapshot_independent_of_snapshot_count():
    u0 = random_smooth(128, 1.0, seed=2)
    # dt = 0.01 divides both 1/4 and 1 exactly, so both runs take the same 100 steps of 0.01;
    # only round-off in the step size could differ.
    many = solve_burgers(u0, nu=0.01, t_end=1.0, n_snapshots=4, dt=0.01)
    one = solve_burgers(u0, nu=0.01, t_end=1.0, n_snapshots=1, dt=0.01)
    assert one.shape == (1, 128)
    np.testing.assert_allclose(many[-1], one[0], rtol=0, atol=1e-14)


def test_step_lands_on_snapshots_with_non_dividing_dt():
    # dt = 0.03 does not divide the interval 0.25, so each interval takes ceil(0.25 / 0.03) = 9
    # equal steps of 0.25 / 9: identical (to round-off) to asking for that step directly.
    x = grid(64, 1.0)
    u0 = cole_hopf(x, np.zeros(1), nu=0.1, length=1.0, shift=0.5, **PHI_MILD)[0]
    kw = {"nu": 0.1, "t_end": 1.0, "n_snapshots": 4}
    np.testing.assert_allclose(
        solve_burgers(u0, dt=0.03, **kw), solve_burgers(u0, dt=0.25 / 9, **kw), rtol=0, atol=1e-14
    )
    # And the snapshots sit at the exact times: the error is the O(dt^4) time error (measured
    # 3e-5), where missing t_k by a fraction of a step would cost |u_t| * 0.03 ~ 1e-2.
    err = cole_hopf_error(
        s=64, nu=0.1, length=1.0, dt=0.03, t_end=1.0, n_snapshots=4, shift=0.5, **PHI_MILD
    )
    assert err < 1e-4


def test_blow_up_raises():
    x = grid(256, 1.0)
    with pytest.raises(FloatingPointError, match=r"non-finite at t = .*smaller dt"):
        solve_burgers(10.0 * np.sin(2 * np.pi * x), nu=1e-3, t_end=10.0, n_snapshots=2, dt=0.1)


GOOD = {"nu": 0.1, "t_end": 1.0, "n_snapshots": 2, "dt": 0.1, "length": 1.0}


@pytest.mark.parametrize(
    ("u0", "override", "name"),
    [
        (np.zeros((4, 4)), {}, "u0"),
        (np.zeros(3), {}, "u0"),
        (np.array([0.0, 1.0, np.nan, 0.0]), {}, "u0"),
        (np.array([0.0, 1.0, np.inf, 0.0]), {}, "u0"),
        (np.zeros(8, dtype=complex), {}, "u0"),
        (np.zeros(8), {"nu": 0.0}, "nu"),
        (np.zeros(8), {"nu": -1.0}, "nu"),
        (np.zeros(8), {"nu": np.nan}, "nu"),
        (np.zeros(8), {"t_end": 0.0}, "t_end"),
        (np.zeros(8), {"t_end": np.inf}, "t_end"),
        (np.zeros(8), {"n_snapshots": 0}, "n_snapshots"),
        (np.zeros(8), {"n_snapshots": 1.5}, "n_snapshots"),
        (np.zeros(8), {"dt": 0.0}, "dt"),
        (np.zeros(8), {"dt": -0.1}, "dt"),
        (np.zeros(8), {"dt": "0.1"}, "dt"),
        (np.zeros(8), {"length": 0.0}, "length"),
        (np.zeros(8), {"length": np.nan}, "length"),
    ],
)
def test_invalid_input_raises(u0, override, name):
    with pytest.raises(ValueError, match=rf"^{name} must"):
        solve_burgers(u0, **{**GOOD, **override})


def test_integer_input_accepted_and_constant_preserved():
    # A constant state is an exact steady solution; integers are promoted to float64.
    u = solve_burgers(np.full(16, 2), **GOOD)
    assert u.dtype == np.float64 and u.shape == (2, 16)
    np.testing.assert_allclose(u, 2.0, rtol=0, atol=1e-15)
