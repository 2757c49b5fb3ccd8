r"""Allen–Cahn in 1-D, periodic: the PINN benchmark of Raissi et al. (J. Comput. Phys. 378,
2019, §4.2), also among PIG's problems (METHODS.md §4; PIG's official repository holds no
Allen–Cahn code to check the setting against).

    u_t - D u_xx + γ (u³ - u) = 0   on x ∈ [-1, 1], t ∈ [0, 1],   D = 1e-4, γ = 5,
    u(x, 0) = x² cos(πx),   u and u_x periodic in x,

coordinates ordered (x, t), nondimensional. Interfaces between the stable states u = ±1 have a
width of about sqrt(2 D / γ) ≈ 6e-3. The periodic extension of u(·, 0) has a kink at x = ±1
(u_x jumps from -2 to 2), smoothed at once by the diffusion into a layer of width ~sqrt(D t).

There is no exact solution. The reference is computed once per instance, on the first
``reference()`` call: Fourier pseudo-spectral in x (``reference_modes`` nodes x_i = -1 + 2i/N),
ETDRK4 in time (Cox & Matthews, J. Comput. Phys. 176, 2002) with the φ-functions evaluated by
the contour integrals of Kassam & Trefethen (SIAM J. Sci. Comput. 26, 2005), step
``reference_dt``; snapshots of u and u_t every ``1 / reference_snapshots`` are interpolated by
``opl.physics.grid_reference.GridReference`` (cubic Hermite in t, 6-point Lagrange in x).

Accuracy of the default reference (N = 4096, dt = 1e-3, 500 snapshots; 2 s, 33 MB), measured
against N = 16384, dt = 5e-4 at 2e5 random points and on a 401 x 201 grid: relative L2 3e-7;
max error 5e-5, at the kink x = ±1 for t < 0.01; 2e-5 for t ≥ 0.01, 6e-6 for t ≥ 0.05, and 1e-8
for |x| ≤ 0.95 at every t. The time step is not the limit (dt = 1e-3 and 5e-4 agree to 1e-10);
the kink is, and the error falls like N^-2 (N = 1024: relative L2 1e-5). The time interpolation
adds at most 4e-7 (at the kink, t < 0.01), 1e-9 elsewhere.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from data_gen.grid.etdrk4 import etdrk4_coefficients, etdrk4_step
from opl.physics.domain import Box
from opl.physics.grid_reference import GridReference, uniform_axis
from opl.physics.problem import Problem, dirichlet, pde, periodic

# Quadrature points on the upper half of the contour |w - z| = 1 around each z = h * L_k.


def solve_allen_cahn(
    diffusion: float = 1e-4,
    reaction: float = 5.0,
    modes: int = 4096,
    dt: float = 1e-3,
    snapshots: int = 500,
    t_end: float = 1.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``u_t = D u_xx + γ (u - u³)`` on the periodic [-1, 1) from ``u(x, 0) = x² cos(πx)``:
    returns the nodes x (N,), the times (snapshots + 1,) from 0 to t_end, u and u_t
    (snapshots + 1, N). Each snapshot interval is split into equal steps no longer than dt."""
    if modes < 8 or modes % 2 or snapshots < 1 or not (dt > 0 and t_end > 0):
        raise ValueError(
            f"Allen-Cahn reference: needs an even modes >= 8, snapshots >= 1, dt > 0, t_end > 0; "
            f"got modes={modes}, snapshots={snapshots}, dt={dt}, t_end={t_end}"
        )
    x = -1.0 + 2.0 * np.arange(modes) / modes
    wavenumber = math.pi * np.arange(modes // 2 + 1)  # 2π n / L with L = 2
    linear = -diffusion * wavenumber**2
    interval = t_end / snapshots
    steps = max(1, math.ceil(interval / dt - 1e-9))
    coefficients = etdrk4_coefficients(linear, interval / steps)

    def nonlinear(v: np.ndarray) -> np.ndarray:
        u = np.fft.irfft(v, n=modes)
        return np.fft.rfft(reaction * (u - u**3))

    def rate(v: np.ndarray) -> np.ndarray:
        return np.fft.irfft(linear * v + nonlinear(v), n=modes)

    v = np.fft.rfft(x**2 * np.cos(math.pi * x))
    u = np.empty((snapshots + 1, modes))
    u_t = np.empty_like(u)
    u[0], u_t[0] = np.fft.irfft(v, n=modes), rate(v)
    for k in range(1, snapshots + 1):
        for _ in range(steps):
            v = etdrk4_step(v, nonlinear, coefficients)
        if not np.isfinite(v).all():
            raise FloatingPointError(f"Allen-Cahn reference diverged by t = {k * interval:g}")
        u[k], u_t[k] = np.fft.irfft(v, n=modes), rate(v)
    return x, np.linspace(0.0, t_end, snapshots + 1), u, u_t


class AllenCahn1D(Problem):
    """``u_t - D u_xx + γ(u³ - u) = 0`` on [-1, 1] × [0, 1], u(x, 0) = x² cos(πx), periodic in x;
    a spectral reference (see the module docstring for its accuracy)."""

    def __init__(
        self,
        diffusion: float = 1e-4,
        reaction: float = 5.0,
        reference_modes: int = 4096,
        reference_dt: float = 1e-3,
        reference_snapshots: int = 500,
    ) -> None:
        self.diffusion, self.reaction = diffusion, reaction
        self.reference_modes, self.reference_dt = reference_modes, reference_dt
        self.reference_snapshots = reference_snapshots
        self._grid: GridReference | None = None
        box = Box((-1.0, 0.0), (1.0, 1.0))
        super().__init__(
            box,
            [
                pde(
                    "pde",
                    lambda p, f: f.derivative(1) - diffusion * f.second + reaction * (f.u**3 - f.u),
                ),
                dirichlet("initial", [(1, 0)], self.initial_condition),
                periodic("periodic", box, 0, derivatives=True),
            ],
            second_order_weights=(1.0, 0.0),
            reference=lambda points: self.reference_grid()(points),
            coordinates=("x", "t"),
        )

    @staticmethod
    def initial_condition(points: torch.Tensor) -> torch.Tensor:
        """``u(x, 0) = x² cos(πx)`` (n, 1)."""
        x = points[:, 0:1]
        return x**2 * torch.cos(math.pi * x)

    def reference_grid(self) -> GridReference:
        """The solved reference (computed on the first call, a few seconds at the defaults)."""
        if self._grid is None:
            x, times, u, u_t = solve_allen_cahn(
                self.diffusion,
                self.reaction,
                self.reference_modes,
                self.reference_dt,
                self.reference_snapshots,
                self.domain.upper[1],
            )
            axis = uniform_axis(-1.0, 1.0, len(x), periodic=True)
            self._grid = GridReference((axis,), times, u, u_t)
        return self._grid
