r"""What a physics-informed model hands a PDE residual: the solution and its derivatives.

For a model ``u: R^d -> R^c`` evaluated at points ``(N, d)``, ``Fields`` holds ``u`` (N, c), the
gradient ``∂u_c/∂x_j`` (N, c, d) and the second-order term ``L_w u = Σ_j w_j ∂²u/∂x_j²`` (N, c) for
the problem's weights ``w`` (``w = 1``: the Laplacian; ``w = (1, 0)`` for ``(x, t)``: ``u_xx``).
``order`` says how much was computed (0: ``u``; 1: and the gradient; 2: and ``L_w u``), so a
boundary term pays for no derivatives. Models with closed-form derivatives (PIG) fill it
themselves; any other model gets it from autograd (``fields_by_autograd``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Fields:
    """``u`` (N, c); ``grad`` (N, c, d) when order >= 1; ``second`` = L_w u (N, c) when order 2."""

    u: torch.Tensor
    grad: torch.Tensor | None = None
    second: torch.Tensor | None = None

    def derivative(self, dim: int) -> torch.Tensor:
        """``∂u/∂x_dim`` (N, c); needs order >= 1."""
        if self.grad is None:
            raise ValueError("the gradient was not computed: evaluate with order >= 1")
        return self.grad[:, :, dim]


def fields_by_autograd(
    function: Callable[[torch.Tensor], torch.Tensor],
    points: torch.Tensor,
    order: int,
    weights: Sequence[float],
) -> Fields:
    """``Fields`` of ``function`` at ``points`` by reverse-mode autograd (double backward for
    order 2: one backward pass per output channel and per dimension with a nonzero weight)."""
    if order == 0:
        return Fields(function(points))
    points = points if points.requires_grad else points.detach().requires_grad_(True)
    u = function(points)
    grads = [_grad(u[:, c].sum(), points) for c in range(u.shape[1])]
    grad = torch.stack(grads, 1)
    if order == 1:
        return Fields(u, grad)
    second = torch.stack(
        [
            sum(w * _grad(g[:, j].sum(), points)[:, j] for j, w in enumerate(weights) if w != 0)
            + torch.zeros_like(u[:, 0])  # all weights zero: L_w u = 0
            for g in grads
        ],
        1,
    )
    return Fields(u, grad, second)


def _grad(y: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """``∂y/∂points``, zeros where y does not depend on the points (a constant or linear ``u``
    has a gradient or Hessian that autograd holds no graph for)."""
    if not y.requires_grad:
        return torch.zeros_like(points)
    return torch.autograd.grad(y, points, create_graph=True, materialize_grads=True)[0]
