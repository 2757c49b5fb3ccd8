r"""The Lagrangian PINN (Mojgani, Balajewicz & Hassanzadeh, CMAME 2023; code rmojgani/LPINNs):
characteristics and the state on them, for convection-dominated 1-D periodic transport.

Two outputs as functions of the label x0 (where the characteristic starts) and t, through the
embedding e = (cos(2π x0 / L), sin(2π x0 / L), t), which makes both periodic in x0 exactly:

    x(x0, t) = x0 + D(e),      u(x0, t) = U(e),

D and U tanh MLPs (the characteristic as x0 plus a periodic displacement D, since the flow map
of a periodic problem commutes with shifts by L: x(x0 + L, t) = x(x0, t) + L; the official code
outputs x itself from the periodic embedding, which cannot equal x0 at t = 0 on all of [0, L)).
``branches="separate"`` (the paper: two parallel networks) or ``"shared"`` (the official code:
D is the first ``len(characteristic_hidden)`` hidden layers of U followed by U's output layer).
Derivatives come from autograd in the labels and reach the Eulerian x by the chain rule
(``opl.physics.lagrangian``; ``x_derivatives="label"`` for the official code's shortcut).

``fields(labels, order, weights)`` serves ``opl.physics.Lagrangian`` in training; ``forward``
answers at Eulerian points (x, t): for each distinct t the state on a row of
``eulerian_labels`` equally spaced labels, interpolated at x (positions mod L). Evaluate on
grids, with few distinct times: the cost is ``eulerian_labels`` model evaluations per time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from opl.models.base import PointwiseModel
from opl.models.pointwise import check_activation, mlp_layers, run_mlp
from opl.physics.fields import fields_by_autograd
from opl.physics.lagrangian import (
    LagrangianFields,
    XDerivatives,
    check_x_derivatives,
    lagrangian_fields,
    periodic_interpolation,
)

BRANCHES = ("separate", "shared")


class LPINN(PointwiseModel):
    """Characteristics ``x(x0, t)`` and state ``u(x0, t)`` (module docstring).

    Args:
        period: L, the period in x (2π for the problems of ``opl.physics``).
        hidden: widths of the state network U (the official code: 5 × 50).
        characteristic_hidden: widths of the characteristic network D (the official code: 2 × 50).
        activation: ``tanh`` or ``sin``.
        branches: ``separate`` (the paper) or ``shared`` (the official code; needs
            ``characteristic_hidden`` to equal the first widths of ``hidden``, all equal).
        x_derivatives: ``chain_rule`` (exact) or ``label`` (u_x ≈ ∂u/∂x0, the official code).
        eulerian_labels: labels per time row when answering at Eulerian points.
    """

    def __init__(
        self,
        period: float = 2 * math.pi,
        hidden: Sequence[int] = (50, 50, 50, 50, 50),
        characteristic_hidden: Sequence[int] = (50, 50),
        activation: str = "tanh",
        branches: str = "separate",
        x_derivatives: XDerivatives = "chain_rule",
        eulerian_labels: int = 1024,
    ) -> None:
        super().__init__()
        check_activation(activation)
        if branches not in BRANCHES:
            raise ValueError(f"branches: expected one of {', '.join(BRANCHES)}, got {branches!r}")
        check_x_derivatives(x_derivatives)
        if not period > 0 or eulerian_labels < 2:
            raise ValueError(
                f"period: expected > 0, got {period}; eulerian_labels: expected >= 2, got "
                f"{eulerian_labels}"
            )
        hidden, characteristic_hidden = list(hidden), list(characteristic_hidden)
        if branches == "shared" and (
            len(characteristic_hidden) > len(hidden)
            or len(set(hidden)) != 1
            or characteristic_hidden != hidden[: len(characteristic_hidden)]
        ):
            raise ValueError(
                f"branches='shared': the characteristic branch reuses the state branch's first "
                f"layers and its output layer, so hidden must have one width and "
                f"characteristic_hidden be a prefix of it; got hidden={hidden}, "
                f"characteristic_hidden={characteristic_hidden}"
            )
        self.in_dim, self.out_channels = 2, 1
        self.period, self.activation, self.branches = float(period), activation, branches
        self.x_derivatives, self.eulerian_labels = x_derivatives, eulerian_labels
        self.state = mlp_layers([3, *hidden, 1])
        self.characteristic_depth = len(characteristic_hidden)
        if branches == "separate":
            self.characteristic = mlp_layers([3, *characteristic_hidden, 1])

    def _characteristic_layers(self) -> nn.ModuleList | list[nn.Linear]:
        """D's layers: its own, or (shared) U's first ones and U's output layer."""
        if self.branches == "separate":
            return self.characteristic
        return [*self.state[: self.characteristic_depth], self.state[-1]]

    def lagrangian(self, labels: torch.Tensor) -> torch.Tensor:
        """``(x, u)`` (N, 2) at labels (N, 2) = (x0, t)."""
        if labels.dim() != 2 or labels.shape[1] != 2:
            raise ValueError(f"labels: expected (N, 2) = (x0, t), got shape {tuple(labels.shape)}")
        x0, t = labels[:, 0:1], labels[:, 1:2]
        angle = (2 * math.pi / self.period) * x0
        e = torch.cat([torch.cos(angle), torch.sin(angle), t], 1)
        displacement = run_mlp(self._characteristic_layers(), self.activation, e)
        return torch.cat([x0 + displacement, run_mlp(self.state, self.activation, e)], 1)

    def fields(
        self, labels: torch.Tensor, order: int, weights: Sequence[float] = (1.0, 0.0)
    ) -> LagrangianFields:
        """``LagrangianFields`` at labels (N, 2) by autograd in (x0, t) and the chain rule;
        ``weights`` must be those of ``opl.physics.Lagrangian``, (1, 0): ∂²/∂x0²."""
        if tuple(weights) != (1.0, 0.0):
            raise ValueError(f"weights: a Lagrangian model needs (1, 0) (∂²/∂x0²), got {weights}")
        labelled = fields_by_autograd(self.lagrangian, labels, order, weights)
        return lagrangian_fields(labelled, self.x_derivatives)

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        """``u`` (N, 1) at Eulerian points (N, 2) = (x, t) (module docstring)."""
        if points.dim() != 2 or points.shape[1] != 2:
            raise ValueError(f"points: expected (N, 2) = (x, t), got shape {tuple(points.shape)}")
        times, which = torch.unique(points[:, 1], return_inverse=True)
        n = self.eulerian_labels
        x0 = torch.arange(n, dtype=points.dtype, device=points.device) * (self.period / n)
        labels = torch.stack([x0.repeat(len(times)), times.repeat_interleave(n)], 1)
        rows = self.lagrangian(labels).view(len(times), n, 2)
        out = points.new_empty(points.shape[0], 1)
        for j in range(len(times)):
            here = which == j
            out[here] = periodic_interpolation(
                rows[j, :, 0], rows[j, :, 1:], points[here, 0], self.period
            )
        return out
