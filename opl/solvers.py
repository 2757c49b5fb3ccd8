r"""A trained operator inside classical iterative solvers: the answer is always the solver's.

A linear system ``A x = b`` from a PDE on a grid (``GridSystem``: the sparse matrix, the right-hand
side, and the map between the unknowns and fields on the grid; ``darcy_system``,
``helmholtz_system``) is solved to ``||b - A x|| <= rtol ||b||`` -- checked on the true residual
at the end of every solver here -- with the operator's help in three ways:

* **warm start** (``warm_start``): the operator's prediction of the solution is the initial guess
  of any Krylov method (``krylov``: SciPy's CG / GMRES with any preconditioner, pyamg's among
  them);
* **preconditioner** (``OperatorCorrection``): an operator trained on *residual -> error* (the
  map r -> A⁻¹r, for the same coefficient fields) approximates the inverse; it is nonlinear, so
  it drives the flexible methods ``fcg`` (truncated flexible CG, Notay 2000) and ``fgmres``
  (Saad 1993), which allow a preconditioner that changes from step to step. The error is linear
  in r, so the operator sees r scaled like its training sources and its answer is scaled back;
* **hybrid relaxation** (``Hybrid``): smoother sweeps (damped Jacobi, or Gauss-Seidel forward
  before and backward after) alternate with the operator's correction of the residual, as in
  the hybrid iterative methods of Zhang et al. (HINTS, 2022): the smoother removes the rough part
  of the error, which networks learn badly, the operator the smooth part, which smoothers remove
  slowly. One cycle is the stationary iteration ``x <- x + B(b - A x)`` (``relaxation``) or a
  preconditioner of ``fcg`` / ``fgmres``.

Every solver returns a ``SolveResult``: the solution, the iterations (one preconditioner
application each), the relative residual history, and the wall time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from opl.errors import OplInputError

Preconditioner = Callable[[np.ndarray], np.ndarray | tuple[np.ndarray, ...]]
"""r -> an approximation of A⁻¹ r, or several directions whose span the solvers search."""


@dataclass
class SolveResult:
    """What a solve returns: ``x`` with ``||b - A x|| <= rtol ||b||`` when ``converged``."""

    x: np.ndarray
    iterations: int
    residuals: list[float]
    """||b - A x_k|| / ||b|| after each iteration (the first entry: the initial guess)."""
    converged: bool
    seconds: float


@dataclass
class GridSystem:
    """``matrix`` x = ``rhs`` whose unknowns are the values of a field on a grid of ``shape`` at
    the flat grid indices ``unknowns`` (the others are fixed at 0, e.g. Dirichlet nodes).

    ``weights`` scale each row (x-independent; 1 where the rows are not scaled): the residual
    of the unknown equations ``r`` is the field ``r / weights`` of the unscaled PDE's source.
    Complex systems give fields with a leading channel of 2 (real, imaginary parts), real ones
    of 1. ``conditions`` are the coefficient fields the system was made from (C, *shape).
    """

    matrix: sp.csr_matrix
    rhs: np.ndarray
    shape: tuple[int, ...]
    unknowns: np.ndarray
    conditions: np.ndarray
    weights: np.ndarray | None = None

    @property
    def complex(self) -> bool:
        return np.iscomplexobj(self.matrix.data)

    def field(self, x: np.ndarray) -> np.ndarray:
        """The unknowns ``x`` as a field (1 or 2, *shape), zero where there are no unknowns."""
        full = np.zeros(int(np.prod(self.shape)), dtype=x.dtype)
        full[self.unknowns] = x
        full = full.reshape(self.shape)
        return np.stack([full.real, full.imag]) if self.complex else full[None]

    def vector(self, values: np.ndarray) -> np.ndarray:
        """A field (1 or 2, *shape) at the unknowns."""
        values = np.asarray(values, dtype=np.float64)
        flat = (values[0] + 1j * values[1]) if self.complex else values[0]
        return flat.reshape(-1)[self.unknowns]

    def source(self, r: np.ndarray) -> np.ndarray:
        """The residual ``r`` of the (row-scaled) equations as a source field of the PDE."""
        return self.field(r if self.weights is None else r / self.weights)

    def relative_residual(self, x: np.ndarray) -> float:
        return float(np.linalg.norm(self.rhs - self.matrix @ x) / np.linalg.norm(self.rhs))


def darcy_system(
    coefficient: np.ndarray, forcing: float | np.ndarray = 1.0, face_average: str = "arithmetic"
) -> GridSystem:
    """The 5-point system of -div(a grad u) = f, u = 0 on the boundary, on the node grid of
    ``coefficient`` (``data_gen.grid.fd.diffusion_operator``): unknowns at the interior nodes."""
    from data_gen.grid.fd import diffusion_operator

    a = np.asarray(coefficient, dtype=np.float64)
    s = a.shape[0]
    f = np.broadcast_to(np.asarray(forcing, dtype=np.float64), a.shape)
    inside = np.zeros(a.shape, bool)
    inside[1:-1, 1:-1] = True
    return GridSystem(
        matrix=diffusion_operator(a, face_average),
        rhs=f[1:-1, 1:-1].ravel().copy(),
        shape=(s, s),
        unknowns=np.flatnonzero(inside),
        conditions=a[None],
    )


def helmholtz_system(wavespeed: np.ndarray, omega: float, source: np.ndarray) -> GridSystem:
    """The complex symmetric 5-point system of -Δu - (ω/c)²u = f with the absorbing impedance
    boundary (``data_gen.grid.helmholtz``): every node an unknown, rows scaled by the
    trapezoidal weights (``weights``)."""
    from data_gen.grid.helmholtz import _weights, helmholtz_matrix

    c = np.asarray(wavespeed, dtype=np.float64)
    _, weights, _ = _weights(c.shape[0])
    return GridSystem(
        matrix=helmholtz_matrix(c, omega=omega),
        rhs=(weights * np.asarray(source, dtype=np.complex128)).ravel(),
        shape=c.shape,
        unknowns=np.arange(c.size),
        conditions=c[None],
        weights=weights.ravel(),
    )


def warm_start(operator: Callable, system: GridSystem) -> np.ndarray:
    """The unknowns of ``operator``'s prediction from the system's conditions: an initial
    guess (a bundle of a model trained on coefficient -> solution)."""
    return system.vector(_as_float(operator(system.conditions.astype(np.float32))))


class OperatorCorrection:
    """r -> A⁻¹r ≈ (1/λ) operator([conditions, λ · source(r)]) with λ scaling the residual's
    source field to the RMS ``source_rms`` of the sources the operator was trained on (the
    error is linear in r, the network is not: it is asked about sources like its training ones),
    for a bundle trained on (coefficients, source) -> solution of the same PDE. ``source_rms``
    defaults to a bundle's input statistics of its source channels, else 1."""

    def __init__(
        self, operator: Callable, system: GridSystem, source_rms: float | None = None
    ) -> None:
        self.operator = operator
        self.system = system
        if source_rms is None:
            statistics = getattr(operator, "in_normalizer", None)
            conditions = len(system.conditions)
            source_rms = 1.0 if statistics is None else float(statistics.std[conditions:].mean())
        self.source_rms = source_rms
        self.calls = 0
        self.seconds = 0.0

    def __call__(self, r: np.ndarray) -> np.ndarray:
        start = time.perf_counter()
        source = self.system.source(r)
        rms = float(np.sqrt(np.mean(source**2)))
        if rms == 0:
            return np.zeros_like(r)
        scale = self.source_rms / rms
        inputs = np.concatenate([self.system.conditions, scale * source]).astype(np.float32)
        out = self.system.vector(_as_float(self.operator(inputs))) / scale
        self.calls += 1
        self.seconds += time.perf_counter() - start
        return out


