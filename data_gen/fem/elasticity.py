"""Small-strain linear elasticity in 2-D with a spatially variable Young's modulus (scikit-fem).

Problem, on a triangle mesh Ω with boundary parts named in ``mesh.boundaries``::

    −div σ(u) = 0 in Ω,   σ(u) = λ tr(ε(u)) I + 2 μ ε(u),   ε(u) = ½ (∇u + ∇uᵀ),
    u = 0 on the clamped parts,   σ n = t_k on traction part k,   σ n = 0 elsewhere,

with μ = E / (2 (1 + ν)) and, for ``plane="stress"`` (thin plate, σzz = 0),
λ = E ν / (1 − ν²); for ``plane="strain"`` (long body, εzz = 0), λ = E ν / ((1 + ν)(1 − 2ν)).
E = E(x) > 0 varies in space, ν is constant in (−1, ½). Units are consistent: E and t in Pa and
lengths in m give u in m and σ in Pa (or everything nondimensional); a plane-stress problem is per
unit thickness.

Weak form: find u ∈ V_h = {v ∈ [P_k]² : v = 0 on the clamped parts and at the pinned vertex
components} with

    ∫_Ω σ(u) : ε(v) dx = Σ_k ∫_{Γ_k} t_k · v ds   for all v ∈ V_h,

where P_k is the continuous Lagrange space of degree k = 1 ("P1") or 2 ("P2"). E enters the form
as its interpolant in the scalar space P_k (given by its values at the scalar dofs), evaluated at
the quadrature points (degree 2k, exact for E ∈ P_k). The sparse system is solved directly.

Dof layout: the vector space is scikit-fem's ``ElementVector`` of the scalar element; its global dof
``2 i + c`` is component c (0 = x, 1 = y) at scalar dof i, the dof of ``basis.doflocs[:, i]`` of
the returned scalar basis. Displacements are returned as a (2, n) array: row c, column i.

Stress recovery: the stress of the discrete displacement is discontinuous across elements; each
component σxx, σyy, σxy is L2-projected onto continuous P1 (consistent mass matrix, exact
quadrature), which gives values at the mesh vertices, and the von Mises stress is formed from the
projected components there: σ_vm = sqrt(σxx² − σxx σyy + σyy² + 3 σxy²) in plane stress, and in
plane strain the full 3-D formula with σzz = ν (σxx + σyy).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import skfem
from scipy.sparse.linalg import splu
from skfem.helpers import ddot, eye, sym_grad, trace

from data_gen.fem.mesh import require_boundaries
from opl.errors import OplInputError

ELEMENTS: dict[str, type[skfem.Element]] = {"P1": skfem.ElementTriP1, "P2": skfem.ElementTriP2}
"""Element name -> scalar Lagrange element of the displacement components."""
PLANES = ("stress", "strain")
"""The 2-D reductions: plane stress (σzz = 0) or plane strain (εzz = 0)."""


class ElasticityError(OplInputError):
    """Bad input to the elasticity solver: names the argument and what was expected."""


@skfem.BilinearForm
def _stiffness(u, v, w):
    """σ(u) : ε(v), with the Lamé fields ``w.lam`` and ``w.mu`` at the quadrature points."""
    strain = sym_grad(u)
    stress = w.lam * eye(trace(strain), 2) + 2.0 * w.mu * strain
    return ddot(stress, sym_grad(v))


@skfem.LinearForm
def _traction(v, w):
    """t · v for the constant traction (``w.tx``, ``w.ty``)."""
    return w.tx * v[0] + w.ty * v[1]


@skfem.BilinearForm
def _mass(u, v, _):
    """u v: the mass matrix of the L2 projection."""
    return u * v


@skfem.LinearForm
def _load(v, w):
    """The L2-projection right-hand side of the quadrature-point field ``w.field``."""
    return w.field * v


def lame_factors(poisson_ratio: float, plane: str) -> tuple[float, float]:
    """(λ / E, μ / E) of the 2-D reduction ``plane`` ("stress" or "strain")."""
    nu = poisson_ratio
    lam = nu / (1.0 - nu**2) if plane == "stress" else nu / ((1.0 + nu) * (1.0 - 2.0 * nu))
    return lam, 1.0 / (2.0 * (1.0 + nu))


def solve_elasticity(
    mesh: skfem.MeshTri,
    *,
    element: str,
    youngs_modulus: np.ndarray,
    poisson_ratio: float,
    clamped: Sequence[str],
    traction: Mapping[str, tuple[float, float]],
    plane: str = "stress",
    pinned: Sequence[tuple[float, float, int]] = (),
) -> tuple[np.ndarray, np.ndarray, skfem.Basis]:
    """Solve the elasticity problem of the module docstring on ``mesh``.

    Returns (displacement (2, n) at the scalar element's dofs, von Mises stress (n_nodes,) at the
    mesh vertices, the scalar basis): ``displacement[c, i]`` is component c (0 = x, 1 = y) at
    ``basis.doflocs[:, i]``.

    ``element``: "P1" or "P2". ``youngs_modulus``: E > 0 at the scalar basis' dofs
    (``basis.doflocs``: the vertices for P1, vertices then edge midpoints for P2); it must be
    positive at the quadrature points too (a P2 interpolant can dip below its dof values next to
    a jump). ``poisson_ratio``: ν in (−1, 0.5). ``clamped``: boundary parts where u = 0.
    ``traction``: boundary part -> constant traction vector (tx, ty), force per unit length (per
    unit thickness in plane stress). ``plane``: "stress" or "strain". ``pinned``: (x, y,
    component) point constraints u_component = 0 applied at the mesh vertex nearest (x, y),
    component 0 (x) or 1 (y). For pure-traction problems (no clamped part) the pinned set must
    remove the 3 rigid motions (two translations, one rotation); a statically determinate set,
    e.g. [(xa, ya, 0), (xa, ya, 1), (xb, ya, 1)] with xb != xa, does so without reaction forces
    when the tractions are in equilibrium.

    Raises ``ElasticityError`` naming the bad argument, or ``MeshError`` for a boundary name the
    mesh lacks (both ``ValueError``).
    """
    if element not in ELEMENTS:
        raise ElasticityError(f"element: expected one of {', '.join(ELEMENTS)}, got {element!r}")
    if plane not in PLANES:
        raise ElasticityError(f"plane: expected one of {', '.join(PLANES)}, got {plane!r}")
    if not (np.isfinite(poisson_ratio) and -1.0 < poisson_ratio < 0.5):
        raise ElasticityError(
            f"poisson_ratio: expected a value in (-1, 0.5), got {poisson_ratio!r}"
        )
    require_boundaries(mesh, clamped, "solve_elasticity: clamped")
    require_boundaries(mesh, traction, "solve_elasticity: traction")
    both = sorted(set(clamped) & set(traction))
    if both:
        raise ElasticityError(
            f"traction: boundary {both[0]!r} is also clamped; give it one condition"
        )
    loads = {name: _traction_vector(name, value) for name, value in traction.items()}

    scalar_element = ELEMENTS[element]()
    basis = skfem.Basis(mesh, skfem.ElementVector(scalar_element))
    scalar_basis = basis.with_element(scalar_element)
    modulus = _youngs_modulus(youngs_modulus, scalar_basis, element)
    pinned_dofs, rigid_motions = _pinned_dofs(mesh, basis, pinned)
    if not clamped and np.linalg.matrix_rank(rigid_motions) < 3:
        raise ElasticityError(
            f"pinned: with no clamped boundary the {len(pinned)} pinned constraint(s) do not "
            "remove the 3 rigid motions (x, y translation, rotation), so the problem is singular; "
            "pin at least 3 independent components, e.g. (xa, ya, 0), (xa, ya, 1), (xb, ya, 1)"
        )

    lam, mu = lame_factors(poisson_ratio, plane)
    stiffness = _stiffness.assemble(basis, lam=lam * modulus, mu=mu * modulus)
    load = np.zeros(basis.N)
    for name, (tx, ty) in loads.items():
        facets = skfem.FacetBasis(mesh, basis.elem, facets=mesh.boundaries[name])
        load += _traction.assemble(facets, tx=tx, ty=ty)
    clamped_dofs = [basis.get_dofs(mesh.boundaries[name]).all() for name in clamped]
    fixed = np.unique(np.concatenate([pinned_dofs, *clamped_dofs]))
    solution = skfem.solve(*skfem.condense(stiffness, load, D=fixed))
    displacement = np.stack([solution[dofs] for dofs in basis.split_indices()])
    stress = nodal_stress(scalar_basis, displacement, modulus, poisson_ratio, plane)
    return displacement, von_mises(stress, poisson_ratio, plane), scalar_basis


def nodal_stress(
    basis: skfem.Basis,
    displacement: np.ndarray,
    modulus: np.ndarray,
    poisson_ratio: float,
    plane: str,
) -> np.ndarray:
    """(σxx, σyy, σxy) at the mesh vertices, shape (3, n_nodes): each component of the stress of
    ``displacement`` (2, n) in the scalar ``basis`` L2-projected onto continuous P1.

    ``modulus`` is E at the quadrature points of ``basis``, shape (n_elements, n_points), e.g.
    ``basis.interpolate(E)`` for E at the dofs.
    """
    du, dv = (basis.interpolate(component).grad for component in displacement)
    exx, eyy, exy = du[0], dv[1], 0.5 * (du[1] + dv[0])
    lam, mu = lame_factors(poisson_ratio, plane)
    lam, mu = lam * modulus, mu * modulus
    components = (
        lam * (exx + eyy) + 2.0 * mu * exx,
        lam * (exx + eyy) + 2.0 * mu * eyy,
        2.0 * mu * exy,
    )
    p1 = basis.with_element(skfem.ElementTriP1())
    mass = splu(_mass.assemble(p1).tocsc())
    return np.stack([mass.solve(_load.assemble(p1, field=field)) for field in components])


def von_mises(stress: np.ndarray, poisson_ratio: float, plane: str) -> np.ndarray:
    """The von Mises stress of (σxx, σyy, σxy) (stacked on axis 0); σzz = 0 in plane stress and
    σzz = ν (σxx + σyy) in plane strain."""
    sxx, syy, sxy = stress
    szz = poisson_ratio * (sxx + syy) if plane == "strain" else 0.0
    deviatoric = (sxx - syy) ** 2 + (syy - szz) ** 2 + (szz - sxx) ** 2 + 6.0 * sxy**2
    return np.sqrt(0.5 * deviatoric)


def _traction_vector(name: str, value: tuple[float, float]) -> tuple[float, float]:
    vector = np.asarray(value, dtype=float)
    if vector.shape != (2,) or not np.all(np.isfinite(vector)):
        raise ElasticityError(
            f"traction[{name!r}]: expected a finite vector (tx, ty), got {value!r}"
        )
    return float(vector[0]), float(vector[1])


def _youngs_modulus(values: np.ndarray, basis: skfem.Basis, element: str) -> skfem.DiscreteField:
    """E at the quadrature points, checked: N finite values > 0 whose interpolant stays > 0."""
    modulus = np.asarray(values, dtype=float)
    if modulus.shape != (basis.N,):
        raise ElasticityError(
            f"youngs_modulus: expected {basis.N} values (one per {element} dof, basis.doflocs), "
            f"got shape {modulus.shape}"
        )
    if not np.all(np.isfinite(modulus)) or modulus.min() <= 0.0:
        raise ElasticityError(
            f"youngs_modulus: expected finite values > 0, got minimum {np.nanmin(modulus)!r}"
        )
    at_quadrature = basis.interpolate(modulus)
    if at_quadrature.min() <= 0.0:
        raise ElasticityError(
            f"youngs_modulus: its {element} interpolant is <= 0 inside an element (minimum "
            f"{at_quadrature.min():.3g}); a jump too sharp for {element}: smooth the field"
        )
    return at_quadrature


def _pinned_dofs(
    mesh: skfem.MeshTri, basis: skfem.Basis, pinned: Sequence[tuple[float, float, int]]
) -> tuple[np.ndarray, np.ndarray]:
    """The vector dofs of the pinned (x, y, component) constraints, at the nearest vertices, and
    the rigid motions (1, 0), (0, 1), (−y, x) evaluated there: shape (len(pinned), 3)."""
    dofs, rigid = [], []
    for constraint in pinned:
        if len(constraint) != 3 or constraint[2] not in (0, 1):
            raise ElasticityError(
                f"pinned: expected (x, y, component) with component 0 (x) or 1 (y), got "
                f"{constraint!r}"
            )
        if not np.all(np.isfinite(constraint[:2])):
            raise ElasticityError(f"pinned: expected finite coordinates, got {constraint!r}")
        x, y, component = float(constraint[0]), float(constraint[1]), int(constraint[2])
        vertex = np.argmin((mesh.p[0] - x) ** 2 + (mesh.p[1] - y) ** 2)
        dofs.append(basis.nodal_dofs[component, vertex])
        vx, vy = mesh.p[:, vertex]
        rigid.append([1.0, 0.0, -vy] if component == 0 else [0.0, 1.0, vx])
    return np.asarray(dofs, dtype=np.int64), np.asarray(rigid).reshape(-1, 3)
