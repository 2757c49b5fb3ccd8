r"""Nonlinear (porous-medium) diffusion in 2+1 D: PIG's "nonlinear diffusion" problem.

    u_t = ∇·(D(u) ∇u) = α (|∇u|² + u Δu),   D(u) = α u,   α = 0.05,
    on (x, y) ∈ [-1, 1]², t ∈ [0, 1],   u = 0 on the four sides,
    u(x, y, 0) = 0.25 exp(-((x - 0.3)² + (y - 0.2)²) / 0.1)
               + 0.4 exp(-15 ((x + 0.5)² + (y + 0.1)²))
               + 0.3 exp(-20 (x² + (y + 0.5)²)),

coordinates ordered (x, y, t), nondimensional. The setting is the one of PIG's official code
(NamGyuKang/Physics-Informed-Gaussians, ``Nonlinear_Diffusion3d/diffusion3d.py``: residual
``u_t - 0.05 (u_x² + u u_xx + u_y² + u u_yy)``, and ``utils/data_generators.py``: the initial
condition, zero boundary values), which takes it from SPINN (Cho et al., NeurIPS 2023, "(2+1)-d
diffusion equation"); that code orders the coordinates (t, x, y) and tests against a stored
numerical solution on 101 time levels. In the residual, ``∇·(D(u)∇u) = D(u) Δ_x u +
D'(u)|∇_x u|²`` is ``Fields.second`` with weights (1, 1, 0) (the spatial Laplacian) and the
spatial part of the gradient. The initial data do not vanish on the boundary (u(-1, -0.1, 0) ≈
9e-3, u(1, 0.2, 0) ≈ 2e-3): the solution has a thin boundary layer there, as in the original.

No exact solution is known; the reference (computed once per instance, on the first
``reference()`` call) is ``α/2 Δ(u²)`` discretised by fourth-order central differences on a node
grid of ``reference_resolution`` cells per side (one-sided fourth-order stencils next to the
boundary), classical RK4 in time with a step at 0.7 of the stability limit, ``u = 0`` on the
boundary nodes, snapshots every ``1 / reference_snapshots``. Near a side where u is not tiny it
vanishes like the square root of the distance (u² is close to linear there), so what is
interpolated (``opl.physics.grid_reference.GridReference``: cubic Hermite in t, 6-point
Lagrange in x, y) is w = u² with w_t = 2 u u_t, and the reference is sqrt(w).

Accuracy at the default 128 cells (0.5 s, 27 MB), measured against 512 cells at 1e5 random
points: relative L2 over the box 1.3e-4, max error 1.3e-3, both from the strip within a cell of
the side x = -1 at t ≲ 0.1, where the layer is thinner than a cell; farther than 1/32 from the
sides 8e-6 (max 4e-5); for |x|, |y| ≤ 0.9, 2e-6 (max 2e-6). With 256 cells (7 s, 107 MB):
3.4e-5 over the box, 1e-7 for |x|, |y| ≤ 0.9. The error falls like h^2 to h^4.
"""

from __future__ import annotations

import math
from typing import TypeVar

import numpy as np
import torch

from opl.physics.domain import Box
from opl.physics.fields import Fields
from opl.physics.grid_reference import GridReference, uniform_axis
from opl.physics.problem import Problem, dirichlet, pde

ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)

# (centre x, centre y, amplitude, 1 / (2 width²)) of the three Gaussians of u(., ., 0)
_BUMPS = ((0.3, 0.2, 0.25, 10.0), (-0.5, -0.1, 0.4, 15.0), (0.0, -0.5, 0.3, 20.0))


def pig_initial(x: ArrayT, y: ArrayT) -> ArrayT:
    """The initial condition of PIG's nonlinear diffusion problem (numpy or torch arrays)."""
    exp = torch.exp if isinstance(x, torch.Tensor) else np.exp
    return sum(a * exp(-s * ((x - cx) ** 2 + (y - cy) ** 2)) for cx, cy, a, s in _BUMPS)


def _second_difference(w: np.ndarray, axis: int, h: float) -> np.ndarray:
    """Fourth-order ∂²w along ``axis`` at the interior nodes 1..n-2 (zero at the end nodes)."""
    w = np.moveaxis(w, axis, 0)
    out = np.zeros_like(w)
    out[2:-2] = (16 * (w[3:-1] + w[1:-3]) - 30 * w[2:-2] - w[4:] - w[:-4]) / 12
    for i, s in ((1, 1), (-2, -1)):  # one-sided, exact for polynomials of degree 5
        out[i] = (
            10 * w[i - s]
            - 15 * w[i]
            - 4 * w[i + s]
            + 14 * w[i + 2 * s]
            - 6 * w[i + 3 * s]
            + w[i + 4 * s]
        ) / 12
    return np.moveaxis(out, 0, axis) / (h * h)