class Hybrid:
    """One hybrid relaxation cycle as a preconditioner (module docstring): ``sweeps`` smoother
    sweeps on A e = r from e = 0, the correction of the remaining residual, ``sweeps`` sweeps
    again (Gauss-Seidel: backward, so the cycle is symmetric for a symmetric A).

    With ``safeguard`` the cycle returns two directions, the hybrid one and the smoother's alone
    (the same sweeps without the correction), and the solvers search their span: never slower
    than the smoother, however poor the operator -- an untrained network gets a weight near 0 --
    while a good one is taken as it is (a weight near 1). A plain weight on the correction
    before the post-sweeps would not do: its rough errors, which those sweeps remove, would set
    the weight. The default (None) safeguards a real symmetric A, whose solvers (``fcg``,
    ``relaxation``) need it; ``fgmres`` minimises the residual over all its directions anyway,
    and a second direction per step only dilutes its Krylov basis (measured: 7 against 27
    steps with a 10 %-noise inverse on Helmholtz). ``smoother``: ``gauss_seidel`` or ``jacobi``
    (damped by ``damping``)."""

    def __init__(
        self,
        matrix: sp.spmatrix,
        correction: Preconditioner,
        smoother: str = "gauss_seidel",
        sweeps: int = 1,
        damping: float = 2 / 3,
        safeguard: bool | None = None,
    ) -> None:
        if smoother not in ("gauss_seidel", "jacobi"):
            raise OplInputError(f"smoother: expected gauss_seidel or jacobi, got {smoother!r}")
        self.matrix = sp.csr_matrix(matrix)
        self.correction = correction
        self.smoother, self.sweeps, self.damping = smoother, sweeps, damping
        symmetric = not np.iscomplexobj(self.matrix.data) and (
            abs(self.matrix - self.matrix.T).max() == 0
        )
        self.safeguard = symmetric if safeguard is None else safeguard
        self.inverse_diagonal = 1 / self.matrix.diagonal()
        if smoother == "gauss_seidel":  # the triangular solves, factorised once (no fill)
            lower = sp.tril(self.matrix, format="csc")
            upper = sp.triu(self.matrix, format="csc")
            self.lower = spla.splu(lower, permc_spec="NATURAL", diag_pivot_thresh=0)
            self.upper = spla.splu(upper, permc_spec="NATURAL", diag_pivot_thresh=0)

    def smooth(self, e: np.ndarray, r: np.ndarray, backward: bool = False) -> np.ndarray:
        for _ in range(self.sweeps):
            residual = r - self.matrix @ e
            if self.smoother == "jacobi":
                e = e + self.damping * self.inverse_diagonal * residual
            else:
                e = e + (self.upper if backward else self.lower).solve(residual)
        return e

    def __call__(self, r: np.ndarray) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        e = self.smooth(np.zeros_like(r), r)
        hybrid = self.smooth(e + self.correction(r - self.matrix @ e), r, backward=True)
        if not self.safeguard:
            return hybrid
        return hybrid, self.smooth(e, r, backward=True)


