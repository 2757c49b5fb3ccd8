r"""Darcy flow on the unit square: the map from permeability ``a`` to pressure ``u``.

    -div(a(x) grad u(x)) = f   in (0, 1)²,      u = 0   on the boundary,

with ``f`` constant and ``a`` a random field built from ``ψ ~ N(0, σ²(-Δ + τ²I)^{-α})``
(Neumann Laplacian; ``data_gen.random_fields``):

* ``piecewise``: ``a = high`` where ``ψ >= threshold`` and ``low`` elsewhere -- the classic FNO set
  (α = 2, τ = 3, 12 / 3, f = 1);
* ``lognormal``: ``a = exp(ψ)``.

Discretised on the ``s×s`` node grid (boundary included) by the conservative 5-point scheme of
``data_gen.grid.fd`` and solved by a sparse direct solve. With ``grf.convention: fno`` (FNO's
random fields) ``a`` lives on the cell-centred grid ``(j + ½)/s``, and so do the unknowns: the
same scheme on the cells, with ``u = 0`` on the boundary faces (``fd.solve_dirichlet_cells``), so
``u`` is small but not 0 on the outermost cells, as in FNO's files. (FNO's own ``solve_gwf.m``
spline-interpolates ``a`` onto the nodes, solves there and interpolates ``u`` back; the spline of
a 12 / 3 field overshoots, to ``a < 0`` at some nodes of most 421² samples, so it is not
reproduced.) Quantities are nondimensional.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal

import numpy as np

from data_gen.config import bounds
from data_gen.generator import FieldSpec, Generator, Layout, grid_coordinates
from data_gen.grid.fd import FaceAverage, solve_dirichlet, solve_dirichlet_cells
from data_gen.random_fields import GaussianRandomField


@dataclass(frozen=True)
class Darcy(Generator):
    """Generator of (coefficient ``a``, solution ``u``) pairs of 2-D Darcy flow."""

    name: ClassVar[str] = "darcy"
    pde: ClassVar[str] = "darcy"

    resolution: int = field(default=64, metadata=bounds(ge=5))
    """Points per side ``s``: nodes (boundary included; h = 1/(s-1)), or cell centres with
    ``grf.convention: fno``; 421 and 85 are the FNO sizes."""
    coefficient: Literal["piecewise", "lognormal"] = "piecewise"
    grf: GaussianRandomField = GaussianRandomField(alpha=2.0, tau=3.0, boundary="neumann")
    high: float = field(default=12.0, metadata=bounds(gt=0))
    """Value of ``a`` where ``ψ >= threshold`` (piecewise)."""
    low: float = field(default=3.0, metadata=bounds(gt=0))
    """Value of ``a`` where ``ψ < threshold`` (piecewise)."""
    threshold: float = 0.0
    forcing: float = 1.0
    """The constant source ``f``."""
    forcing_grf: GaussianRandomField | None = None
    """If set, ``f`` is a sample of this random field instead (stored as the input ``forcing``):
    the (coefficient, source) -> solution pairs a residual -> error operator learns from."""
    face_average: FaceAverage = "arithmetic"
    """How ``a`` is averaged onto cell faces: arithmetic (FNO's solver) or harmonic."""

    def __post_init__(self) -> None:
        self.grf.require_boundary("neumann", "the Darcy grid includes its boundary")
        if self.forcing_grf is not None and self.forcing_grf.grid_convention != (
            self.grf.grid_convention
        ):
            raise ValueError("forcing_grf: expected the grid convention of grf")

    def layout(self) -> Layout:
        x = self.grf.grid(self.resolution)
        return Layout(
            coordinates=(*grid_coordinates(x, self.grf.grid_convention),),
            fields=(
                FieldSpec("coeff", ("x", "y"), "input", "diffusion coefficient a"),
                *(
                    [FieldSpec("forcing", ("x", "y"), "input", "source f")]
                    if self.forcing_grf is not None
                    else []
                ),
                FieldSpec("solution", ("x", "y"), "output", "solution u"),
            ),
            attrs={
                "equation": "-div(a grad u) = "
                + ("f" if self.forcing_grf is not None else f"{self.forcing:g}"),
                "domain": "[0, 1] x [0, 1], "
                + (
                    "cell-centred grid (j + 1/2)/s (FNO's random fields)"
                    if self.grf.convention == "fno"
                    else "node grid including the boundary"
                ),
                "boundary_conditions": "u = 0 on the whole boundary (Dirichlet)",
            },
        )

    def solve(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        s = self.resolution
        psi = self.grf.sample(rng, (s, s))
        if self.coefficient == "piecewise":
            a = np.where(psi >= self.threshold, self.high, self.low)
        else:
            a = np.exp(psi)
        solve = solve_dirichlet_cells if self.grf.convention == "fno" else solve_dirichlet
        if self.forcing_grf is None:
            return {
                "coeff": a,
                "solution": solve(a, np.full((s, s), self.forcing), self.face_average),
            }
        f = self.forcing_grf.sample(rng, (s, s))
        return {"coeff": a, "forcing": f, "solution": solve(a, f, self.face_average)}
