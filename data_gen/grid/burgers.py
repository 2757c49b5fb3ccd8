"""Viscous Burgers equation on a periodic interval: Fourier pseudo-spectral ETDRK4 solver.

The equation, on x in [0, L) with periodic boundary conditions, is

    u_t + (u^2 / 2)_x = nu * u_xx,

with u a velocity [length/time], nu > 0 the kinematic viscosity [length^2/time], x in
[length] and t in [time]; any consistent unit system works (the solver is unit-agnostic).

Discretisation
--------------
Space: u is sampled on the uniform grid x_i = i * L / s, i = 0..s-1 (endpoint excluded) and
represented by its real-FFT coefficients v_n = rfft(u)_n, n = 0..s//2, with angular
wavenumbers k_n = 2 * pi * n / L. In Fourier space the equation reads

    dv/dt = c * v + N(v),   c_n = -nu * k_n^2,
    N(v) = -(i k / 2) * P rfft( irfft(P v)^2 ),

where P is the 2/3-rule dealiasing projector (keeps the modes with 3 n < s). Projecting both
the input and the output of the quadratic product makes N the exact Galerkin nonlinearity of
the modes kept, so aliasing errors are removed entirely; modes with 3 n >= s evolve under the
linear part only (pure viscous decay of whatever u0 puts there).

Time: the stiff linear part is integrated exactly and the nonlinear part with the fourth-order
exponential time-differencing Runge-Kutta scheme of Cox & Matthews (J. Comput. Phys. 176,
2002), step h, z = h c:

    a = e^{z/2} v + Q N(v)
    b = e^{z/2} v + Q N(a)
    d = e^{z/2} a + Q (2 N(b) - N(v))
    v <- e^{z} v + f1 N(v) + 2 f2 (N(a) + N(b)) + f3 N(d)

with Q = h (e^{z/2} - 1) / z and
    f1 = h (-4 - z + e^z (4 - 3 z + z^2)) / z^3,
    f2 = h (2 + z + e^z (z - 2)) / z^3,
    f3 = h (-4 - 3 z - z^2 + e^z (4 - z)) / z^3.
These phi-function combinations suffer catastrophic cancellation for small |z|, so they are
evaluated as in Kassam & Trefethen (SIAM J. Sci. Comput. 26, 2005): each is the mean of the
same expression over points z + e^{i theta} of a unit circle centred on z (Cauchy's integral
formula, trapezoidal rule). As z is real, the mean over the upper half circle's real part
suffices. The scheme is fourth order in time and spectrally accurate in space for smooth u.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from numbers import Integral
from typing import ClassVar

import numpy as np

from data_gen.checks import positive_finite, steps_per_interval
from data_gen.config import bounds
from data_gen.generator import Coordinate, FieldSpec, Generator, Layout
from data_gen.grid.etdrk4 import etdrk4_coefficients, etdrk4_step
from data_gen.random_fields import GaussianRandomField

__all__ = ["Burgers", "solve_burgers"]

# Quadrature points on the upper half of the contour |w - z| = 1 (Kassam & Trefethen use 16
# there; 32 gives the phi-functions to round-off for every real z <= 0).


def solve_burgers(
    u0: np.ndarray,
    *,
    nu: float,
    t_end: float,
    n_snapshots: int,
    dt: float,
    length: float = 1.0,
) -> np.ndarray:
    """Solve u_t + (u^2/2)_x = nu u_xx on the periodic interval [0, length) from u(., 0) = u0.

    Fourier pseudo-spectral in space (real FFTs, 2/3-rule dealiasing of the quadratic term),
    ETDRK4 (Cox-Matthews, Kassam-Trefethen contour evaluation) in time; see the module
    docstring for the full scheme.

    Parameters
    ----------
    u0 : (s,) array of real
        Initial velocity [length/time] at x_i = i * length / s, i = 0..s-1 (endpoint
        excluded), s >= 4.
    nu : float
        Kinematic viscosity [length^2/time], > 0.
    t_end : float
        Final time [time], > 0.
    n_snapshots : int
        Number of equally spaced output times t_k = k * t_end / n_snapshots, k = 1..n_snapshots
        (t = 0 is not included), >= 1.
    dt : float
        Largest time step [time], > 0. Each interval between snapshots of length
        Delta = t_end / n_snapshots is covered by m = ceil(Delta / dt) equal steps of Delta / m,
        so every snapshot time is hit exactly.
    length : float
        Period L of the domain [length], > 0.

    Returns
    -------
    (n_snapshots, s) float64 array
        u(x_i, t_k); row k - 1 holds time t_k.

    Raises
    ------
    ValueError
        If an argument is invalid; the message names it and says what was expected.
    FloatingPointError
        If the solution becomes non-finite; the message gives the time reached (use a
        smaller dt).
    """
    arr = np.asarray(u0)
    if arr.ndim != 1 or arr.shape[0] < 4:
        raise ValueError(f"u0 must be a 1-D array with at least 4 points, got shape {arr.shape}")
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise ValueError(f"u0 must hold real numbers, got dtype {arr.dtype}")
    u = arr.astype(np.float64)
    if not np.isfinite(u).all():
        raise ValueError("u0 must contain only finite values")
    nu = positive_finite("nu", nu)
    t_end = positive_finite("t_end", t_end)
    dt = positive_finite("dt", dt)
    length = positive_finite("length", length)
    if isinstance(n_snapshots, bool) or not isinstance(n_snapshots, Integral) or n_snapshots < 1:
        raise ValueError(f"n_snapshots must be an integer >= 1, got {n_snapshots!r}")
    n_snapshots = int(n_snapshots)

    s = u.shape[0]
    modes = np.arange(s // 2 + 1)
    k = (2.0 * np.pi / length) * modes
    keep = 3 * modes < s  # 2/3 rule
    # N(v) = g * rfft(irfft(P v)^2), with the output projection folded into g.
    g = np.where(keep, -0.5j * k, 0.0)

    def nonlinear(v: np.ndarray) -> np.ndarray:
        w = np.fft.irfft(v * keep, n=s)
        return g * np.fft.rfft(w * w)

    interval = t_end / n_snapshots
    m = steps_per_interval(interval, dt)
    h = interval / m
    coefficients = etdrk4_coefficients(-nu * k**2, h)

    out = np.empty((n_snapshots, s), dtype=np.float64)
    v = np.fft.rfft(u)
    # Overflow / invalid operations are only possible once the run has already blown up, which
    # the finiteness check after every step turns into a FloatingPointError.
    with np.errstate(over="ignore", invalid="ignore"):
        for snap in range(n_snapshots):
            for step in range(m):
                v = etdrk4_step(v, nonlinear, coefficients)
                if not np.isfinite(v).all():
                    t_fail = (snap * m + step + 1) * h
                    raise FloatingPointError(
                        f"solution became non-finite at t = {t_fail:.6g} (t_end = {t_end:.6g}, "
                        f"step {h:.3g}); the run is unstable, use a smaller dt"
                    )
            out[snap] = np.fft.irfft(v, n=s)
    return out


@dataclass(frozen=True)
class Burgers(Generator):
    """Generator of (initial condition u0, solution u(·, t)) pairs of 1-D viscous Burgers.

    u0 ~ N(0, σ²(-Δ + τ²I)^{-α}) on the periodic unit interval -- by default the FNO benchmark's
    N(0, 625(-Δ + 25I)^{-2}) -- and ``solve_burgers`` gives u at ``n_snapshots`` equally spaced
    times up to ``t_end`` (``n_snapshots = 1``: the map u0 -> u(·, t_end)). Nondimensional.
    """

    name: ClassVar[str] = "burgers"
    pde: ClassVar[str] = "burgers"

    resolution: int = field(default=1024, metadata=bounds(ge=8))
    """Grid points s on [0, 1) (x_i = i/s)."""
    nu: float = field(default=0.1, metadata=bounds(gt=0))
    """Viscosity ν."""
    t_end: float = field(default=1.0, metadata=bounds(gt=0))
    n_snapshots: int = field(default=1, metadata=bounds(ge=1))
    """Stored times t_k = k t_end / n_snapshots, k = 1..n_snapshots."""
    dt: float = field(default=1e-4, metadata=bounds(gt=0))
    """Time step (ETDRK4 is stiffly stable; the advective CFL limit still applies)."""
    grf: GaussianRandomField = GaussianRandomField(
        alpha=2.0, tau=5.0, sigma=25.0, boundary="periodic"
    )

    def __post_init__(self) -> None:
        self.grf.require_boundary("periodic", "Burgers is solved on a circle")

    def layout(self) -> Layout:
        times = self.t_end * np.arange(1, self.n_snapshots + 1) / self.n_snapshots
        return Layout(
            coordinates=(
                Coordinate(
                    "x", self.grf.grid(self.resolution), "spatial coordinate", grid="periodic"
                ),
                Coordinate("t", times, "time"),
            ),
            fields=(
                FieldSpec("u0", ("x",), "input", "initial condition u(x, 0)"),
                FieldSpec("solution", ("t", "x"), "output", "solution u(x, t)"),
            ),
            attrs={
                "equation": f"u_t + (u^2/2)_x = {self.nu:g} u_xx",
                "domain": "[0, 1) periodic, grid x_i = i/s",
                "boundary_conditions": "periodic",
            },
        )

    def solve(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        u0 = self.grf.sample(rng, (self.resolution,))
        u = solve_burgers(
            u0, nu=self.nu, t_end=self.t_end, n_snapshots=self.n_snapshots, dt=self.dt
        )
        return {"u0": u0, "solution": u}
