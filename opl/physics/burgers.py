r"""Viscous Burgers in 1-D, periodic: the nonlinear case of the Lagrangian PINN study.

    u_t + u u_x = ν u_xx   on x ∈ [0, 2π) periodic, t ∈ [0, T],   u(x, 0) = C + sin x,

coordinates ordered (x, t), nondimensional (ν: viscosity, C: a constant added to the initial
state, which moves the whole solution at speed C; the Lagrangian PINN's code, rmojgani/LPINNs,
``utils/myburgers.py``, uses the same initial state). The characteristics of u0 = sin x cross at
t = 1 / max|u0'| = 1, so by t = 1 a front of width about ν / Δu = ν / 2 has formed.

There is no closed form. The reference is computed once per instance, on the first
``reference()`` call, by ``data_gen.grid.burgers.solve_burgers`` (Fourier pseudo-spectral, 2/3
dealiasing, ETDRK4) on ``reference_modes`` nodes with steps of at most ``reference_dt``;
snapshots of u and of u_t = ν u_xx - u u_x (spectral derivatives) every
``T / reference_snapshots`` are interpolated by ``opl.physics.grid_reference.GridReference``
(cubic Hermite in t, 6-point Lagrange in x). The default (ν = 0.01, 2048 nodes, dt = 2e-4,
200 snapshots) and half of it (1024 nodes, dt = 4e-4, 100 snapshots) differ by a relative L2 of
1.9e-9 at 2000 random points (``tests/opl/test_lagrangian.py`` asserts < 1e-5).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from data_gen.grid.burgers import solve_burgers
from opl.physics.domain import Box
from opl.physics.grid_reference import GridReference, uniform_axis
from opl.physics.problem import Problem, dirichlet, pde, periodic


def burgers_rate(u: np.ndarray, nu: float) -> np.ndarray:
    """``u_t = ν u_xx - u u_x`` (..., s) for periodic samples on [0, 2π), spectral derivatives."""
    s = u.shape[-1]
    k = np.arange(s // 2 + 1)
    v = np.fft.rfft(u, axis=-1)
    u_x = np.fft.irfft(1j * k * v, n=s, axis=-1)
    u_xx = np.fft.irfft(-(k**2) * v, n=s, axis=-1)
    return nu * u_xx - u * u_x


class Burgers1D(Problem):
    """``u_t + u u_x = ν u_xx`` on [0, 2π) periodic × [0, T], u(x, 0) = C + sin x; a spectral
    reference (module docstring)."""

    def __init__(
        self,
        nu: float = 0.01,
        constant: float = 0.0,
        t_end: float = 1.0,
        reference_modes: int = 2048,
        reference_dt: float = 2e-4,
        reference_snapshots: int = 200,
    ) -> None:
        if not nu > 0:
            raise ValueError(f"nu: expected > 0 (viscous Burgers), got {nu}")
        if not t_end > 0:
            raise ValueError(f"t_end: expected > 0, got {t_end}")
        self.nu, self.constant, self.t_end = nu, constant, t_end
        self.reference_modes, self.reference_dt = reference_modes, reference_dt
        self.reference_snapshots = reference_snapshots
        self._grid: GridReference | None = None
        box = Box((0.0, 0.0), (2 * math.pi, t_end))
        super().__init__(
            box,
            [
                pde(
                    "pde",
                    lambda p, f: f.derivative(1) + f.u * f.derivative(0) - nu * f.second,
                ),
                dirichlet("initial", [(1, 0)], self.initial_condition),
                periodic("periodic", box, 0, derivatives=True),
            ],
            second_order_weights=(1.0, 0.0),
            reference=lambda points: self.reference_grid()(points),
            coordinates=("x", "t"),
        )

    def speed(self, u: torch.Tensor) -> torch.Tensor:
        """The characteristic speed ``dx/dt = u``."""
        return u

    def initial_condition(self, points: torch.Tensor) -> torch.Tensor:
        """``u(x, 0) = C + sin x`` (n, 1)."""
        return self.constant + torch.sin(points[:, 0:1])

    def reference_grid(self) -> GridReference:
        """The solved reference (computed on the first call, about a second at the defaults)."""
        if self._grid is None:
            axis = uniform_axis(0.0, 2 * math.pi, self.reference_modes, periodic=True)
            u0 = self.constant + np.sin(axis.nodes())
            later = solve_burgers(
                u0,
                nu=self.nu,
                t_end=self.t_end,
                n_snapshots=self.reference_snapshots,
                dt=self.reference_dt,
                length=2 * math.pi,
            )
            u = np.concatenate([u0[None], later])
            times = np.linspace(0.0, self.t_end, self.reference_snapshots + 1)
            self._grid = GridReference((axis,), times, u, burgers_rate(u, self.nu))
        return self._grid
