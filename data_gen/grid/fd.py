r"""Finite differences on the unit square, on the node grid or the cell-centred grid.

The one operator here is the conservative 5-point discretisation of ``-div(a grad u)`` with
homogeneous Dirichlet conditions (C order, axis 0 = x):

    (L u)_P = h^{-2} [ (a_e + a_w + a_n + a_s) u_P - a_e u_E - a_w u_W - a_n u_N - a_s u_S ],

with ``a_e = avg(a_P, a_E)`` etc. on the faces (arithmetic mean, as the classic FNO Darcy solver,
or harmonic mean, the flux-continuous choice for discontinuous coefficients), on two grids:

* **nodes** ``x_i = i h``, ``h = 1/(s-1)``, boundary included: the unknowns are the ``(s-2)²``
  interior nodes, ``u = 0`` on the boundary nodes (``diffusion_operator``, ``solve_dirichlet``);
* **cells** ``x_i = (i + ½) h``, ``h = 1/s`` (the cell-centred grid of FNO's random fields): all
  ``s²`` cells are unknowns and ``u = 0`` on the boundary *faces*, half a cell away, so a boundary
  face's coefficient is ``2 a_P`` (flux ``a_P (0 - u_P) / (h/2)``; ``solve_dirichlet_cells``).

``L`` is symmetric positive definite and second-order accurate for smooth ``a`` and ``u`` on both
grids. With ``a ≡ 1`` on the nodes it is the 5-point Laplacian.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

FaceAverage = Literal["arithmetic", "harmonic"]


def node_grid(s: int) -> np.ndarray:
    """The ``s`` nodes ``i/(s-1)`` of [0, 1], boundary included."""
    return np.linspace(0.0, 1.0, s)


def cell_grid(s: int) -> np.ndarray:
    """The ``s`` cell centres ``(i + ½)/s`` of [0, 1]."""
    return (np.arange(s) + 0.5) / s


def diffusion_operator(a: np.ndarray, average: FaceAverage = "arithmetic") -> sp.csr_matrix:
    """The SPD matrix of ``-div(a grad ·)`` on the interior nodes of the ``s×s`` node grid of
    ``a``."""
    _check_coefficient(a, minimum=3)
    mean = _face_mean(average)
    ax = mean(a[:-1, :], a[1:, :])[:, 1:-1]  # faces between i and i+1, interior j: (s-1, s-2)
    ay = mean(a[:, :-1], a[:, 1:])[1:-1, :]  # faces between j and j+1, interior i: (s-2, s-1)
    return _five_point(ax, ay, (a.shape[0] - 1) ** 2)


def cell_diffusion_operator(a: np.ndarray, average: FaceAverage = "arithmetic") -> sp.csr_matrix:
    """The SPD matrix of ``-div(a grad ·)`` on the ``s×s`` cells of ``a``, ``u = 0`` on the
    boundary faces (see the module docstring)."""
    _check_coefficient(a, minimum=2)
    mean = _face_mean(average)
    ax = np.concatenate([2 * a[:1, :], mean(a[:-1, :], a[1:, :]), 2 * a[-1:, :]], axis=0)
    ay = np.concatenate([2 * a[:, :1], mean(a[:, :-1], a[:, 1:]), 2 * a[:, -1:]], axis=1)
    return _five_point(ax, ay, a.shape[0] ** 2)


def _five_point(ax: np.ndarray, ay: np.ndarray, inverse_h2: float) -> sp.csr_matrix:
    """The 5-point matrix on ``n×n`` unknowns from the coefficients on all their faces: ``ax``
    (n+1, n) on the faces across axis 0 (first and last on the boundary), ``ay`` (n, n+1)."""
    n = ay.shape[0]
    diag = (ax[:-1, :] + ax[1:, :] + ay[:, :-1] + ay[:, 1:]) * inverse_h2
    index = np.arange(n * n).reshape(n, n)
    rows = [index.ravel()]
    cols = [index.ravel()]
    vals = [diag.ravel()]
    # couplings across interior x-faces (i, i+1) and y-faces (j, j+1), both directions
    for left, right, coef in (
        (index[:-1, :], index[1:, :], ax[1:-1, :]),
        (index[:, :-1], index[:, 1:], ay[:, 1:-1]),
    ):
        off = -coef.ravel() * inverse_h2
        rows += [left.ravel(), right.ravel()]
        cols += [right.ravel(), left.ravel()]
        vals += [off, off]
    return sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n * n, n * n)
    )


def _check_coefficient(a: np.ndarray, minimum: int) -> None:
    if a.ndim != 2 or a.shape[0] != a.shape[1] or a.shape[0] < minimum:
        raise ValueError(
            f"coefficient: expected an s×s array with s >= {minimum}, got shape {a.shape}"
        )
    if not np.all(np.isfinite(a)) or np.any(a <= 0):
        raise ValueError("coefficient: expected finite values > 0 (an elliptic problem)")


def _check_forcing(a: np.ndarray, f: np.ndarray) -> None:
    if f.shape != a.shape:
        raise ValueError(
            f"forcing: expected shape {a.shape} (that of the coefficient), got {f.shape}"
        )


def _direct_solve(matrix: sp.csr_matrix, rhs: np.ndarray) -> np.ndarray:
    """SuperLU with a symmetric fill-reducing ordering."""
    return spla.splu(matrix.tocsc(), permc_spec="MMD_AT_PLUS_A").solve(rhs)


def solve_dirichlet(
    a: np.ndarray, f: np.ndarray, average: FaceAverage = "arithmetic"
) -> np.ndarray:
    """Solve ``-div(a grad u) = f``, ``u = 0`` on the boundary; ``a``, ``f`` and ``u`` on all nodes.

    A sparse direct solve of the 5-point system.
    """
    _check_forcing(a, f)
    matrix = diffusion_operator(a, average)
    u = np.zeros_like(a, dtype=float)
    u[1:-1, 1:-1] = _direct_solve(matrix, f[1:-1, 1:-1].ravel()).reshape(a.shape[0] - 2, -1)
    return u


def solve_dirichlet_cells(
    a: np.ndarray, f: np.ndarray, average: FaceAverage = "arithmetic"
) -> np.ndarray:
    """Solve ``-div(a grad u) = f``, ``u = 0`` on the boundary; ``a``, ``f`` and ``u`` on the
    cell-centred grid. A sparse direct solve of the 5-point system."""
    _check_forcing(a, f)
    matrix = cell_diffusion_operator(a, average)
    return _direct_solve(matrix, f.ravel()).reshape(a.shape)


def _face_mean(average: FaceAverage):
    if average == "arithmetic":
        return lambda p, q: 0.5 * (p + q)
    if average == "harmonic":
        return lambda p, q: 2.0 * p * q / (p + q)
    raise ValueError(f"average: expected 'arithmetic' or 'harmonic', got {average!r}")
