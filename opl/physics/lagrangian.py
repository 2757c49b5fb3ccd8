r"""The Lagrangian form of 1-D transport: residuals on characteristics (Mojgani, Balajewicz &
Hassanzadeh, CMAME 2023, "Lagrangian PINNs").

For ``u_t + a(u) u_x = ν u_xx`` on x ∈ [0, L) periodic (``Convection1D``: a = c;
``Burgers1D``: a = u), follow the point that starts at the label x0: its characteristic
``x(x0, t)`` and the state ``u(x0, t)`` carried on it satisfy

    R_x = ∂x/∂t - a(u) = 0,    R_u = ∂u/∂t - ν ∂²u/∂x² = 0,    x(x0, 0) = x0,  u(x0, 0) = u0(x0),

time derivatives taken at fixed x0 (the material derivative). Derivatives in the Eulerian x on
a characteristic follow by the chain rule, with J = ∂x/∂x0:

    u_x = u_{x0} / J,     u_xx = ∂/∂x (u_{x0} / J) = (u_{x0x0} J - u_{x0} J_{x0}) / J³;

the official code's ``label`` shortcut takes u_x ≈ u_{x0}, u_xx ≈ u_{x0x0}, exact only while
J = 1 (convection at constant speed keeps J = 1; Burgers compresses the labels, J < 1, towards a
front).

Labels live in the same box as the Eulerian coordinates ([0, L] × [0, T]); a Lagrangian model
is trained on labels and answers at Eulerian points by ``periodic_interpolation`` of its
prediction at one time on a row of labels (positions taken mod L), so the reference and the
test grid are those of the Eulerian problem.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from opl.physics.fields import Fields
from opl.physics.problem import Condition, Problem

XDerivatives = Literal["chain_rule", "label"]
X_DERIVATIVES: tuple[str, ...] = ("chain_rule", "label")


def check_x_derivatives(x_derivatives: str) -> None:
    """Refuse a way of taking x-derivatives that ``lagrangian_fields`` does not know."""
    if x_derivatives not in X_DERIVATIVES:
        raise ValueError(
            f"x_derivatives: expected one of {', '.join(X_DERIVATIVES)}, got {x_derivatives!r}"
        )


@dataclass(frozen=True)
class LagrangianFields:
    """At labels (N, 2) = (x0, t): position ``x`` and state ``u`` (N, 1); with order >= 1 the
    rates ``x_t``, ``u_t`` at fixed x0 and ``u_x``; with order 2 ``u_xx`` (Eulerian x)."""

    x: torch.Tensor
    u: torch.Tensor
    x_t: torch.Tensor | None = None
    u_t: torch.Tensor | None = None
    u_x: torch.Tensor | None = None
    u_xx: torch.Tensor | None = None


def lagrangian_fields(labels: Fields, x_derivatives: XDerivatives) -> LagrangianFields:
    """``LagrangianFields`` from the label-coordinate ``Fields`` of the two outputs (x, u):
    ``grad[:, i, j] = ∂(x, u)_i/∂(x0, t)_j`` and ``second = ∂²(x, u)/∂x0²`` (weights (1, 0))."""
    check_x_derivatives(x_derivatives)
    x, u = labels.u[:, 0:1], labels.u[:, 1:2]
    if labels.grad is None:
        return LagrangianFields(x, u)
    x_t, u_t = labels.grad[:, 0:1, 1], labels.grad[:, 1:2, 1]
    jacobian, u_x0 = labels.grad[:, 0:1, 0], labels.grad[:, 1:2, 0]
    chain = x_derivatives == "chain_rule"
    u_x = u_x0 / jacobian if chain else u_x0
    if labels.second is None:
        return LagrangianFields(x, u, x_t, u_t, u_x)
    j_x0, u_x0x0 = labels.second[:, 0:1], labels.second[:, 1:2]
    u_xx = (u_x0x0 * jacobian - u_x0 * j_x0) / jacobian**3 if chain else u_x0x0
    return LagrangianFields(x, u, x_t, u_t, u_x, u_xx)


class Lagrangian(Problem):
    """The Lagrangian form (module docstring) of ``eulerian``, a 1-D periodic transport problem
    with ``speed(u)``, ``nu`` and ``initial_condition(points)`` (``Convection1D``,
    ``Burgers1D``). Conditions: ``characteristic`` (R_x), ``state`` (R_u) and ``initial``
    (both initial values, as two residual columns); the reference is the Eulerian one."""

    def __init__(self, eulerian: Problem) -> None:
        missing = [a for a in ("speed", "nu", "initial_condition") if not hasattr(eulerian, a)]
        if missing or eulerian.domain.dim != 2:
            raise ValueError(
                f"eulerian: expected a 1-D periodic transport problem in (x, t) with speed(u), "
                f"nu and initial_condition (Convection1D, Burgers1D); {type(eulerian).__name__} "
                f"lacks {', '.join(missing) or 'a (x, t) domain'}"
            )
        self.eulerian = eulerian
        nu = float(eulerian.nu)
        state_order = 2 if nu > 0 else 1

        def characteristic(points, evaluate):
            f = evaluate(points, 1)
            return f.x_t - eulerian.speed(f.u)

        def state(points, evaluate):
            f = evaluate(points, state_order)
            return f.u_t - nu * f.u_xx if nu > 0 else f.u_t

        def initial(points, evaluate):
            f = evaluate(points, 0)
            return torch.cat([f.x - points[:, 0:1], f.u - eulerian.initial_condition(points)], 1)

        super().__init__(
            eulerian.domain,
            [
                Condition("characteristic", characteristic),
                Condition("state", state),
                Condition("initial", initial, ((1, 0),)),
            ],
            second_order_weights=(1.0, 0.0),
            reference=eulerian.reference if eulerian.has_reference else None,
            coordinates=("x0", "t"),
        )


def periodic_interpolation(
    positions: torch.Tensor, values: torch.Tensor, queries: torch.Tensor, period: float
) -> torch.Tensor:
    """Piecewise-linear interpolant through ``(positions mod period, values)`` (n,), (n, c),
    periodic with ``period``, at ``queries`` (m,) -> (m, c). The nodes need no order (they are
    sorted here); error ≤ h²/8 · max|u''| for node spacing h."""
    wrapped = torch.remainder(positions, period)
    order = torch.argsort(wrapped)
    nodes, data = wrapped[order], values[order]
    nodes = torch.cat([nodes[-1:] - period, nodes, nodes[:1] + period])
    data = torch.cat([data[-1:], data, data[:1]])
    q = torch.remainder(queries, period)
    right = torch.searchsorted(nodes, q, right=True).clamp(1, len(nodes) - 1)
    left = right - 1
    width = (nodes[right] - nodes[left]).clamp_min(torch.finfo(nodes.dtype).tiny)
    theta = ((q - nodes[left]) / width)[:, None]
    return data[left] + theta * (data[right] - data[left])
