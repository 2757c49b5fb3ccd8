r"""Klein–Gordon in 2+1 D with a manufactured solution (PIG's and SPINN's problem).

    u_tt - Δu + u^p = q   on (x, y) ∈ [-1, 1]², t ∈ [0, T],
    u*(x, y, t) = (x + y) cos(k t) + x y sin(k t),   q = u*^p - k² u*,
    u = u*(·, 0) = x + y and u_t = k x y at t = 0,   u = u* on the four sides,

coordinates ordered (x, y, t), nondimensional. The setting is that of PIG's official code
(NamGyuKang/Physics-Informed-Gaussians, ``Klein_Gordon3d/utils/data_utils.py``: exact solution and
source ``u² - k² u``; ``klein_gordon3d.py``: residual ``u_tt - u_xx - u_yy + u² - q``, ``k = 2``;
``utils/data_generators.py``: t ∈ [0, 10], x, y ∈ [-1, 1]), taken from SPINN (Cho et al.,
NeurIPS 2023): there the nonlinearity is quadratic (``power = 2``, the default); ``power = 3`` is
the cubic Klein–Gordon of other papers. Since Δu* = 0 and u*_tt = -k² u*, q is as stated. That
code imposes u at t = 0 but not u_t; the initial rate is a condition here (``initial_rate``), as
the second-order-in-time problem needs it, and can be left out with ``initial_rate=False``. The
operator ``u_tt - Δu`` is ``Fields.second`` with weights (-1, -1, 1).
"""

from __future__ import annotations

import torch

from opl.physics.domain import Box
from opl.physics.problem import Problem, derivative_condition, dirichlet, pde


class KleinGordon2D(Problem):
    """``u_tt - Δu + u^p = q`` on [-1, 1]² × [0, T], exact
    ``u = (x + y) cos(kt) + xy sin(kt)``; initial value and rate, Dirichlet sides."""

    def __init__(
        self,
        k: float = 2.0,
        power: int = 2,
        t_end: float = 10.0,
        initial_rate: bool = True,
    ) -> None:
        self.k, self.power, self.t_end, self.initial_rate = k, power, t_end, initial_rate
        box = Box((-1.0, -1.0, 0.0), (1.0, 1.0, t_end))
        conditions = [
            pde("pde", lambda p, f: f.second + f.u**power - self.source(p)),
            dirichlet("initial", [(2, 0)], self.exact),
        ]
        if initial_rate:
            conditions.append(derivative_condition("initial_rate", [(2, 0)], 2, self.rate))
        conditions.append(dirichlet("boundary", box.all_faces((0, 1)), self.exact))
        super().__init__(
            box,
            conditions,
            second_order_weights=(-1.0, -1.0, 1.0),
            reference=self.exact,
            coordinates=("x", "y", "t"),
        )

    def exact(self, points: torch.Tensor) -> torch.Tensor:
        """u* (n, 1)."""
        x, y, t = points[:, 0:1], points[:, 1:2], points[:, 2:3]
        return (x + y) * torch.cos(self.k * t) + x * y * torch.sin(self.k * t)

    def rate(self, points: torch.Tensor) -> torch.Tensor:
        """∂u*/∂t (n, 1)."""
        x, y, t = points[:, 0:1], points[:, 1:2], points[:, 2:3]
        return self.k * (x * y * torch.cos(self.k * t) - (x + y) * torch.sin(self.k * t))

    def source(self, points: torch.Tensor) -> torch.Tensor:
        """q = u*^p - k² u* (n, 1)."""
        u = self.exact(points)
        return u**self.power - self.k**2 * u
