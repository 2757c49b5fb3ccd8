r"""The heat equation on a triangle mesh: P1/P2 finite elements in space, the θ-scheme in time.

The problem, on a polygon Ω with boundary parts named in ``mesh.boundaries``, is

    ∂u/∂t − div(κ grad u) = f    in Ω × (0, T],
    u = 0                        on the Dirichlet parts Γ_D (default: the whole boundary),
    κ ∂u/∂n = 0                  on the rest of the boundary,
    u(·, 0) = u0,

with κ(x) > 0 a diffusivity and f(x) a source that does not depend on time. All quantities are
nondimensional (any consistent unit system works: κ in [length²/time], f in [u/time]).

Space: u_h(t) lies in V_h = {v in P_k(Ω) continuous, v = 0 on Γ_D} (k = 1 or 2, Lagrange), and
κ and f are the finite-element interpolants of their values at the dofs. The weak form is

    (∂u_h/∂t, v) + (κ grad u_h, grad v) = (f, v)    for all v in V_h,

i.e. M du/dt + K u = M f with the mass matrix M_ij = (φ_j, φ_i) and the stiffness matrix
K_ij = (κ grad φ_j, grad φ_i), both restricted to the free dofs.

Time: the θ-scheme with step h,

    (M + θ h K) u^{n+1} = (M − (1 − θ) h K) u^n + h M f,

is Crank–Nicolson (second order) for θ = 1/2 and backward Euler (first order) for θ = 1. Only
θ in [1/2, 1] is accepted: exactly then the scheme is unconditionally stable. In the
M-orthonormal eigenvectors of K v = λ M v a mode is multiplied per step by
r(hλ) = (1 − (1 − θ) hλ) / (1 + θ hλ), and |r| <= 1 for every hλ >= 0 iff θ >= 1/2; with θ < 1/2
the step would have to satisfy h <= 2 / ((1 − 2θ) λ_max) with λ_max ~ (mesh size)^-2. The same
argument shows that for f = 0 the discrete energy ||u^n||_M = sqrt(u^n · M u^n) (the L2 norm of
u_h) never increases.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral, Real

import numpy as np
import skfem
from scipy.sparse.linalg import splu
from skfem import BilinearForm, ElementTriP1, ElementTriP2, condense
from skfem.helpers import dot, grad

from data_gen.checks import positive_finite, steps_per_interval
from data_gen.fem.mesh import require_boundaries

__all__ = ["ELEMENTS", "solve_heat"]

ELEMENTS = {"P1": ElementTriP1, "P2": ElementTriP2}
"""The Lagrange elements ``solve_heat`` accepts, by name."""


@BilinearForm
def _mass(u, v, _):
    return u * v


@BilinearForm
def _stiffness(u, v, w):
    return w.kappa * dot(grad(u), grad(v))


def _dof_values(name: str, value: np.ndarray | float, n_dofs: int) -> np.ndarray:
    """``value`` as a float64 array of the ``n_dofs`` dof values (a real scalar is broadcast)."""
    arr = np.asarray(value)
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise ValueError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if arr.ndim == 0:
        arr = np.full(n_dofs, arr, dtype=np.float64)
    elif arr.shape != (n_dofs,):
        raise ValueError(
            f"{name} must be a scalar or hold one value per dof, shape ({n_dofs},), "
            f"got shape {arr.shape}"
        )
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} must contain only finite values")
    return arr.astype(np.float64)


def solve_heat(
    mesh: skfem.MeshTri,
    *,
    element: str,
    u0: np.ndarray,
    kappa: np.ndarray | float,
    t_end: float,
    n_snapshots: int,
    dt: float,
    theta: float = 0.5,
    dirichlet: Sequence[str] | None = None,
    source: np.ndarray | None = None,
) -> tuple[np.ndarray, skfem.Basis]:
    """Solve ∂u/∂t − div(κ grad u) = f with u = 0 on the Dirichlet parts, from u(·, 0) = u0.

    P1 or P2 Lagrange elements in space, the θ-scheme in time; see the module docstring for the
    weak form and the scheme. The matrix M + θ h K is assembled and LU-factorised once.

    Parameters
    ----------
    mesh : skfem.MeshTri
        The triangulation of Ω; named boundary parts in ``mesh.boundaries``.
    element : {"P1", "P2"}
        The Lagrange element of the space.
    u0 : float or (n_dofs,) array
        Initial values at the dofs, i.e. at ``basis.doflocs`` of the returned basis
        (``skfem.Basis(mesh, ELEMENTS[element]())``). Values at Dirichlet dofs are replaced by the
        boundary value 0.
    kappa : float or (n_dofs,) array
        Diffusivity κ at the dofs, > 0. For P2 its interpolant must also be > 0 at the
        quadrature points (quadratic interpolation can undershoot between positive dof values).
    t_end : float
        Final time T, > 0.
    n_snapshots : int
        Number of equally spaced output times t_k = k T / n_snapshots, k = 1..n_snapshots
        (t = 0 is not included), >= 1.
    dt : float
        Largest time step, > 0. Each interval of length Δ = T / n_snapshots between snapshots is
        covered by m = ceil(Δ / dt) equal steps h = Δ / m, so every snapshot time is hit exactly.
    theta : float
        The implicitness θ in [1/2, 1]: 1/2 Crank–Nicolson, 1 backward Euler. Smaller values are
        refused because they are only conditionally stable (module docstring).
    dirichlet : sequence of str, optional
        Names of the boundary parts (keys of ``mesh.boundaries``) where u = 0; ``None`` means the
        whole boundary, ``[]`` none (homogeneous Neumann everywhere).
    source : float or (n_dofs,) array, optional
        Time-independent source f at the dofs; ``None`` means f = 0.

    Returns
    -------
    snapshots : (n_snapshots, n_dofs) float64 array
        u_h(t_k) at the dofs; row k − 1 holds time t_k.
    basis : skfem.Basis
        The scalar basis whose dofs the values refer to.

    Raises
    ------
    ValueError
        If an argument is invalid; the message names it and says what was expected.
    """
    if not isinstance(mesh, skfem.MeshTri):
        raise ValueError(f"mesh must be a skfem.MeshTri, got {type(mesh).__name__}")
    if element not in ELEMENTS:
        raise ValueError(f"element must be one of {', '.join(ELEMENTS)}, got {element!r}")
    t_end = positive_finite("t_end", t_end)
    dt = positive_finite("dt", dt)
    if isinstance(n_snapshots, bool) or not isinstance(n_snapshots, Integral) or n_snapshots < 1:
        raise ValueError(f"n_snapshots must be an integer >= 1, got {n_snapshots!r}")
    if isinstance(theta, bool) or not isinstance(theta, Real) or not 0.5 <= theta <= 1.0:
        raise ValueError(
            f"theta must be a real number in [0.5, 1] (the unconditionally stable θ-schemes: "
            f"0.5 Crank–Nicolson, 1 backward Euler), got {theta!r}"
        )
    if isinstance(dirichlet, str):
        raise ValueError(f"dirichlet must be a sequence of boundary names, got {dirichlet!r}")

    basis = skfem.Basis(mesh, ELEMENTS[element]())
    u = _dof_values("u0", u0, basis.N)
    kappa_dofs = _dof_values("kappa", kappa, basis.N)
    kappa_q = basis.interpolate(kappa_dofs)
    if np.any(kappa_dofs <= 0) or np.any(kappa_q <= 0):
        raise ValueError(
            "kappa must be > 0 at every dof and at every quadrature point (an elliptic "
            f"operator), got a minimum of {min(kappa_dofs.min(), kappa_q.min()):.6g}"
        )
    f = None if source is None else _dof_values("source", source, basis.N)

    if dirichlet is None:
        fixed = basis.get_dofs().flatten()
    elif len(dirichlet) == 0:
        fixed = np.zeros(0, dtype=np.int64)
    else:
        require_boundaries(mesh, dirichlet, "dirichlet")
        fixed = basis.get_dofs(list(dirichlet)).flatten()

    interval = t_end / n_snapshots
    m = steps_per_interval(interval, dt)
    h = interval / m

    mass = _mass.assemble(basis)
    stiff = _stiffness.assemble(basis, kappa=kappa_q)
    # u = 0 on the Dirichlet dofs, so the condensed systems need no boundary lift.
    implicit = splu(condense(mass + theta * h * stiff, D=fixed, expand=False).tocsc())
    explicit = condense(mass - (1.0 - theta) * h * stiff, D=fixed, expand=False)
    free = basis.complement_dofs(fixed)
    load = h * (mass @ f)[free] if f is not None else 0.0

    out = np.zeros((n_snapshots, basis.N), dtype=np.float64)
    v = u[free]
    for snap in range(n_snapshots):
        for _ in range(m):
            v = implicit.solve(explicit @ v + load)
        out[snap, free] = v
    return out, basis