def _directions(output: np.ndarray | tuple) -> list[np.ndarray]:
    """A preconditioner's output as a list of directions."""
    return list(output) if isinstance(output, tuple) else [output]


def _best_step(
    directions: list[np.ndarray], r: np.ndarray, A: sp.spmatrix, energy: bool
) -> np.ndarray:
    """The combination D c of ``directions`` that minimises the energy-norm error (``energy``,
    for a symmetric positive definite A: (DᵀAD) c = Dᵀr) or the residual (min |r - A D c|)."""
    D = np.column_stack(directions)
    AD = A @ D
    if energy:
        c = np.linalg.lstsq(D.conj().T @ AD, D.conj().T @ r, rcond=None)[0]
    else:
        c = np.linalg.lstsq(AD, r, rcond=None)[0]
    return D @ c


def relaxation(
    system: GridSystem,
    cycle: Preconditioner,
    x0: np.ndarray | None = None,
    rtol: float = 1e-8,
    maxiter: int = 500,
) -> SolveResult:
    """The stationary iteration x <- x + cycle(b - A x) until the relative residual <= rtol
    (a cycle of several directions: their best combination, in the energy norm for a real
    symmetric A, else in the residual)."""
    start = time.perf_counter()
    A, b = system.matrix, system.rhs
    energy = not system.complex and abs(A - A.T).max() == 0
    x = np.zeros_like(b) if x0 is None else np.array(x0, dtype=b.dtype)
    norm_b = np.linalg.norm(b)
    r = b - A @ x
    history = [np.linalg.norm(r) / norm_b]
    while history[-1] > rtol and len(history) <= maxiter:
        directions = _directions(cycle(r))
        x = x + (directions[0] if len(directions) == 1 else _best_step(directions, r, A, energy))
        r = b - A @ x
        history.append(np.linalg.norm(r) / norm_b)
    return SolveResult(x, len(history) - 1, history, history[-1] <= rtol,
                       time.perf_counter() - start)  # fmt: skip


