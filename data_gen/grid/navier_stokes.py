"""Pseudo-spectral solver of the 2-D incompressible Navier–Stokes equations in vorticity form.

Equations (nondimensional; unit length = side of the torus, ``nu`` = 1/Re):

    ∂ω/∂t + u·∇ω = ν Δω + f        on the periodic unit torus [0, 1)²,
    u = (∂ψ/∂y, −∂ψ/∂x),   −Δψ = ω.

Grid convention (shared across opl): ``s × s`` points ``x_i = i/s``, ``y_j = j/s``
(``i, j = 0..s-1``, endpoint excluded); arrays are indexed ``w[i, j] = ω(x_i, y_j)``
(numpy "ij" indexing: axis 0 is x, axis 1 is y).

Discretisation
--------------
* Space: Fourier pseudo-spectral with real FFTs; a field is ``ω = Σ_k ω̂_k exp(2πi k·x)``, so
  ``∂/∂x ↔ 2πi k_x`` and ``Δ ↔ −4π²|k|²``.  The streamfunction is ``ψ̂ = ω̂/(4π²|k|²)`` with the
  mean mode set to 0.
* Nonlinear term: ``u``, ``v``, ``∂ω/∂x`` and ``∂ω/∂y`` are formed from the dealiased spectrum
  (Orszag 2/3 rule: only modes with ``3|k_x| < s`` and ``3|k_y| < s`` are kept), multiplied on
  the grid, transformed back and truncated again, so the quadratic product is alias-free
  (modes outside the 2/3 band evolve under viscosity and forcing only).  Its mean mode, which
  vanishes exactly because ``u·∇ω = ∇·(uω)``, is set to 0; hence the mean of ω changes only
  through the mean of ``f`` (``ω̄(t) = ω̄(0) + t f̄``) and is conserved for the usual zero-mean
  forcing.
* Time: Crank–Nicolson for ``νΔω`` and Heun (explicit RK2 predictor–corrector) for
  ``N(ω) = −u·∇ω + f``, per Fourier mode with ``L = −4π²ν|k|²`` and step ``h``::

      ω* = [(1 + hL/2) ωⁿ + h N(ωⁿ)] / (1 − hL/2)
      ωⁿ⁺¹ = [(1 + hL/2) ωⁿ + (h/2)(N(ωⁿ) + N(ω*))] / (1 − hL/2)

  The predictor is first order (local error O(h²)), so the corrector is second order overall.
  The viscous part is unconditionally stable; the explicit part needs an advective CFL
  condition, roughly ``h · max|u| · (2π s/3) ≲ 1``.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from typing import ClassVar, Literal

import numpy as np
import scipy.fft

from data_gen.checks import positive_finite, steps_per_interval
from data_gen.config import bounds
from data_gen.generator import Coordinate, FieldSpec, Generator, Layout, grid_coordinates
from data_gen.random_fields import GaussianRandomField

__all__ = ["NavierStokes", "kolmogorov_forcing", "solve_vorticity"]


def kolmogorov_forcing(s: int) -> np.ndarray:
    """Forcing ``f(x, y) = 0.1 (sin 2π(x+y) + cos 2π(x+y))`` on the ``s × s`` periodic grid.

    This is the forcing of the FNO Navier–Stokes benchmark.  It is a single Fourier shell
    (``k = ±(1, 1)``, ``|k|² = 2``) with zero mean.  Returns a float64 array of shape (s, s),
    indexed ``f[i, j] = f(i/s, j/s)``.
    """
    if isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 1:
        raise ValueError(f"s must be a positive integer (grid points per side), got {s!r}")
    x = np.arange(s, dtype=np.float64) / s
    phase = 2.0 * np.pi * (x[:, None] + x[None, :])
    return 0.1 * (np.sin(phase) + np.cos(phase))


def solve_vorticity(
    w0: np.ndarray,
    *,
    nu: float,
    t_end: float,
    n_snapshots: int,
    dt: float,
    forcing: np.ndarray | None = None,
) -> np.ndarray:
    """Integrate the vorticity equation from ``w0`` and return equally spaced snapshots.

    Solves ``∂ω/∂t + u·∇ω = ν Δω + f`` with ``u = (∂ψ/∂y, −∂ψ/∂x)``, ``−Δψ = ω`` on the periodic
    unit torus (see the module docstring for the discretisation: 2/3-dealiased pseudo-spectral
    in space, Crank–Nicolson/Heun IMEX, second order in time).  All quantities are
    nondimensional.

    Args:
        w0: initial vorticity, real array of shape (s, s) with ``s >= 4`` (even or odd),
            ``w0[i, j] = ω(i/s, j/s)``.
        nu: kinematic viscosity (> 0), i.e. the inverse Reynolds number.
        t_end: final time (> 0).
        n_snapshots: number of output times (>= 1).
        dt: maximal time step (> 0).  Each snapshot interval ``t_end/n_snapshots`` is split into
            ``m = ceil(interval/dt)`` equal steps, so the step lands exactly on every snapshot.
        forcing: time-independent forcing ``f`` of shape (s, s), or None for ``f = 0``.

    Returns:
        float64 array of shape (n_snapshots, s, s): ω at ``t_k = k·t_end/n_snapshots``,
        ``k = 1..n_snapshots`` (the initial condition is not included).

    Raises:
        ValueError: an argument is malformed; the message names it.
        FloatingPointError: the solution became non-finite (time step too large).
    """
    w0 = _as_real_field(w0, "w0")
    if w0.ndim != 2 or w0.shape[0] != w0.shape[1] or w0.shape[0] < 4:
        raise ValueError(
            f"w0 must be a square 2-D array of shape (s, s) with s >= 4, got shape {w0.shape}"
        )
    s = w0.shape[0]
    nu = positive_finite("nu", nu)
    t_end = positive_finite("t_end", t_end)
    dt = positive_finite("dt", dt)
    if (
        isinstance(n_snapshots, bool)
        or not isinstance(n_snapshots, numbers.Integral)
        or n_snapshots < 1
    ):
        raise ValueError(f"n_snapshots must be an integer >= 1, got {n_snapshots!r}")
    if forcing is not None:
        forcing = _as_real_field(forcing, "forcing")
        if forcing.shape != (s, s):
            raise ValueError(f"forcing must have the shape of w0 {(s, s)}, got {forcing.shape}")

    interval = t_end / n_snapshots
    # The relative slack keeps an exactly integer ratio (e.g. 0.1/0.001) from being rounded up
    # to one extra step by floating-point error in the division.
    m = steps_per_interval(interval, dt)
    h = interval / m

    # Wavenumber arrays for the rfft2 layout (axis 0: k_x, all; axis 1: k_y >= 0).
    kx = np.fft.fftfreq(s, d=1.0 / s)[:, None]
    ky = np.fft.rfftfreq(s, d=1.0 / s)[None, :]
    k2 = kx**2 + ky**2
    keep = (3.0 * np.abs(kx) < s) & (3.0 * ky < s)  # 2/3 rule
    inv_lap = np.zeros_like(k2)  # ψ̂ = ω̂ · inv_lap; mean mode of ψ set to 0
    inv_lap[k2 > 0] = 1.0 / (4.0 * np.pi**2 * k2[k2 > 0])
    dx = 2j * np.pi * kx * keep
    dy = 2j * np.pi * ky * keep
    # Spectral multipliers giving (u, v, ∂ω/∂x, ∂ω/∂y) from the (dealiased) ω̂.
    to_grad = np.stack(np.broadcast_arrays(dy * inv_lap, -dx * inv_lap, dx, dy))
    keep_out = keep.astype(np.float64)
    keep_out[0, 0] = 0.0  # mean of u·∇ω = ∇·(uω) is exactly 0
    f_hat = np.zeros(k2.shape, complex) if forcing is None else scipy.fft.rfft2(forcing)

    # Crank–Nicolson factors for L = −4π²ν|k|².
    half_hl = -0.5 * h * 4.0 * np.pi**2 * nu * k2
    cn_explicit = 1.0 + half_hl
    cn_implicit = 1.0 / (1.0 - half_hl)

    # Work buffers, reused every step: fresh multi-MB temporaries cost page faults that
    # otherwise dominate the run time at s >= 256.
    grads = np.empty((4, *k2.shape), complex)
    prod, prod_tmp = np.empty((s, s)), np.empty((s, s))
    n_old, n_new, lin, w_pred = (np.empty(k2.shape, complex) for _ in range(4))

    def rhs_explicit(w_hat: np.ndarray, out: np.ndarray) -> np.ndarray:
        """Write the spectrum of ``N(ω) = −u·∇ω + f`` (2/3-dealiased advection) into ``out``."""
        np.multiply(to_grad, w_hat, out=grads)
        # Two 1-D passes (in place along k_x): much faster than a batched irfft2.
        scipy.fft.ifft(grads, axis=-2, overwrite_x=True)
        u, v, wx, wy = scipy.fft.irfft(grads, n=s, axis=-1)
        np.multiply(u, wx, out=prod)
        np.add(prod, np.multiply(v, wy, out=prod_tmp), out=prod)
        np.multiply(keep_out, scipy.fft.rfft2(prod), out=out)
        return np.subtract(f_hat, out, out=out)

    w_hat = scipy.fft.rfft2(w0)
    out = np.empty((n_snapshots, s, s))
    step = 0
    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(n_snapshots):
            for _ in range(m):
                rhs_explicit(w_hat, n_old)
                np.multiply(cn_explicit, w_hat, out=lin)
                # Predictor: ω* = (lin + h N(ωⁿ)) / (1 − hL/2).
                np.multiply(h, n_old, out=w_pred)
                w_pred += lin
                w_pred *= cn_implicit
                # Corrector: ωⁿ⁺¹ = (lin + (h/2)(N(ωⁿ) + N(ω*))) / (1 − hL/2).
                rhs_explicit(w_pred, n_new)
                n_new += n_old
                n_new *= 0.5 * h
                n_new += lin
                np.multiply(cn_implicit, n_new, out=w_hat)
                step += 1
                if not np.isfinite(w_hat).all():
                    raise FloatingPointError(
                        f"solution became non-finite at step {step} (t = {step * h:.6g}); "
                        f"last finite state at t = {(step - 1) * h:.6g}.  The time step "
                        f"h = {h:.3g} is likely too large for the advective CFL limit: "
                        f"use a smaller dt"
                    )
            out[k] = scipy.fft.irfft2(w_hat, s=(s, s))
    return out


def _as_real_field(a: np.ndarray, name: str) -> np.ndarray:
    """Return ``a`` as a float64 array; ValueError if it is not real or not finite."""
    arr = np.asarray(a)
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise ValueError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
    arr = arr.astype(np.float64, copy=False)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} must contain only finite values")
    return arr


@dataclass(frozen=True)
class NavierStokes(Generator):
    """Generator of (initial vorticity, vorticity trajectory) pairs on the periodic unit torus.

    ω0 ~ N(0, σ²(-Δ + τ²I)^{-α}) with the FNO benchmark's α = 2.5, τ = 7 (σ = τ^{α-1}), forced by
    f = 0.1 (sin 2π(x+y) + cos 2π(x+y)) (or unforced), and ``solve_vorticity`` records ω at
    ``n_snapshots`` equally spaced times up to ``t_end`` (FNO: ν = 1e-3, T = 50, one snapshot per
    unit time, dt = 1e-4 at 256²). Nondimensional.
    """

    name: ClassVar[str] = "navier_stokes"
    pde: ClassVar[str] = "navier_stokes"

    resolution: int = field(default=64, metadata=bounds(ge=8))
    """Grid points per side s (x_i = i/s, periodic)."""
    nu: float = field(default=1e-3, metadata=bounds(gt=0))
    """Viscosity ν (1/Re): 1e-3, 1e-4 and 1e-5 are the FNO settings."""
    t_end: float = field(default=10.0, metadata=bounds(gt=0))
    n_snapshots: int = field(default=10, metadata=bounds(ge=1))
    """Stored times t_k = k t_end / n_snapshots, k = 1..n_snapshots."""
    dt: float = field(default=1e-3, metadata=bounds(gt=0))
    """Time step; the explicit advection needs roughly dt · max|u| · 2πs/3 <= 1."""
    forcing: Literal["kolmogorov", "none"] = "kolmogorov"
    grf: GaussianRandomField = GaussianRandomField(alpha=2.5, tau=7.0, boundary="periodic")

    def __post_init__(self) -> None:
        self.grf.require_boundary("periodic", "the flow lives on a torus")

    def layout(self) -> Layout:
        x = self.grf.grid(self.resolution)
        times = self.t_end * np.arange(1, self.n_snapshots + 1) / self.n_snapshots
        return Layout(
            coordinates=(
                *grid_coordinates(x, "periodic"),
                Coordinate("t", times, "time"),
            ),
            fields=(
                FieldSpec("vorticity0", ("x", "y"), "input", "initial vorticity w(x, y, 0)"),
                FieldSpec("vorticity", ("t", "x", "y"), "output", "vorticity w(x, y, t)"),
            ),
            attrs={
                "equation": f"w_t + u.grad(w) = {self.nu:g} laplace(w) + f, -laplace(psi) = w, "
                "u = (psi_y, -psi_x)",
                "forcing": "0.1 (sin 2 pi (x + y) + cos 2 pi (x + y))"
                if self.forcing == "kolmogorov"
                else "none",
                "domain": "[0, 1)^2 periodic, grid x_i = i/s",
                "boundary_conditions": "periodic",
            },
        )

    def solve(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        s = self.resolution
        w0 = self.grf.sample(rng, (s, s))
        f = kolmogorov_forcing(s) if self.forcing == "kolmogorov" else None
        w = solve_vorticity(
            w0, nu=self.nu, t_end=self.t_end, n_snapshots=self.n_snapshots, dt=self.dt, forcing=f
        )
        return {"vorticity0": w0, "vorticity": w}
