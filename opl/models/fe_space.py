r"""Lagrange finite-element spaces on triangle meshes, with the operators the SPON models need.

``FESpace(mesh, "P1" | "P2")`` is the space V_h of continuous piecewise polynomials of degree k on
a scikit-fem ``MeshTri``, with basis functions φ_1 … φ_n (one per dof, at ``positions``). An FE
function is its dof vector u, u_h(x) = Σ_i u_i φ_i(x). The space provides

* the mass matrix ``M_ij = ∫ φ_i φ_j dx`` (exact quadrature, order 2k) and its sparse LU
  factorisation (SuperLU, symmetric mode: M is symmetric positive definite), computed once, and
  the stiffness matrix ``K_ij = ∫ ∇φ_i · ∇φ_j dx``;
* the mixed mass matrix ``M^{VW}_ij = ∫ φ_i ψ_j dx`` with the basis ψ of another space W on the
  same mesh, so that the L2 (Galerkin) projection of w_h ∈ W onto V_h is ``M⁻¹ M^{VW} w``;
* evaluation matrices: ``E(points) u = (u_h(p_1), …, u_h(p_m))`` -- Lagrange interpolation of
  u_h into any other space (or mesh) is ``E(other.positions) u``; for nested spaces V_c ⊂ V_f this
  is the prolongation, exact;
* the dof graph (two dofs are joined when they share a triangle: the sparsity of M) and the dofs of
  each named boundary part.

In torch, ``SparseMatrix`` applies any of these matrices (a CSR product on any device; gather
and ``index_add`` under ``torch.export`` and the ONNX exporter), and ``MassSolver`` is the solve
``M a = b``: a fixed number of Chebyshev iterations preconditioned by the diagonal of M.
The eigenvalues of D⁻¹M lie within those of the element matrices D_e⁻¹M_e (Wathen, 1987), which do
not depend on the triangle's shape: [1/2, 2] for P1, [0.3924, 2.0598] for P2 (``mass_bounds``).
So the iteration count for a tolerance is known in advance and the same on every mesh: 26 steps
for P1 and 31 for P2 reach 1e-12 in float64, 16 and 18 reach 1e-7 in float32
(``MASS_TOLERANCE``; Chebyshev's bound 2 ((√κ - 1)/(√κ + 1))^k on the M-norm error). The
solve is a fixed polynomial in D⁻¹M applied to D⁻¹b, symmetric, so autograd through it is the
exact adjoint.
"""

from __future__ import annotations

import functools
import hashlib
import warnings
from collections.abc import Iterable

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import skfem
import torch
from skfem.helpers import dot, grad

ELEMENTS = {"P1": skfem.ElementTriP1, "P2": skfem.ElementTriP2}
"""The Lagrange elements by name: continuous piecewise linears and quadratics on triangles."""
POSITION_TOLERANCE = 1e-9
"""Dof coordinates of a space built here and those a dataset stores may differ by this much (file
round-off)."""
INSIDE_TOLERANCE = 1e-10
"""A point is inside a triangle when its barycentric coordinates are all >= -this."""
MASS_TOLERANCE = {torch.float64: 1e-12, torch.float32: 1e-7}
"""Bound on the relative M-norm error of ``MassSolver`` by dtype: well below float64 round-off,
and at float32's (other dtypes: float32's)."""


@skfem.BilinearForm
def _mass(u, v, _):
    """m(u, v) = ∫ u v."""
    return u * v


@skfem.BilinearForm
def _stiffness(u, v, _):
    """k(u, v) = ∫ ∇u · ∇v."""
    return dot(grad(u), grad(v))


