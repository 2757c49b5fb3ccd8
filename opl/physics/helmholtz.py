r"""Helmholtz in 2-D with a manufactured solution (PIG's and PINN's benchmark).

    Δu + k² u = q   on [-1, 1]²,   u = 0 on the boundary,
    u(x, y) = sin(a1 π x) sin(a2 π y),   q = (k² - (a1² + a2²) π²) u,

with the coordinates ordered (x, y). PIG's code writes the same solution as sin(a1 π y) sin(a2 π x)
with its first coordinate called y: the problem is the same with the axes swapped. Integer a1, a2
make u vanish on the boundary.
"""

from __future__ import annotations

import math

import torch

from opl.physics.domain import Box
from opl.physics.problem import Problem, dirichlet, pde


class Helmholtz2D(Problem):
    """``Δu + k²u = q`` on [-1, 1]² with exact ``u = sin(a1 π x) sin(a2 π y)``."""

    def __init__(self, a1: float = 4.0, a2: float = 1.0, k: float = 1.0) -> None:
        self.a1, self.a2, self.k = a1, a2, k
        box = Box((-1.0, -1.0), (1.0, 1.0))
        curvature = k * k - (a1 * a1 + a2 * a2) * math.pi**2
        super().__init__(
            box,
            [
                pde("pde", lambda p, f: f.second + k * k * f.u - curvature * self.exact(p)),
                dirichlet("boundary", box.all_faces(), self.exact),
            ],
            reference=self.exact,
            coordinates=("x", "y"),
        )

    def exact(self, points: torch.Tensor) -> torch.Tensor:
        """``sin(a1 π x) sin(a2 π y)`` (n, 1)."""
        x, y = points[:, 0:1], points[:, 1:2]
        return torch.sin(self.a1 * math.pi * x) * torch.sin(self.a2 * math.pi * y)
