r"""Convection(-diffusion) in 1-D, periodic: the PINN failure-mode benchmark.

    u_t + c u_x = ν u_xx   on x ∈ [0, 2π) periodic, t ∈ [0, T],   u(x, 0) = u0(x),
    u(0, t) = u(2π, t) (and, for ν > 0, u_x(0, t) = u_x(2π, t)),

coordinates ordered (x, t), nondimensional (c: wave speed, ν: viscosity). The setting is that of
Krishnapriyan et al. (NeurIPS 2021, "Characterizing possible failure modes in physics-informed
neural networks", where c is called β) and of the Lagrangian PINN (Mojgani, Balajewicz &
Hassanzadeh, CMAME 2023; code rmojgani/LPINNs, ``utils/systems_pbc.py``): a standard PINN fails
as c grows (c = 30, the default, is the usual failing case; the LPINN study sweeps c up to 70).

Initial conditions (``initial``):

* ``"sin"``: u0 = sin x, exact u = e^{-νt} sin(x - ct);
* ``"sin_plus_constant"``: u0 = C + sin x (``constant`` C; ``1+sin(x)`` etc. in that code),
  exact u = C + e^{-νt} sin(x - ct);
* ``"gaussian"``: the 2π-periodised Gaussian u0 = Σ_m exp(-(x - π - 2πm)² / (2σ²))
  (``sigma`` σ, default π/4), exact u = Σ_m (σ/σ_t) exp(-(x - ct - π - 2πm)² / (2σ_t²)),
  σ_t² = σ² + 2νt (each image spreads by the heat kernel and moves at speed c). The sum runs over
  the images that matter: the ones left out are below 1e-17 (the closed form replaces a Fourier
  series of u0, to the same effect, exactly). That code's ``gauss`` samples the plain Gaussian on
  [0, 2π), which jumps by e^{-π²/(2σ²)} ≈ 3.4e-4 (σ = π/4) where it wraps at x = 0 ≡ 2π; the
  periodised one is smooth and differs from it by at most that much, at the ends.

The exact solutions are torch expressions (differentiable), valid for every t ≥ 0.
"""

from __future__ import annotations

import math
from typing import Literal

import torch

from opl.physics.domain import Box
from opl.physics.problem import Problem, dirichlet, pde, periodic

InitialCondition = Literal["sin", "sin_plus_constant", "gaussian"]
INITIAL_CONDITIONS: tuple[str, ...] = ("sin", "sin_plus_constant", "gaussian")


class Convection1D(Problem):
    """``u_t + c u_x = ν u_xx`` on [0, 2π) periodic × [0, T] with the exact solution of the
    chosen initial condition (sin, C + sin, periodised Gaussian)."""

    def __init__(
        self,
        c: float = 30.0,
        nu: float = 0.0,
        initial: InitialCondition = "sin",
        constant: float = 1.0,
        sigma: float = math.pi / 4,
        t_end: float = 1.0,
    ) -> None:
        if initial not in INITIAL_CONDITIONS:
            raise ValueError(
                f"initial: expected one of {', '.join(INITIAL_CONDITIONS)}, got {initial!r}"
            )
        if not nu >= 0:
            raise ValueError(f"nu: expected >= 0, got {nu}")
        if not sigma > 0:
            raise ValueError(f"sigma: expected > 0, got {sigma}")
        self.c, self.nu, self.initial = c, nu, initial
        self.constant, self.sigma, self.t_end = constant, sigma, t_end
        box = Box((0.0, 0.0), (2 * math.pi, t_end))
        # images m = -M..M: the nearest one left out is >= (2M + 1)π away; e^{-39.1} < 1e-17
        spread = math.sqrt(sigma**2 + 2 * nu * t_end)
        self._images = max(1, math.ceil((spread * math.sqrt(2 * 39.1) / math.pi - 1) / 2))
        super().__init__(
            box,
            [
                pde("pde", lambda p, f: f.derivative(1) + c * f.derivative(0) - nu * f.second),
                dirichlet("initial", [(1, 0)], self.initial_condition),
                periodic("periodic", box, 0, derivatives=nu > 0),
            ],
            second_order_weights=(1.0, 0.0),
            reference=self.exact,
            coordinates=("x", "t"),
        )

    def speed(self, u: torch.Tensor) -> torch.Tensor:
        """The characteristic speed ``dx/dt = c``."""
        return torch.full_like(u, self.c)

    def initial_condition(self, points: torch.Tensor) -> torch.Tensor:
        """u0(x) at the points' x (n, 1)."""
        x = points[:, 0:1]
        return self._solution(x, torch.zeros_like(x))

    def exact(self, points: torch.Tensor) -> torch.Tensor:
        """u(x, t) (n, 1)."""
        return self._solution(points[:, 0:1], points[:, 1:2])

    def _solution(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        moved = x - self.c * t
        if self.initial != "gaussian":
            wave = torch.exp(-self.nu * t) * torch.sin(moved)
            return wave + self.constant if self.initial == "sin_plus_constant" else wave
        variance = self.sigma**2 + 2 * self.nu * t
        offset = torch.remainder(moved, 2 * math.pi) - math.pi
        return (self.sigma / variance.sqrt()) * sum(
            torch.exp(-((offset - 2 * math.pi * m) ** 2) / (2 * variance))
            for m in range(-self._images, self._images + 1)
        )
