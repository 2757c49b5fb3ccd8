r"""Steady Stokes flow on a triangle mesh: Taylor–Hood P2–P1 finite elements.

The problem, on a polygon Ω whose boundary is split into named parts (``mesh.boundaries``), is

    −ν Δu + ∇p = 0,   div u = 0         in Ω,
    u = u_in                            on the inlet Γ_in,
    u = 0                               on the walls Γ_w (no slip),
    ν ∂u/∂n − p n = 0                   on the outlet Γ_out ("do nothing"),

with u the velocity, p the kinematic pressure (pressure / density) and ν > 0 the kinematic
viscosity; all nondimensional (any consistent unit system works: ν in [length²/time],
p in [length²/time²]).

Spaces: u_h in V_h = continuous piecewise-quadratic vector fields
(``ElementVector(ElementTriP2())``) with u_h = I_h u_in on Γ_in and 0 on Γ_w, and p_h in
Q_h = continuous piecewise-linear functions (``ElementTriP1()``); this Taylor–Hood pair is
inf-sup stable. The weak form, for all v in V_h vanishing on Γ_in ∪ Γ_w and all q in Q_h, is

    ν (grad u_h, grad v) − (p_h, div v) = 0,
                         −(div u_h, q)  = 0,

whose natural boundary condition is exactly ν ∂u/∂n − p n = 0, so the outlet needs no term.
The do-nothing condition also fixes the level of p (e.g. p = 0 on the outlet of a straight
channel with fully developed flow). The saddle-point matrix [[νA, Bᵀ], [B, 0]] is assembled as
one sparse block matrix (``bmat``), the Dirichlet dofs are eliminated (``condense``) and the rest
is solved directly (SuperLU).

Without an outlet (enclosed flow) p is determined up to a constant: the solve pins the first
pressure dof to 0 and the pressure returned is then shifted to zero mean, ∫_Ω p_h = 0. Enclosed
flow also requires zero net inflow, ∫_∂Ω u_h · n = 0, which is checked.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from numbers import Real

import numpy as np
import scipy.sparse as sp
import skfem
from scipy.sparse.linalg import spsolve
from skfem import (
    BilinearForm,
    ElementTriP1,
    ElementTriP2,
    ElementVector,
    FacetBasis,
    Functional,
    LinearForm,
    condense,
)
from skfem.helpers import ddot, div, dot, grad

from data_gen.fem.mesh import require_boundaries

__all__ = ["solve_stokes"]

# Enclosed flow: the net inflow may be at most this fraction of ∫_Γin |u_in · n|.
_FLUX_RTOL = 1e-9


@BilinearForm
def _viscous(u, v, w):
    return w.nu * ddot(grad(u), grad(v))


@BilinearForm
def _pressure_divergence(u, q, _):
    return -div(u) * q


@LinearForm
def _integral(q, _):
    return q


@Functional
def _normal_flux(w):
    return dot(w.u, w.n)


@Functional
def _absolute_normal_flux(w):
    return abs(dot(w.u, w.n))


def _boundary_names(
    mesh: skfem.MeshTri, inlet: str, walls: Sequence[str], outlet: str | None
) -> tuple[np.ndarray, np.ndarray]:
    """Check the boundary part names; return the facets of the inlet and of the walls."""
    if not isinstance(inlet, str):
        raise ValueError(f"inlet must be a boundary name (str), got {inlet!r}")
    if isinstance(walls, str) or not all(isinstance(name, str) for name in walls):
        raise ValueError(f"walls must be a sequence of boundary names, got {walls!r}")
    if outlet is not None and not isinstance(outlet, str):
        raise ValueError(f"outlet must be a boundary name (str) or None, got {outlet!r}")
    require_boundaries(mesh, [inlet], "inlet")
    require_boundaries(mesh, walls, "walls")
    parts = [inlet, *walls]
    if outlet is not None:
        require_boundaries(mesh, [outlet], "outlet")
        parts.append(outlet)
    if len(set(parts)) != len(parts):
        raise ValueError(
            f"inlet, walls and outlet must name distinct boundary parts, got inlet={inlet!r}, "
            f"walls={list(walls)!r}, outlet={outlet!r}"
        )
    covered = np.concatenate([mesh.boundaries[name] for name in parts])
    missing = np.setdiff1d(mesh.boundary_facets(), covered)
    if missing.size:
        x, y = mesh.p[:, mesh.facets[:, missing[0]]].mean(axis=1)
        raise ValueError(
            f"walls: inlet, walls and outlet must cover the whole boundary, but {missing.size} "
            f"boundary facet(s) are in none of them (the first at ({x:.6g}, {y:.6g})); the mesh "
            f"has the parts {', '.join(sorted(mesh.boundaries))}"
        )
    wall_facets = np.concatenate([mesh.boundaries[name] for name in walls]) if walls else []
    return mesh.boundaries[inlet], np.asarray(wall_facets, dtype=np.int64)


def _inflow_values(
    inflow: Callable[[np.ndarray], np.ndarray] | np.ndarray, basis: skfem.Basis, dofs: np.ndarray
) -> np.ndarray:
    """The inlet velocity (2, len(dofs)) at the scalar P2 dofs ``dofs``."""
    if callable(inflow):
        values = np.asarray(inflow(basis.doflocs[:, dofs]), dtype=np.float64)
        expected = (2, dofs.size)
        what = "inflow(points) for points of shape (2, n)"
    else:
        values = np.asarray(inflow, dtype=np.float64)
        expected = (2, basis.N)
        what = "the inflow array (components × scalar P2 dofs)"
    if values.shape != expected:
        raise ValueError(
            f"inflow: expected {what} to have shape {expected}, got shape {values.shape}"
        )
    if not np.isfinite(values).all():
        raise ValueError("inflow must give only finite values")
    return values if callable(inflow) else values[:, dofs]


def solve_stokes(
    mesh: skfem.MeshTri,
    *,
    viscosity: float,
    inlet: str,
    inflow: Callable[[np.ndarray], np.ndarray] | np.ndarray,
    walls: Sequence[str],
    outlet: str | None,
) -> tuple[np.ndarray, np.ndarray, skfem.Basis, skfem.Basis]:
    """Solve steady Stokes flow with Taylor–Hood P2–P1 elements (module docstring).

    Parameters
    ----------
    mesh : skfem.MeshTri
        The triangulation of Ω with named boundary parts (``mesh.boundaries``).
    viscosity : float
        Kinematic viscosity ν, > 0.
    inlet : str
        The boundary part where u = u_in.
    inflow : callable or (2, n_velocity_nodes) array
        u_in. A callable maps points of shape (2, n) to velocities of shape (2, n) and is called
        once with the scalar P2 dof locations on the inlet. An array holds (u_x, u_y) at every
        scalar P2 dof (``velocity_basis.doflocs`` of ``skfem.Basis(mesh, ElementTriP2())``);
        only its values on the inlet are used. Where the inlet meets a wall the wall's u = 0
        wins.
    walls : sequence of str
        The boundary parts where u = 0.
    outlet : str or None
        The do-nothing boundary part; ``None`` for enclosed flow (module docstring: the pressure
        is returned with zero mean, and the inflow must have zero net flux). Inlet, walls and
        outlet must be distinct and together cover the whole boundary.

    Returns
    -------
    velocity : (2, n_velocity_nodes) float64 array
        ``velocity[c, i]`` is component c (0: x, 1: y) of u_h at ``velocity_basis.doflocs[:, i]``.
        The vector P2 solution's dofs are mapped to (component, node) with the vector basis's
        ``split_indices()``, whose k-th array lists the component-k dofs in the order of the
        scalar P2 dofs.
    pressure : (n_pressure_nodes,) float64 array
        p_h at the P1 dofs (the mesh vertices, ``pressure_basis.doflocs``).
    velocity_basis : skfem.Basis
        The scalar P2 basis.
    pressure_basis : skfem.Basis
        The P1 basis.

    Raises
    ------
    ValueError
        If an argument is invalid; the message names it and says what was expected.
    """
    if not isinstance(mesh, skfem.MeshTri):
        raise ValueError(f"mesh must be a skfem.MeshTri, got {type(mesh).__name__}")
    if (
        isinstance(viscosity, bool)
        or not isinstance(viscosity, Real)
        or not (math.isfinite(viscosity) and viscosity > 0)
    ):
        raise ValueError(f"viscosity must be a positive finite real number, got {viscosity!r}")
    inlet_facets, wall_facets = _boundary_names(mesh, inlet, walls, outlet)

    vector_basis = skfem.Basis(mesh, ElementVector(ElementTriP2()))
    velocity_basis = skfem.Basis(mesh, ElementTriP2())
    pressure_basis = skfem.Basis(mesh, ElementTriP1(), quadrature=vector_basis.quadrature)
    components = np.array(vector_basis.split_indices())  # (2, n_velocity_nodes)
    n_u = vector_basis.N

    inlet_dofs = velocity_basis.get_dofs(inlet_facets).flatten()
    wall_dofs = velocity_basis.get_dofs(wall_facets).flatten()
    x = np.zeros(n_u + pressure_basis.N)
    x[components[:, inlet_dofs]] = _inflow_values(inflow, velocity_basis, inlet_dofs)
    x[components[:, wall_dofs]] = 0.0  # after the inlet: no slip wins where they meet
    fixed = components[:, np.union1d(inlet_dofs, wall_dofs)].ravel()

    if outlet is None:
        inlet_basis = FacetBasis(mesh, vector_basis.elem, facets=inlet_facets)
        u_in = inlet_basis.interpolate(x[:n_u])
        net = _normal_flux.assemble(inlet_basis, u=u_in)
        if abs(net) > _FLUX_RTOL * _absolute_normal_flux.assemble(inlet_basis, u=u_in):
            raise ValueError(
                f"inflow: enclosed flow (outlet=None) needs zero net flux through the inlet, "
                f"got ∫ u·n = {net:.6g}"
            )
        fixed = np.append(fixed, n_u)  # pin p at the first pressure dof to 0

    viscous = _viscous.assemble(vector_basis, nu=float(viscosity))
    divergence = _pressure_divergence.assemble(vector_basis, pressure_basis)
    system = sp.bmat([[viscous, divergence.T], [divergence, None]], format="csr")
    free_matrix, free_rhs, x, free = condense(system, np.zeros_like(x), x=x, D=fixed)
    x[free] = spsolve(free_matrix.tocsc(), free_rhs)

    pressure = x[n_u:]
    if outlet is None:
        weights = _integral.assemble(pressure_basis)
        pressure = pressure - (weights @ pressure) / weights.sum()
    return x[components], pressure, velocity_basis, pressure_basis
