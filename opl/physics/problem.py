r"""A PDE problem for physics-informed training: a box, conditions, and a reference solution.

A problem is a list of ``Condition``s, each a residual that vanishes on the solution, evaluated at
collocation points of its own region: the PDE in the interior, boundary and initial conditions on
faces of the box. Training minimises ``Σ_i λ_i mean(r_i²)`` over the conditions (weights λ from
the training config). The residual of a condition gets its points and ``evaluate(points, order)
-> Fields`` (``opl.physics.fields``) and asks for no more derivatives than it needs.

Defining a problem of one's own takes a few lines, e.g. -Δu = 1 on the unit square, u = 0 on the
boundary::

    from opl.physics import Box, Problem, dirichlet, pde

    box = Box((0.0, 0.0), (1.0, 1.0))
    problem = Problem(
        box,
        [
            pde("pde", lambda points, f: -f.second - 1.0),
            dirichlet("boundary", box.all_faces(), lambda points: 0.0 * points[:, :1]),
        ],
    )
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from opl.physics.domain import Box, Face, Sampler
from opl.physics.fields import Fields

Evaluate = Callable[[torch.Tensor, int], Fields]
"""``evaluate(points, order) -> Fields`` of the model being trained."""


@dataclass(frozen=True)
class Condition:
    """One residual term: points from ``faces`` of the box (None: its interior) and
    ``residual(points, evaluate) -> (n, r)``, which is zero on the solution."""

    name: str
    residual: Callable[[torch.Tensor, Evaluate], torch.Tensor]
    faces: tuple[Face, ...] | None = None

    def sample(
        self,
        box: Box,
        n: int,
        generator: torch.Generator,
        sampler: Sampler = "uniform",
        dtype: torch.dtype = torch.float64,
    ) -> torch.Tensor:
        """``n`` collocation points of this condition."""
        if self.faces is None:
            return box.sample(n, generator, sampler, dtype)
        return box.sample_faces(n, self.faces, generator, sampler, dtype)


def pde(name: str, residual: Callable[[torch.Tensor, Fields], torch.Tensor]) -> Condition:
    """The PDE in the interior: ``residual(points, fields)`` with fields of order 2."""
    return Condition(name, lambda points, evaluate: residual(points, evaluate(points, 2)))


def dirichlet(
    name: str, faces: Sequence[Face], value: Callable[[torch.Tensor], torch.Tensor]
) -> Condition:
    """``u = value(points)`` on ``faces`` (an initial condition is the face ``(t_dim, 0)``)."""
    return Condition(
        name, lambda points, evaluate: evaluate(points, 0).u - value(points), tuple(faces)
    )


def derivative_condition(
    name: str, faces: Sequence[Face], dim: int, value: Callable[[torch.Tensor], torch.Tensor]
) -> Condition:
    """``∂u/∂x_dim = value(points)`` on ``faces`` (e.g. an initial rate ``u_t`` at t = t0)."""
    return Condition(
        name,
        lambda points, evaluate: evaluate(points, 1).derivative(dim) - value(points),
        tuple(faces),
    )


def periodic(name: str, box: Box, dim: int, derivatives: bool = False) -> Condition:
    """``u`` (and, with ``derivatives``, its gradient) equal on the two faces of coordinate
    ``dim``: points on the lower face are compared with their translates on the upper one."""
    period = box.upper[dim] - box.lower[dim]
    order = 1 if derivatives else 0

    def residual(points: torch.Tensor, evaluate: Evaluate) -> torch.Tensor:
        shift = torch.zeros_like(points[0])
        shift[dim] = period
        lower, upper = evaluate(points, order), evaluate(points + shift, order)
        if not derivatives:
            return lower.u - upper.u
        return torch.cat([lower.u - upper.u, (lower.grad - upper.grad).flatten(1)], 1)

    return Condition(name, residual, ((dim, 0),))


class Problem:
    """A PDE problem on ``domain``.

    Args:
        domain: the box of the coordinates (time last, for time-dependent problems).
        conditions: the residual terms; names must differ (loss weights and point counts are
            given by name).
        second_order_weights: w of ``Fields.second = Σ_j w_j ∂²u/∂x_j²`` (default: the
            Laplacian in every coordinate).
        out_channels: components of the solution.
        reference: the exact solution, or a numerical reference, at points (n, d) -> (n, c);
            None if there is none.
        coordinates: names of the coordinates, for plots and messages.
    """

    def __init__(
        self,
        domain: Box,
        conditions: Sequence[Condition],
        second_order_weights: Sequence[float] | None = None,
        out_channels: int = 1,
        reference: Callable[[torch.Tensor], torch.Tensor] | None = None,
        coordinates: Sequence[str] | None = None,
    ) -> None:
        names = [c.name for c in conditions]
        if len(set(names)) != len(names):
            raise ValueError(f"conditions: names must differ, got {names}")
        weights = (1.0,) * domain.dim if second_order_weights is None else second_order_weights
        if len(weights) != domain.dim:
            raise ValueError(
                f"second_order_weights: expected {domain.dim} (one per coordinate), got "
                f"{len(weights)}"
            )
        self.domain = domain
        self.conditions = tuple(conditions)
        self.second_order_weights = tuple(float(w) for w in weights)
        self.out_channels = out_channels
        self._reference = reference
        self.coordinates = tuple(coordinates or [f"x{j}" for j in range(domain.dim)])

    @property
    def condition_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.conditions)

    @property
    def has_reference(self) -> bool:
        return self._reference is not None

    def reference(self, points: torch.Tensor) -> torch.Tensor:
        """The exact (or reference) solution at ``points`` (n, d) -> (n, out_channels)."""
        if self._reference is None:
            raise ValueError(f"{type(self).__name__} has no exact or reference solution")
        return self._reference(points)
