r"""Finite differences on the node grid of the unit square, ``x_i = i h``, ``h = 1/(s-1)``.

The one operator here is the conservative 5-point discretisation of ``-div(a grad u)`` with
homogeneous Dirichlet conditions, acting on the ``(s-2)²`` interior nodes (C order, axis 0 = x):

    (L u)_P = h^{-2} [ (a_e + a_w + a_n + a_s) u_P - a_e u_E - a_w u_W - a_n u_N - a_s u_S ],

with ``a_e = avg(a_P, a_E)`` etc. on the faces (arithmetic mean, as the classic FNO Darcy solver,
or harmonic mean, the flux-continuous choice for discontinuous coefficients). ``L`` is symmetric
positive definite and second-order accurate for smooth ``a`` and ``u``. With ``a ≡ 1`` it is the
5-point Laplacian.
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


def diffusion_operator(a: np.ndarray, average: FaceAverage = "arithmetic") -> sp.csr_matrix:
    """The SPD matrix of ``-div(a grad ·)`` on the interior nodes of the ``s×s`` grid of ``a``."""
    if a.ndim != 2 or a.shape[0] != a.shape[1] or a.shape[0] < 3:
        raise ValueError(f"coefficient: expected an s×s array with s >= 3, got shape {a.shape}")
    if not np.all(np.isfinite(a)) or np.any(a <= 0):
        raise ValueError("coefficient: expected finite values > 0 (an elliptic problem)")
    s = a.shape[0]
    n = s - 2
    h2 = (1.0 / (s - 1)) ** 2
    mean = _face_mean(average)
    ax = mean(a[:-1, :], a[1:, :])[:, 1:-1]  # faces between i and i+1, interior j: (s-1, n)
    ay = mean(a[:, :-1], a[:, 1:])[1:-1, :]  # faces between j and j+1, interior i: (n, s-1)
    diag = (ax[:-1, :] + ax[1:, :] + ay[:, :-1] + ay[:, 1:]) / h2
    index = np.arange(n * n).reshape(n, n)
    rows = [index.ravel()]
    cols = [index.ravel()]
    vals = [diag.ravel()]
    # couplings across interior x-faces (i, i+1) and y-faces (j, j+1), both directions
    for left, right, coef in (
        (index[:-1, :], index[1:, :], ax[1:-1, :]),
        (index[:, :-1], index[:, 1:], ay[:, 1:-1]),
    ):
        off = -coef.ravel() / h2
        rows += [left.ravel(), right.ravel()]
        cols += [right.ravel(), left.ravel()]
        vals += [off, off]
    return sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n * n, n * n)
    )


def solve_dirichlet(
    a: np.ndarray, f: np.ndarray, average: FaceAverage = "arithmetic"
) -> np.ndarray:
    """Solve ``-div(a grad u) = f``, ``u = 0`` on the boundary; ``a``, ``f`` and ``u`` on all nodes.

    A sparse direct solve (SuperLU with a symmetric fill-reducing ordering) of the 5-point system.
    """
    if f.shape != a.shape:
        raise ValueError(
            f"forcing: expected shape {a.shape} (that of the coefficient), got {f.shape}"
        )
    matrix = diffusion_operator(a, average)
    u = np.zeros_like(a, dtype=float)
    rhs = f[1:-1, 1:-1].ravel()
    u[1:-1, 1:-1] = (
        spla.splu(matrix.tocsc(), permc_spec="MMD_AT_PLUS_A").solve(rhs).reshape(a.shape[0] - 2, -1)
    )
    return u


def _face_mean(average: FaceAverage):
    if average == "arithmetic":
        return lambda p, q: 0.5 * (p + q)
    if average == "harmonic":
        return lambda p, q: 2.0 * p * q / (p + q)
    raise ValueError(f"average: expected 'arithmetic' or 'harmonic', got {average!r}")