class FESpace:
    """The Lagrange space ``element`` on ``mesh`` (see the module docstring)."""

    def __init__(self, mesh: skfem.MeshTri, element: str = "P1") -> None:
        if element not in ELEMENTS:
            raise ValueError(f"element: expected one of {', '.join(ELEMENTS)}, got {element!r}")
        self.mesh = mesh
        self.element = element
        self.degree = 1 if element == "P1" else 2
        self.basis = skfem.Basis(mesh, ELEMENTS[element](), intorder=2 * self.degree)
        self.n_dofs = int(self.basis.N)
        self.positions = np.ascontiguousarray(self.basis.doflocs.T)
        """(n, 2) coordinates of the dofs: u_i = u_h(positions[i])."""
        self.mass = _mass.assemble(self.basis).tocsr()

    @functools.cached_property
    def stiffness(self) -> sp.csr_matrix:
        """``K_ij = ∫ ∇φ_i · ∇φ_j`` (exact quadrature)."""
        return _stiffness.assemble(self.basis).tocsr()

    @functools.cached_property
    def _factor(self) -> spla.SuperLU:
        return spla.splu(
            self.mass.tocsc(),
            permc_spec="MMD_AT_PLUS_A",
            diag_pivot_thresh=0.0,
            options={"SymmetricMode": True},
        )

    def solve_mass(self, rhs: np.ndarray) -> np.ndarray:
        """``M⁻¹ rhs`` for ``rhs`` of shape (n,) or (n, k), by the precomputed factorisation."""
        return self._factor.solve(np.asarray(rhs, dtype=np.float64))

    def mixed_mass(self, other: FESpace) -> sp.csr_matrix:
        """``M^{VW}_ij = ∫ φ_i ψ_j``: φ of this space (rows), ψ of ``other`` on the same mesh."""
        if other.mesh is not self.mesh:
            raise ValueError("mixed_mass: the two spaces must be built on the same mesh object")
        order = self.degree + other.degree
        test = skfem.Basis(self.mesh, ELEMENTS[self.element](), intorder=order)
        trial = skfem.Basis(self.mesh, ELEMENTS[other.element](), intorder=order)
        return _mass.assemble(trial, test).tocsr()

    def projection(self, other: FESpace) -> np.ndarray:
        """The dense matrix of the L2 projection W_h -> V_h, ``M⁻¹ M^{VW}`` (for small checks)."""
        return self.solve_mass(self.mixed_mass(other).toarray())

    def evaluation_matrix(self, points: np.ndarray) -> sp.csr_matrix:
        """The (m, n) matrix E with ``(E u)_k = u_h(points[k])`` for points (m, 2).

        Each point is evaluated in the triangle that contains it; a point outside the mesh (another
        mesh's polygonal approximation of a curved boundary) uses the polynomial of the nearest
        triangle -- the one whose smallest barycentric coordinate is largest -- extended beyond it.
        """
        points = np.asarray(points, dtype=np.float64)
        if points.ndim != 2 or points.shape[1] != 2:
            raise ValueError(f"points: expected an (m, 2) array, got shape {points.shape}")
        cells = self._containing_cells(points)
        local = self.basis.mapping.invF(points.T[:, :, None], tind=cells)
        values = np.array(
            [
                np.asarray(self.basis.elem.gbasis(self.basis.mapping, local, k, tind=cells)[0])[
                    :, 0
                ]
                for k in range(self.basis.Nbfun)
            ]
        )  # (local basis function, point)
        rows = np.tile(np.arange(len(points)), self.basis.Nbfun)
        cols = self.basis.element_dofs[:, cells].ravel()
        matrix = sp.coo_matrix((values.ravel(), (rows, cols)), shape=(len(points), self.n_dofs))
        return matrix.tocsr()

    def _containing_cells(self, points: np.ndarray) -> np.ndarray:
        mesh = self.mesh
        centroids = mesh.p[:, mesh.t].mean(axis=1).T
        tree = _kd_tree(centroids)
        k = min(8, mesh.t.shape[1])
        candidates = tree.query(points, k)[1].reshape(len(points), k)
        score = self._inside_score(points, candidates)
        best = candidates[np.arange(len(points)), score.argmax(1)]
        lost = np.flatnonzero(score.max(1) < -INSIDE_TOLERANCE)
        if lost.size:  # outside the mesh, or in a triangle whose centroid is far: search all
            every = np.broadcast_to(np.arange(mesh.t.shape[1]), (lost.size, mesh.t.shape[1]))
            best[lost] = every[0, self._inside_score(points[lost], every).argmax(1)]
        return best

    def _inside_score(self, points: np.ndarray, cells: np.ndarray) -> np.ndarray:
        """min over the barycentric coordinates of each point in each of its candidate cells."""
        p = self.mesh.p[:, self.mesh.t[:, cells]]  # (2, 3, m, k)
        a, b, c = p[:, 0], p[:, 1], p[:, 2]
        x = points.T[:, :, None]
        det = (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
        l1 = ((x[0] - a[0]) * (c[1] - a[1]) - (x[1] - a[1]) * (c[0] - a[0])) / det
        l2 = ((b[0] - a[0]) * (x[1] - a[1]) - (b[1] - a[1]) * (x[0] - a[0])) / det
        return np.minimum(np.minimum(l1, l2), 1.0 - l1 - l2)

    def interpolate_to(self, other: FESpace, u: np.ndarray) -> np.ndarray:
        """The dofs, in ``other``, of the Lagrange interpolant of the FE function ``u`` (…, n)."""
        return np.asarray((self.evaluation_matrix(other.positions) @ np.asarray(u).T).T)

    def function(self, u: np.ndarray) -> skfem.DiscreteField:
        """The FE function of dofs ``u`` at the quadrature points of ``basis`` (scikit-fem's
        ``basis.interpolate``: values ``.value`` and gradients ``.grad``, per element)."""
        return self.basis.interpolate(np.asarray(u, dtype=np.float64))

    def edges(self) -> np.ndarray:
        """(2, E) dof pairs that share a triangle, both directions, no self-loops, sorted."""
        dofs = self.basis.element_dofs.T  # (cells, local dofs)
        local = [(a, b) for a in range(dofs.shape[1]) for b in range(dofs.shape[1]) if a != b]
        pairs = np.unique(np.concatenate([dofs[:, [a, b]] for a, b in local]), axis=0)
        return np.ascontiguousarray(pairs.T.astype(np.int64))

    @property
    def boundary_names(self) -> list[str]:
        """The mesh's named boundary parts, sorted."""
        return sorted(self.mesh.boundaries or {})

    def boundary_dofs(self, names: Iterable[str]) -> np.ndarray:
        """The sorted dofs on the boundary parts ``names`` (vertices and, for P2, edge dofs)."""
        names = list(names)
        unknown = [n for n in names if n not in self.boundary_names]
        if unknown:
            raise ValueError(
                f"dirichlet: unknown boundary {unknown[0]!r}; the mesh has: "
                f"{', '.join(self.boundary_names) or 'none'}"
            )
        parts = [self.basis.get_dofs(n).all() for n in names]
        return np.unique(np.concatenate(parts or [np.empty(0, np.int64)])).astype(np.int64)

    def boundary_indicator(self) -> np.ndarray:
        """(n, parts) float: column b is 1 on the dofs of boundary part ``boundary_names[b]``."""
        out = np.zeros((self.n_dofs, len(self.boundary_names)))
        for column, name in enumerate(self.boundary_names):
            out[self.boundary_dofs([name]), column] = 1.0
        return out

    def fingerprint(self) -> str:
        """SHA-256 of the mesh (vertex coordinates rounded to 1e-12, triangles) and the element."""
        digest = hashlib.sha256(self.element.encode())
        digest.update(np.round(self.mesh.p, 12).astype(np.float64).tobytes())
        digest.update(self.mesh.t.astype(np.int64).tobytes())
        return digest.hexdigest()


def _kd_tree(points: np.ndarray):
    from scipy.spatial import cKDTree

    return cKDTree(points)


class SparseMatrix(torch.nn.Module):
    """A fixed sparse matrix (m, n) applied to ``x`` (n, k) -> (m, k), as buffers (rows,
    columns, values in float64, cast to the input's dtype).

    It runs as a CSR product (built once per device and dtype), except under ``torch.export``
    (and so the ONNX exporter), which cannot hold sparse tensors: there it is a gather and an
    ``index_add`` of plain tensors, the same sum in another order (7x slower on the CPU for 256
    columns, measured; the tests check that both agree)."""

    def __init__(self, matrix: sp.spmatrix) -> None:
        super().__init__()
        coo = matrix.tocoo()
        self.shape = coo.shape
        self.register_buffer("rows", torch.from_numpy(coo.row.astype(np.int64)), persistent=False)
        self.register_buffer("cols", torch.from_numpy(coo.col.astype(np.int64)), persistent=False)
        values = torch.from_numpy(coo.data.astype(np.float64))
        self.register_buffer("values", values, persistent=False)
        self._csr: dict[tuple[torch.device, torch.dtype], torch.Tensor] = {}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values = self.values.to(x.dtype)
        if torch.compiler.is_exporting():
            out = x.new_zeros((self.shape[0], *x.shape[1:]))
            return out.index_add(0, self.rows, values[:, None] * x[self.cols])
        key = (x.device, x.dtype)
        if key not in self._csr:
            index = torch.stack([self.rows, self.cols]).to(x.device)
            coo = torch.sparse_coo_tensor(
                index, values.to(x.device), self.shape, check_invariants=True
            )
            with warnings.catch_warnings():
                # torch's notice that CSR is "in beta" asks nothing of a user
                warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
                self._csr[key] = coo.coalesce().to_sparse_csr()
        return self._csr[key] @ x


@functools.cache
def mass_bounds(element: str) -> tuple[float, float]:
    """The extreme eigenvalues of D_e⁻¹M_e of one ``element`` triangle (any shape: the ratio is
    affine-invariant), which bound those of D⁻¹M on every mesh."""
    corners = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    triangle = skfem.MeshTri(corners, np.array([[0], [1], [2]]))
    mass = FESpace(triangle, element).mass.toarray()
    scale = 1 / np.sqrt(np.diag(mass))
    eigenvalues = np.linalg.eigvalsh(scale[:, None] * mass * scale[None, :])
    return float(eigenvalues[0]), float(eigenvalues[-1])


class MassSolver(torch.nn.Module):
    """``a = M⁻¹ b`` for ``b`` (n, k) on ``space``: ``steps(dtype)`` Chebyshev iterations with
    the diagonal of M as preconditioner, in the bounds of ``mass_bounds`` (module docstring;
    Saad, Iterative Methods, Alg. 12.1), enough for ``MASS_TOLERANCE``."""

    def __init__(self, space: FESpace) -> None:
        super().__init__()
        low, high = mass_bounds(space.element)
        low, high = 0.999 * low, 1.001 * high  # a margin for the round-off of the bounds
        self.theta, self.delta = (high + low) / 2, (high - low) / 2
        self.rate = (np.sqrt(high / low) - 1) / (np.sqrt(high / low) + 1)
        self.mass = SparseMatrix(space.mass)
        inverse_diagonal = torch.from_numpy(1 / space.mass.diagonal())
        self.register_buffer("inverse_diagonal", inverse_diagonal[:, None], persistent=False)

    def steps(self, dtype: torch.dtype) -> int:
        """Iterations that bring the error bound below ``MASS_TOLERANCE`` of ``dtype``."""
        tolerance = MASS_TOLERANCE.get(dtype, MASS_TOLERANCE[torch.float32])
        return int(np.ceil(np.log(tolerance / 2) / np.log(self.rate)))

    def forward(self, rhs: torch.Tensor) -> torch.Tensor:
        if rhs.dim() != 2 or rhs.shape[0] != self.mass.shape[0]:
            raise ValueError(
                f"mass solve: expected a right-hand side of shape ({self.mass.shape[0]}, k), got "
                f"{tuple(rhs.shape)}"
            )
        inverse_diagonal = self.inverse_diagonal.to(rhs.dtype)
        sigma = self.theta / self.delta
        direction = inverse_diagonal * rhs / self.theta
        solution = direction
        previous = 1 / sigma
        for _ in range(self.steps(rhs.dtype) - 1):
            residual = rhs - self.mass(solution)
            current = 1 / (2 * sigma - previous)
            direction = current * previous * direction + (2 * current / self.delta) * (
                inverse_diagonal * residual
            )
            solution = solution + direction
            previous = current
        return solution
