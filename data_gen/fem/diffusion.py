r"""Scalar diffusion on a triangle mesh: continuous P1 / P2 Lagrange finite elements (scikit-fem).

The problem, on a 2-D domain Ω whose boundary carries named parts (``mesh.boundaries``), is

    -div(a grad u) = f             in Ω,
                 u = g_D           on Γ_D (the parts named in ``dirichlet``),
         a ∂u/∂n = g_N             on Γ_N (the parts named in ``neumann``; n the outward normal),
         a ∂u/∂n = 0               on the rest of ∂Ω,

with a > 0. All quantities are nondimensional.

Discretisation
--------------
V_h is the space of continuous piecewise polynomials of degree k on the mesh (k = 1 for ``"P1"``,
k = 2 for ``"P2"``) and V_h,0 its subspace vanishing at the dofs of Γ_D. The data a, f, g_D and
g_N are given by their values at the dofs of V_h (``basis.doflocs``), i.e. as their Lagrange
interpolants I_h a, I_h f, I_h g_D, I_h g_N. The discrete problem: find u_h in V_h with
u_h = I_h g_D at the dofs of Γ_D and

    ∫_Ω I_h a ∇u_h · ∇v dx = ∫_Ω I_h f v dx + ∫_{Γ_N} I_h g_N v ds      for all v in V_h,0.

Every form is integrated with quadrature of order 2k, which is exact for these integrands
(degrees 3k - 2 <= 2k and 2k for k <= 2), so the only approximation beyond the Galerkin projection
is the interpolation of the data; both keep the optimal orders h^(k+1) in L2 and h^k in H1 for
smooth solutions. The Dirichlet dofs are eliminated (``skfem.condense``) and the symmetric
positive definite system of the remaining dofs is solved by a sparse direct solve (SuperLU with a
symmetric fill-reducing ordering and diagonal pivots).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import skfem
from skfem import BilinearForm, LinearForm, asm, condense
from skfem.helpers import dot, grad

from data_gen.fem.mesh import require_boundaries

__all__ = ["ELEMENTS", "BoundaryValue", "dof_locations", "solve_diffusion"]

ELEMENTS = {"P1": skfem.ElementTriP1, "P2": skfem.ElementTriP2}
"""The Lagrange elements by name: continuous piecewise linears and quadratics on triangles."""

BoundaryValue = float | np.ndarray
"""Boundary data: one constant, or an array of values at every dof of the space (interpolated)."""


@BilinearForm
def _diffusion(u, v, w):
    """a(u, v) = ∫ a ∇u · ∇v."""
    return w.a * dot(grad(u), grad(v))


@LinearForm
def _load(v, w):
    """l(v) = ∫ g v (the source f on cells, the flux g_N on facets)."""
    return w.g * v


def _element(element: str) -> skfem.Element:
    if element not in ELEMENTS:
        raise ValueError(f"element: expected one of {', '.join(ELEMENTS)}, got {element!r}")
    return ELEMENTS[element]()


def _intorder(element: skfem.Element) -> int:
    """Quadrature order 2k: exact for all forms of ``solve_diffusion`` with interpolated data."""
    return 2 * element.maxdeg


def dof_locations(mesh: skfem.MeshTri, element: str) -> np.ndarray:
    """The (2, n_dofs) coordinates of the dofs of ``element`` on ``mesh``, in solver order.

    Evaluate the coefficient, the source and any boundary data there before ``solve_diffusion``.
    """
    return skfem.Basis(mesh, _element(element)).doflocs


def _dof_array(value: np.ndarray, n_dofs: int, what: str) -> np.ndarray:
    """``value`` as a float64 array of the ``n_dofs`` values at the dofs, or raise ValueError."""
    array = np.asarray(value, dtype=np.float64)
    if array.shape != (n_dofs,):
        raise ValueError(
            f"{what}: expected an array of {n_dofs} values at the dofs (basis.doflocs), "
            f"got shape {array.shape}"
        )
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{what}: expected finite values")
    return array


def _boundary_array(value: BoundaryValue, n_dofs: int, what: str) -> np.ndarray:
    """A constant or an array at the dofs, as the float64 array of its values at all dofs."""
    if np.ndim(value) == 0:
        return _dof_array(np.full(n_dofs, value, dtype=np.float64), n_dofs, what)
    return _dof_array(value, n_dofs, what)


def solve_diffusion(
    mesh: skfem.MeshTri,
    *,
    element: str,
    coefficient: np.ndarray,
    source: np.ndarray,
    dirichlet: Mapping[str, BoundaryValue],
    neumann: Mapping[str, BoundaryValue] | None = None,
) -> tuple[np.ndarray, skfem.CellBasis]:
    """Solve ``-div(a grad u) = f`` with Dirichlet and Neumann data on named boundary parts.

    Parameters
    ----------
    mesh
        The triangle mesh; its ``boundaries`` (name -> facet indices) name the parts used below.
    element
        ``"P1"`` or ``"P2"`` (``ELEMENTS``).
    coefficient
        The diffusivity a > 0 at the dofs of the space (``dof_locations(mesh, element)``). For P2
        the interpolant of positive values can still dip below 0 inside a triangle where a varies
        sharply (unresolved); resolve a on the mesh, or use P1 (whose interpolant stays > 0).
    source
        The source f at the dofs.
    dirichlet
        Boundary part name -> g_D: a constant, or an array of values at all dofs of which those
        of that part are used. At least one part is required (a pure Neumann problem is
        singular). At a dof shared by two parts, the part listed last wins.
    neumann
        Boundary part name -> the flux g_N = a ∂u/∂n (outward normal): a constant, or an array of
        values at all dofs, interpolated on that part's facets. Parts of ∂Ω named in neither
        mapping have g_N = 0.

    Returns
    -------
    (u, basis)
        The solution at the dofs and the ``skfem.CellBasis`` of the space (quadrature order 2k),
        e.g. for ``basis.interpolate(u)`` or ``basis.probes``.

    Raises
    ------
    ValueError
        For an unknown element or boundary name, a part named in both mappings, no Dirichlet
        part, data of the wrong length or not finite, or a coefficient not > 0 at some dof.
    """
    elem = _element(element)
    neumann = {} if neumann is None else neumann
    for what, parts in (("dirichlet", dirichlet), ("neumann", neumann)):
        require_boundaries(mesh, parts, what)
    both = sorted(set(dirichlet) & set(neumann))
    if both:
        raise ValueError(
            f"dirichlet, neumann: boundary {', '.join(map(repr, both))} named in both; "
            "expected each part to carry one condition"
        )

    basis = skfem.Basis(mesh, elem, intorder=_intorder(elem))
    n_dofs = int(basis.N)
    a = _dof_array(coefficient, n_dofs, "coefficient")
    if np.any(a <= 0):
        raise ValueError(
            f"coefficient: expected values > 0 (an elliptic problem), got min {a.min():g}"
        )
    f = _dof_array(source, n_dofs, "source")
    a_quadrature = basis.interpolate(a)
    if element != "P1" and np.min(a_quadrature) <= 0:  # P2 interpolants can undershoot
        raise ValueError(
            f"coefficient: its {element} interpolant is <= 0 at a quadrature point (min "
            f"{np.min(a_quadrature):.3g}) although the dof values are > 0; use P1 data "
            "or a smoother coefficient"
        )

    fixed = np.zeros(n_dofs)
    fixed_dofs = [np.empty(0, dtype=np.int64)]
    for name, value in dirichlet.items():
        part = basis.get_dofs(name).all()
        fixed[part] = _boundary_array(value, n_dofs, f"dirichlet[{name!r}]")[part]
        fixed_dofs.append(part)
    dirichlet_dofs = np.unique(np.concatenate(fixed_dofs))
    if dirichlet_dofs.size == 0:
        raise ValueError(
            "dirichlet: expected at least one boundary part with dofs; with Neumann conditions "
            "alone the problem is singular (u is determined only up to a constant)"
        )
    fluxes = {
        name: _boundary_array(value, n_dofs, f"neumann[{name!r}]")
        for name, value in neumann.items()
    }

    matrix = asm(_diffusion, basis, a=a_quadrature)
    rhs = asm(_load, basis, g=basis.interpolate(f))
    for name, flux in fluxes.items():
        facets = skfem.FacetBasis(mesh, elem, facets=name, intorder=_intorder(elem))
        rhs += asm(_load, facets, g=facets.interpolate(flux))

    reduced, reduced_rhs, u, free = condense(matrix, rhs, x=fixed, D=dirichlet_dofs)
    u[free] = _solve_spd(reduced, reduced_rhs)
    return u, basis


def _solve_spd(matrix: sp.spmatrix, rhs: np.ndarray) -> np.ndarray:
    """Sparse LU (SuperLU) of a symmetric positive definite matrix: a symmetric fill-reducing
    ordering and diagonal pivots, as for a Cholesky factorisation (no pivoting is needed)."""
    lu = spla.splu(
        matrix.tocsc(),
        permc_spec="MMD_AT_PLUS_A",
        diag_pivot_thresh=0.0,
        options={"SymmetricMode": True},
    )
    return lu.solve(rhs)