def fcg(
    system: GridSystem,
    preconditioner: Preconditioner,
    x0: np.ndarray | None = None,
    rtol: float = 1e-8,
    maxiter: int = 500,
    truncation: int = 8,
) -> SolveResult:
    """Flexible conjugate gradients for a symmetric positive definite A with a preconditioner
    that may change between steps (a trained operator): each new direction is the
    preconditioned residual A-orthogonalised against the directions of the last ``truncation``
    steps
    (Notay's FCG; with a fixed SPD preconditioner and full orthogonalisation it is PCG). A
    preconditioner that returns several directions has them all searched in one step (the
    multi-preconditioned CG of Bridson and Greif)."""
    start = time.perf_counter()
    A, b = system.matrix, system.rhs
    x = np.zeros_like(b) if x0 is None else np.array(x0, dtype=b.dtype)
    norm_b = np.linalg.norm(b)
    r = b - A @ x
    history = [np.linalg.norm(r) / norm_b]
    kept: list[list[tuple[np.ndarray, np.ndarray, float]]] = []  # per step: (p, A p, p·A p)
    while history[-1] > rtol and len(history) <= maxiter:
        step: list[tuple[np.ndarray, np.ndarray, float]] = []
        for p in _directions(preconditioner(r)):
            for q, Aq, qAq in [*(d for previous in kept for d in previous), *step]:
                p = p - (np.vdot(Aq, p) / qAq) * q
            Ap = A @ p
            pAp = float(np.vdot(p, Ap).real)
            if pAp < 0:
                raise OplInputError(
                    "fcg: the preconditioned direction has p·Ap <= 0: the matrix or the "
                    "preconditioner is not positive definite (use fgmres)"
                )
            if pAp > 1e-14 * float(np.vdot(Ap, Ap).real) ** 0.5 * np.linalg.norm(p):
                step.append((p, Ap, pAp))  # else: dependent on the others, dropped
        if not step:
            raise OplInputError("fcg: the preconditioner returned no new direction (p·Ap <= 0)")
        for p, Ap, pAp in step:  # A-orthogonal directions: independent exact line searches
            alpha = np.vdot(p, r) / pAp
            x = x + alpha * p
            r = r - alpha * Ap
        kept = [*kept, step][-truncation:] if truncation > 0 else []
        history.append(np.linalg.norm(r) / norm_b)
        if history[-1] <= rtol:  # confirm on the true residual, not the recurrence
            r = b - A @ x
            history[-1] = np.linalg.norm(r) / norm_b
    return SolveResult(x, len(history) - 1, history, history[-1] <= rtol,
                       time.perf_counter() - start)  # fmt: skip


