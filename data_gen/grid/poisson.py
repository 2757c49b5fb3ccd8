r"""Poisson's equation with a random source: the map from forcing ``f`` to solution ``u``.

    -Δu = f   in (0, 1)²,      u = 0   on the boundary,

with ``f ~ N(0, σ²(-Δ + τ²I)^{-α})`` (Neumann Laplacian; ``data_gen.random_fields``), discretised by
the 5-point Laplacian on the ``s×s`` node grid (boundary included) and solved directly. The simplest
dataset, and the test bed of the machinery. Quantities are nondimensional.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from data_gen.config import bounds
from data_gen.generator import FieldSpec, Generator, Layout, grid_coordinates
from data_gen.grid.fd import node_grid, solve_dirichlet
from data_gen.random_fields import GaussianRandomField


@dataclass(frozen=True)
class Poisson(Generator):
    """Generator of (forcing ``f``, solution ``u``) pairs of the 2-D Poisson problem."""

    name: ClassVar[str] = "poisson"
    pde: ClassVar[str] = "poisson"

    resolution: int = field(default=64, metadata=bounds(ge=5))
    """Nodes per side ``s`` (boundary included; h = 1/(s-1))."""
    grf: GaussianRandomField = GaussianRandomField(alpha=2.0, tau=3.0, boundary="neumann")

    def __post_init__(self) -> None:
        self.grf.require_node_grid("the grid includes its boundary")

    def layout(self) -> Layout:
        x = node_grid(self.resolution)
        return Layout(
            coordinates=(*grid_coordinates(x, "nodes"),),
            fields=(
                FieldSpec("forcing", ("x", "y"), "input", "source term f"),
                FieldSpec("solution", ("x", "y"), "output", "solution u"),
            ),
            attrs={
                "equation": "-laplace(u) = f",
                "domain": "[0, 1] x [0, 1], node grid including the boundary",
                "boundary_conditions": "u = 0 on the whole boundary (Dirichlet)",
            },
        )

    def solve(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        s = self.resolution
        f = self.grf.sample(rng, (s, s))
        return {"forcing": f, "solution": solve_dirichlet(np.ones((s, s)), f)}