def solve_nonlinear_diffusion(
    alpha: float = 0.05,
    resolution: int = 128,
    snapshots: int = 100,
    t_end: float = 1.0,
    safety: float = 0.7,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``u_t = α/2 Δ(u²)`` on [-1, 1]² with u = 0 on the boundary from PIG's initial condition:
    returns the nodes (resolution + 1,) of each axis, the times (snapshots + 1,), u and u_t
    (snapshots + 1, n, n), axes (t, x, y)."""
    if resolution < 8 or snapshots < 1 or not t_end > 0 or not 0 < safety <= 1:
        raise ValueError(
            f"nonlinear diffusion reference: needs resolution >= 8, snapshots >= 1, t_end > 0, "
            f"0 < safety <= 1; got {resolution}, {snapshots}, {t_end}, {safety}"
        )
    nodes = np.linspace(-1.0, 1.0, resolution + 1)
    h = nodes[1] - nodes[0]
    x, y = np.meshgrid(nodes, nodes, indexing="ij")

    def rate(u: np.ndarray) -> np.ndarray:
        w = u * u
        out = (0.5 * alpha) * (_second_difference(w, 0, h) + _second_difference(w, 1, h))
        out[0] = out[-1] = out[:, 0] = out[:, -1] = 0.0
        return out

    u = pig_initial(x, y)
    u[0] = u[-1] = u[:, 0] = u[:, -1] = 0.0
    interval = t_end / snapshots
    values, rates = [u.copy()], [rate(u)]
    for k in range(1, snapshots + 1):
        # Jacobian α Δ_h diag(u): spectral radius <= α max(u) 2 (16/3) / h²; RK4's real
        # stability interval is [-2.78, 0]. max(u) does not grow (maximum principle).
        radius = alpha * max(float(u.max()), 1e-12) * (32.0 / 3.0) / (h * h)
        steps = max(1, math.ceil(interval * radius / (2.78 * safety)))
        dt = interval / steps
        for _ in range(steps):
            k1 = rate(u)
            k2 = rate(u + (0.5 * dt) * k1)
            k3 = rate(u + (0.5 * dt) * k2)
            k4 = rate(u + dt * k3)
            u = u + (dt / 6) * (k1 + 2 * (k2 + k3) + k4)
        if not np.isfinite(u).all():
            raise FloatingPointError(
                f"nonlinear diffusion reference diverged by t = {k * interval:g}"
            )
        values.append(u.copy())
        rates.append(rate(u))
    return nodes, np.linspace(0.0, t_end, snapshots + 1), np.stack(values), np.stack(rates)


class NonlinearDiffusion(Problem):
    """``u_t = α ∇·(u ∇u)`` on [-1, 1]² × [0, 1], PIG's initial Gaussians, u = 0 on the sides;
    a finite-difference reference (see the module docstring for its accuracy)."""

    def __init__(
        self,
        alpha: float = 0.05,
        t_end: float = 1.0,
        reference_resolution: int = 128,
        reference_snapshots: int = 100,
    ) -> None:
        self.alpha, self.t_end = alpha, t_end
        self.reference_resolution, self.reference_snapshots = (
            reference_resolution,
            reference_snapshots,
        )
        self._grid: GridReference | None = None
        box = Box((-1.0, -1.0, 0.0), (1.0, 1.0, t_end))
        super().__init__(
            box,
            [
                pde("pde", self._residual),
                dirichlet("initial", [(2, 0)], self.initial_condition),
                dirichlet("boundary", box.all_faces((0, 1)), lambda p: 0.0 * p[:, :1]),
            ],
            second_order_weights=(1.0, 1.0, 0.0),
            reference=self._reference,
            coordinates=("x", "y", "t"),
        )

    def _residual(self, points: torch.Tensor, f: Fields) -> torch.Tensor:
        # u_t - (D(u) Δu + D'(u) |∇u|²) with D(u) = α u
        spatial = f.grad[:, :, :2]
        return f.derivative(2) - self.alpha * (f.u * f.second + (spatial**2).sum(-1))

    @staticmethod
    def initial_condition(points: torch.Tensor) -> torch.Tensor:
        """PIG's three Gaussians at t = 0 (n, 1)."""
        return pig_initial(points[:, 0:1], points[:, 1:2])

    def _reference(self, points: torch.Tensor) -> torch.Tensor:
        return self.reference_grid()(points).clamp(min=0.0).sqrt()

    def reference_grid(self) -> GridReference:
        """The solved reference of ``w = u²`` (computed on the first call, about 1 s at the
        defaults): ``u = sqrt(w)``. Near a side, where u vanishes like the square root of the
        distance, w is close to linear and interpolates far better than u."""
        if self._grid is None:
            nodes, times, u, u_t = solve_nonlinear_diffusion(
                self.alpha,
                self.reference_resolution,
                self.reference_snapshots,
                self.domain.upper[2],
            )
            axis = uniform_axis(-1.0, 1.0, len(nodes), periodic=False)
            self._grid = GridReference((axis, axis), times, u * u, 2 * u * u_t)
        return self._grid