def fgmres(
    system: GridSystem,
    preconditioner: Preconditioner,
    x0: np.ndarray | None = None,
    rtol: float = 1e-8,
    maxiter: int = 500,
    restart: int = 50,
) -> SolveResult:
    """Flexible GMRES (Saad 1993) for any nonsingular A, real or complex: the preconditioned
    vectors z = M_j(v_j) are kept (several, if the preconditioner returns several), and
    x = x0 + Z y with y minimising the residual over their span; restarted when the basis
    holds ``restart`` vectors. Iterations count preconditioner applications."""
    start = time.perf_counter()
    A, b = system.matrix, system.rhs
    dtype = np.result_type(A.dtype, b.dtype)
    x = np.zeros(b.shape, dtype) if x0 is None else np.array(x0, dtype=dtype)
    norm_b = np.linalg.norm(b)
    r = b - A @ x
    history = [np.linalg.norm(r) / norm_b]
    while history[-1] > rtol and len(history) <= maxiter:
        beta = np.linalg.norm(r)
        V, Z = [r / beta], []
        H = np.zeros((restart + 2, restart + 1), dtype)
        applied = 0  # preconditioner calls this cycle: on v_0, v_1, ... in turn
        while len(Z) < restart and history[-1] > rtol and len(history) <= maxiter:
            for z in _directions(preconditioner(V[applied])):
                j = len(Z)
                Z.append(z)
                w = A @ z
                for i in range(j + 1):  # modified Gram-Schmidt
                    H[i, j] = np.vdot(V[i], w)
                    w = w - H[i, j] * V[i]
                H[j + 1, j] = np.linalg.norm(w)
                V.append(w / H[j + 1, j] if H[j + 1, j] > 0 else w)
            applied += 1
            k = len(Z)
            e1 = np.zeros(k + 1, dtype)
            e1[0] = beta
            y = np.linalg.lstsq(H[: k + 1, :k], e1, rcond=None)[0]
            history.append(float(np.linalg.norm(H[: k + 1, :k] @ y - e1) / norm_b))
        x = x + np.column_stack(Z) @ y
        r = b - A @ x  # the true residual at every restart and at the end
        history[-1] = np.linalg.norm(r) / norm_b
    return SolveResult(x, len(history) - 1, history, history[-1] <= rtol,
                       time.perf_counter() - start)  # fmt: skip


def krylov(
    system: GridSystem,
    method: str = "cg",
    preconditioner: Any = None,
    x0: np.ndarray | None = None,
    rtol: float = 1e-8,
    maxiter: int = 5000,
    restart: int = 50,
) -> SolveResult:
    """SciPy's ``cg`` or ``gmres`` (the classical baselines, and a warm start's solve) with a
    fixed preconditioner (a matrix, LinearOperator or pyamg's ``aspreconditioner()``);
    iterations are SciPy's (for GMRES: inner iterations)."""
    if method not in ("cg", "gmres"):
        raise OplInputError(f"method: expected cg or gmres, got {method!r}")
    start = time.perf_counter()
    A, b = system.matrix, system.rhs
    norm_b = np.linalg.norm(b)
    x_start = np.zeros_like(b) if x0 is None else x0
    history = [np.linalg.norm(b - A @ x_start) / norm_b]
    count = 0

    def step(arg):
        nonlocal count
        count += 1
        if method == "cg":
            history.append(np.linalg.norm(b - A @ arg) / norm_b)
        else:  # gmres reports the preconditioned residual norm ratio
            history.append(float(arg))

    options = {"rtol": rtol, "atol": 0.0, "M": preconditioner, "x0": x0, "maxiter": maxiter,
               "callback": step}  # fmt: skip
    if method == "cg":
        x, _ = spla.cg(A, b, **options)
    else:
        x, _ = spla.gmres(A, b, restart=restart, callback_type="pr_norm", **options)
    history[-1] = np.linalg.norm(b - A @ x) / norm_b  # the true residual, last
    return SolveResult(x, count, history, history[-1] <= rtol, time.perf_counter() - start)


def _as_float(values: Any) -> np.ndarray:
    return np.asarray(values, dtype=np.float64)


__all__ = [
    "GridSystem",
    "Hybrid",
    "OperatorCorrection",
    "SolveResult",
    "darcy_system",
    "fcg",
    "fgmres",
    "helmholtz_system",
    "krylov",
    "relaxation",
    "warm_start",
]
