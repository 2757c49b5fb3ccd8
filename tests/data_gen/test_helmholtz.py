"""Tests of the 2-D Helmholtz finite-difference solver (data_gen.grid.helmholtz)."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy.special import hankel1

from data_gen.grid.helmholtz import helmholtz_matrix, points_per_wavelength, solve_helmholtz

# The four sides of the unit square: the index of their nodes and the outward normal (n_x, n_y).
_SIDES = (
    ((0, slice(None)), (-1.0, 0.0)),
    ((-1, slice(None)), (1.0, 0.0)),
    ((slice(None), 0), (0.0, -1.0)),
    ((slice(None), -1), (0.0, 1.0)),
)


def _grid(s: int) -> tuple[np.ndarray, np.ndarray]:
    x = np.linspace(0.0, 1.0, s)
    return np.meshgrid(x, x, indexing="ij")


def _impedance_data(
    u: np.ndarray, ux: np.ndarray, uy: np.ndarray, k: np.ndarray | float
) -> np.ndarray:
    """g = du/dn - i k u on each side; at a corner the mean of the two sides (the documented
    convention)."""
    total = np.zeros(u.shape, np.complex128)
    count = np.zeros(u.shape)
    for index, (nx, ny) in _SIDES:
        total[index] += (nx * ux + ny * uy - 1j * k * u)[index]
        count[index] += 1.0
    return np.divide(total, count, out=np.zeros_like(total), where=count > 0)


def _variable_speed(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return 1.0 + 0.25 * np.sin(2.0 * np.pi * x) * np.cos(np.pi * y)


def _constant_speed(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.ones_like(x)


def _manufactured_errors(
    s: int, omega: float, k0: float, speed: Callable[[np.ndarray, np.ndarray], np.ndarray]
) -> tuple[float, float]:
    """Relative max-norm and discrete-L2 errors for u = exp(-|x - x0|^2 / a) exp(i k0 d.x)."""
    x, y = _grid(s)
    x0, y0, a, theta = 0.35, 0.6, 0.3, 0.6
    dx, dy = np.cos(theta), np.sin(theta)
    env = np.exp(-((x - x0) ** 2 + (y - y0) ** 2) / a)
    env_x = -2.0 * (x - x0) / a * env
    env_y = -2.0 * (y - y0) / a * env
    env_lap = (4.0 * ((x - x0) ** 2 + (y - y0) ** 2) / a**2 - 4.0 / a) * env
    wave = np.exp(1j * k0 * (dx * x + dy * y))
    u = env * wave
    ux = (env_x + 1j * k0 * dx * env) * wave
    uy = (env_y + 1j * k0 * dy * env) * wave
    lap = (env_lap + 2j * k0 * (dx * env_x + dy * env_y) - k0**2 * env) * wave
    c = speed(x, y)
    k = omega / c
    uh = solve_helmholtz(
        c, omega=omega, source=-lap - k**2 * u, boundary_data=_impedance_data(u, ux, uy, k)
    )
    err = uh - u
    max_err = np.abs(err).max() / np.abs(u).max()
    l2_err = np.sqrt(np.sum(np.abs(err) ** 2) / np.sum(np.abs(u) ** 2))  # the h^2 cancels
    return float(max_err), float(l2_err)


@pytest.mark.parametrize(
    ("omega", "k0", "speed"),
    [(10.0, 10.0, _variable_speed), (8.0, 8.0, _constant_speed)],
    ids=["variable-c", "constant-c"],
)
def test_manufactured_solution_converges_at_second_order(
    omega: float, k0: float, speed: Callable[[np.ndarray, np.ndarray], np.ndarray]
) -> None:
    sizes = (33, 65, 129, 257)
    errors = np.array([_manufactured_errors(s, omega, k0, speed) for s in sizes])
    # Measured: relative max error 2.3e-2 -> 3.6e-4 (variable c), orders 2.00-2.02 in both
    # norms. [1.8, 2.2] is the expected order 2 with room for pre-asymptotic terms; an O(h)
    # boundary treatment (e.g. a one-sided normal derivative) would give about 1.
    orders = np.log2(errors[:-1] / errors[1:])
    assert np.all((orders >= 1.8) & (orders <= 2.2)), orders
    # At s = 257 the solution must actually be accurate, not just converging (measured 3.6e-4).
    assert errors[-1, 0] < 1e-3


def test_discrete_plane_wave_is_reproduced_exactly() -> None:
    # u = exp(i (a x + b y)) solves the 5-point equation exactly (f = 0) when
    # k^2 = (2 - 2 cos(a h)) / h^2 + (2 - 2 cos(b h)) / h^2, and its ghost values obey the
    # centred impedance condition exactly for g = (+-i sin(a h) / h - i k) u on x = 1 / x = 0
    # (likewise in y; corners take the mean). The solver must then return it to round-off:
    # any wrong stencil, scaling, sign or corner weight breaks the equality at O(1).
    s, c0 = 41, 1.5
    h = 1.0 / (s - 1)
    a, b = 25.0 * np.cos(0.7), 25.0 * np.sin(0.7)
    k = np.sqrt((2.0 - 2.0 * np.cos(a * h) + 2.0 - 2.0 * np.cos(b * h)) / h**2)
    x, y = _grid(s)
    u = np.exp(1j * (a * x + b * y))
    # The centred differences (u_ghost - u_inner) / (2h) across x = 1 and y = 1; the sides
    # x = 0, y = 0 get the same magnitude with the normal's sign through _impedance_data.
    ux = 1j * np.sin(a * h) / h * u
    uy = 1j * np.sin(b * h) / h * u
    g = _impedance_data(u, ux, uy, k)
    uh = solve_helmholtz(
        np.full((s, s), c0), omega=k * c0, source=np.zeros((s, s)), boundary_data=g
    )
    # |u| = 1; round-off amplified by cond(A) (~1e4 here) stays far below 1e-10.
    assert np.abs(uh - u).max() < 1e-10


def _ghost_point_matrix(c: np.ndarray, omega: float) -> sp.csr_matrix:
    """Unscaled 5-point scheme with ghost elimination, built node by node (reference)."""
    s = c.shape[0]
    h = 1.0 / (s - 1)
    a = sp.lil_matrix((s * s, s * s), dtype=np.complex128)
    for i in range(s):
        for j in range(s):
            row = i * s + j
            k = omega / c[i, j]
            a[row, row] += 4.0 / h**2 - k**2
            for di, dj in ((1, 0), (-1, 0), (0, 1), (0, -1)):
                ii, jj = i + di, j + dj
                if 0 <= ii < s and 0 <= jj < s:
                    a[row, ii * s + jj] += -1.0 / h**2
                else:  # ghost = mirror node + 2h (g + i k u_b): the g part goes to the rhs
                    a[row, (i - di) * s + (j - dj)] += -1.0 / h**2
                    a[row, row] += -2j * h * k / h**2
    return a.tocsr()


def test_matrix_is_row_scaled_ghost_point_scheme_and_complex_symmetric() -> None:
    s, omega = 7, 9.0
    x, y = _grid(s)
    c = _variable_speed(x, y)
    a = helmholtz_matrix(c, omega=omega)
    assert sp.issparse(a) and a.format == "csr"
    assert a.shape == (s * s, s * s) and a.dtype == np.complex128
    w = np.ones(s)
    w[[0, -1]] = 0.5
    reference = sp.diags(np.outer(w, w).ravel()) @ _ghost_point_matrix(c, omega)
    scale = abs(a).max()  # ~ 4 / h^2; all comparisons below are to round-off of that size
    assert abs(a - reference).max() <= 1e-14 * scale
    assert abs(a - a.T).max() <= 1e-15 * scale  # complex symmetric (entries built identically)
    assert abs(a - a.conj().T).max() > 0.1 * omega  # but not Hermitian: Im diag = -k / h


def test_solution_matches_unscaled_ghost_point_system() -> None:
    # Right-hand side of the unscaled scheme: f + (2 / h) g per ghost eliminated (one on an
    # edge, two at a corner, where g is the same nodal value for both normals).
    s, omega = 9, 5.0
    rng = np.random.default_rng(0)
    x, y = _grid(s)
    c = _variable_speed(x, y)
    f = rng.standard_normal((s, s)) + 1j * rng.standard_normal((s, s))
    g = rng.standard_normal((s, s)) + 1j * rng.standard_normal((s, s))
    n_ghosts = np.zeros((s, s))
    for index, _ in _SIDES:
        n_ghosts[index] += 1.0
    rhs = f + 2.0 * (s - 1) * n_ghosts * g
    expected = spla.spsolve(_ghost_point_matrix(c, omega).tocsc(), rhs.ravel()).reshape(s, s)
    uh = solve_helmholtz(c, omega=omega, source=f, boundary_data=g)
    assert uh.shape == (s, s) and uh.dtype == np.complex128
    # Two direct solves of the same well-conditioned (cond ~ 1e3) system agree to round-off.
    assert np.abs(uh - expected).max() <= 1e-10 * np.abs(expected).max()


def test_absorbing_problem_is_uniquely_solvable_with_small_residual() -> None:
    s, omega = 65, 20.0
    x, y = _grid(s)
    c = _variable_speed(x, y)
    f = np.random.default_rng(1).standard_normal((s, s))
    u = solve_helmholtz(c, omega=omega, source=f)
    assert np.isfinite(u).all()
    w = np.ones(s)
    w[[0, -1]] = 0.5
    b = (np.outer(w, w) * f).ravel()  # documented right-hand side W f for g = 0
    residual = helmholtz_matrix(c, omega=omega) @ u.ravel() - b
    # A backward-stable LU gives a residual near machine epsilon * cond-weighted size (~1e-14).
    assert np.linalg.norm(residual) / np.linalg.norm(b) < 1e-10


def test_point_source_radiates_like_free_space_greens_function() -> None:
    # A radial Gaussian source f = exp(-r^2 / (2 sigma^2)) / (2 pi sigma^2) in a constant medium
    # radiates, outside its support, exactly (i/4) exp(-k^2 sigma^2 / 2) H0^(1)(k r) in free
    # space (the Hankel transform of the Gaussian; the remainder is ~exp(-r^2 / (2 sigma^2))).
    # The first-order absorbing boundary reflects obliquely incident waves (coefficient
    # (cos t - 1) / (cos t + 1), up to -0.17 at the corners) and adds an O(1 / (k r))
    # curvature error, so agreement is approximate: the measured relative L2 error for r >= 6
    # sigma is 0.063 (0.060 at s = 257, 0.06-0.07 for k = 20..60: the boundary model, not the
    # grid, dominates). A reflecting (Neumann) wall gives 0.9-6.8, the incoming sign of the
    # impedance term 1.4, so the bound 0.1 tests that the waves really leave the domain.
    s, k, sigma = 129, 30.0, 0.02
    x, y = _grid(s)
    r = np.hypot(x - 0.5, y - 0.5)
    f = np.exp(-(r**2) / (2.0 * sigma**2)) / (2.0 * np.pi * sigma**2)
    u = solve_helmholtz(np.ones((s, s)), omega=k, source=f)
    far = r >= 6.0 * sigma
    free = 0.25j * np.exp(-(k**2) * sigma**2 / 2.0) * hankel1(0, k * r[far])
    assert np.linalg.norm(u[far] - free) / np.linalg.norm(free) < 0.1


def test_points_per_wavelength() -> None:
    c = np.ones((11, 11))
    c[3, 4] = 0.5
    # 2 pi c_min / omega / h = 2 pi * 0.5 * 10 / pi = 10 exactly up to round-off.
    assert points_per_wavelength(c, np.pi) == pytest.approx(10.0, rel=1e-14)


def test_under_resolved_waves_warn() -> None:
    s = 9
    c = np.ones((s, s))
    f = np.zeros((s, s))
    with pytest.warns(UserWarning, match="under-resolved"):
        solve_helmholtz(c, omega=10.0, source=f)  # 2 pi * 8 / 10 = 5.0 points per wavelength
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        solve_helmholtz(c, omega=8.0, source=f)  # 6.3 points per wavelength: no warning


_S = 5
_GOOD_C = np.ones((_S, _S))
_GOOD_F = np.zeros((_S, _S))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"wavespeed": np.ones(5)}, r"wavespeed must be a square 2-D array"),
        ({"wavespeed": np.ones((4, 5))}, r"wavespeed must be a square 2-D array"),
        ({"wavespeed": np.ones((2, 2))}, r"wavespeed must be .* s >= 3"),
        ({"wavespeed": np.ones((_S, _S)) * (1 + 1j)}, r"wavespeed must hold real numbers"),
        ({"wavespeed": np.where(np.eye(_S) > 0, 0.0, 1.0)}, r"wavespeed must be strictly pos"),
        ({"wavespeed": -_GOOD_C}, r"wavespeed must be strictly positive"),
        ({"wavespeed": np.where(np.eye(_S) > 0, np.nan, 1.0)}, r"wavespeed must contain only fi"),
        ({"wavespeed": np.where(np.eye(_S) > 0, np.inf, 1.0)}, r"wavespeed must contain only fi"),
        ({"omega": 0.0}, r"omega must be a positive finite"),
        ({"omega": -1.0}, r"omega must be a positive finite"),
        ({"omega": np.inf}, r"omega must be a positive finite"),
        ({"omega": "fast"}, r"omega must be a positive finite"),
        ({"source": np.zeros((_S, _S + 1))}, r"source must have the shape of wavespeed"),
        ({"source": np.full((_S, _S), np.nan)}, r"source must contain only finite"),
        ({"boundary_data": np.zeros((_S + 1, _S))}, r"boundary_data must have the shape"),
        ({"boundary_data": np.full((_S, _S), "x")}, r"boundary_data must hold numbers"),
    ],
)
def test_invalid_inputs_raise_value_error_naming_the_argument(
    kwargs: dict[str, object], match: str
) -> None:
    args: dict[str, object] = {"wavespeed": _GOOD_C, "omega": 1.0, "source": _GOOD_F}
    args.update(kwargs)
    wavespeed = args.pop("wavespeed")
    with pytest.raises(ValueError, match=match):
        solve_helmholtz(wavespeed, **args)
    if set(kwargs) <= {"wavespeed", "omega"}:
        with pytest.raises(ValueError, match=match):
            helmholtz_matrix(wavespeed, omega=args["omega"])
        with pytest.raises(ValueError, match=match):
            points_per_wavelength(wavespeed, args["omega"])
