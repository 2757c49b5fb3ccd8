r"""Poisson in 2-D with a manufactured solution: a smooth mode plus a localised bump.

    -Δu = q   on [-1, 1]²,   u = u* on the boundary,
    u*(x, y) = sin(a π x) sin(b π y) + A exp(-((x - x0)² + (y - y0)²) / (2 s²)),
    q = (a² + b²) π² sin(a π x) sin(b π y) + A (2/s² - r²/s⁴) exp(-r² / (2 s²)),
    r² = (x - x0)² + (y - y0)²,

coordinates (x, y), nondimensional. The setting is this project's own (a manufactured solution in
the style of the PINN benchmarks: Raissi et al. 2019; PIG's Helmholtz problem is the pure-mode
case): the sine product is a global oscillation of chosen frequencies, the bump of width s a
local feature that a model must resolve as well. With integer a, b the sine part vanishes on the
boundary; the bump does not quite (≈ A e^{-(distance to the side)²/(2 s²)}), so the boundary
condition is the exact u*, not zero.
"""

from __future__ import annotations

import math

import torch

from opl.physics.domain import Box
from opl.physics.problem import Problem, dirichlet, pde


class Poisson2D(Problem):
    """``-Δu = q`` on [-1, 1]², exact ``u = sin(aπx) sin(bπy) + A·(Gaussian bump at
    (x0, y0) of width s)``, Dirichlet data from it."""

    def __init__(
        self,
        a: float = 2.0,
        b: float = 3.0,
        amplitude: float = 1.0,
        center: tuple[float, float] = (0.3, -0.2),
        width: float = 0.15,
    ) -> None:
        if not width > 0:
            raise ValueError(f"width: expected > 0, got {width}")
        self.a, self.b, self.amplitude = a, b, amplitude
        self.center, self.width = (float(center[0]), float(center[1])), width
        box = Box((-1.0, -1.0), (1.0, 1.0))
        super().__init__(
            box,
            [
                pde("pde", lambda p, f: -f.second - self.source(p)),
                dirichlet("boundary", box.all_faces(), self.exact),
            ],
            reference=self.exact,
            coordinates=("x", "y"),
        )

    def _parts(self, points: torch.Tensor):
        x, y = points[:, 0:1], points[:, 1:2]
        mode = torch.sin(self.a * math.pi * x) * torch.sin(self.b * math.pi * y)
        r2 = (x - self.center[0]) ** 2 + (y - self.center[1]) ** 2
        bump = self.amplitude * torch.exp(-r2 / (2 * self.width**2))
        return mode, bump, r2

    def exact(self, points: torch.Tensor) -> torch.Tensor:
        """u* (n, 1)."""
        mode, bump, _ = self._parts(points)
        return mode + bump

    def source(self, points: torch.Tensor) -> torch.Tensor:
        """q = -Δu* (n, 1)."""
        mode, bump, r2 = self._parts(points)
        s2 = self.width**2
        return (self.a**2 + self.b**2) * math.pi**2 * mode + bump * (2 / s2 - r2 / s2**2)
