"""A trained Darcy surrogate inside a classical solver: the initial guess of preconditioned CG.

For fresh permeability fields (samples the surrogate never saw), the 5-point Darcy system
``A u = f`` (``data_gen.grid.fd``: -div(a grad u) = 1, u = 0 on the boundary) is solved by
conjugate gradients with the Jacobi preconditioner (the diagonal of ``A``: symmetric positive
definite, as CG requires) to a relative residual ``||f - A u|| <= tol ||f||``, once from
``u0 = 0`` and once from the surrogate's prediction, and the iterations are counted. The
answer is the classical one either way: the surrogate only shortens the road -- by the first
stretch of CG's error decay (the guess starts at a few % energy error instead of 100 %), which
is a larger share of the work at a loose tolerance than at a tight one.

    python examples/darcy_pcg.py runs/demo_darcy_mgno/model.opl --samples 8
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import scipy.sparse.linalg as spla

import opl
from data_gen.generator import sample_rng
from data_gen.grid.darcy import Darcy
from data_gen.grid.fd import diffusion_operator


def pcg(matrix, rhs: np.ndarray, x0: np.ndarray, tol: float) -> tuple[np.ndarray, int]:
    """Jacobi-preconditioned CG from ``x0``; the solution and the number of iterations."""
    inverse_diagonal = 1.0 / matrix.diagonal()
    preconditioner = spla.LinearOperator(matrix.shape, lambda r: inverse_diagonal * r)
    count = 0

    def step(_):
        nonlocal count
        count += 1

    solution, info = spla.cg(
        matrix, rhs, x0=x0, rtol=tol, atol=0.0, M=preconditioner, callback=step, maxiter=10_000
    )
    if info != 0:
        raise RuntimeError(f"CG did not converge in {count} iterations (info {info})")
    return solution, count


def compare(bundle: str, samples: int, tol: float = 1e-8, seed: int = 12345) -> list[dict]:
    """Iterations and times from zero and from the surrogate, for ``samples`` fresh fields."""
    surrogate = opl.load(bundle)
    resolution = surrogate.metadata["grid"]["shape"][0]
    generator = Darcy(resolution=resolution)
    rows = []
    for index in range(samples):
        a = generator.solve(sample_rng(seed, index))["coeff"]
        matrix = diffusion_operator(a)
        rhs = np.full(matrix.shape[0], generator.forcing)
        start = time.perf_counter()
        guess = surrogate(a.astype(np.float32)).astype(np.float64)[1:-1, 1:-1].ravel()
        predict_s = time.perf_counter() - start
        exact, from_zero = pcg(matrix, rhs, np.zeros_like(rhs), tol)
        refined, from_guess = pcg(matrix, rhs, guess, tol)
        error = guess - exact
        rows.append(
            {
                "sample": index,
                "surrogate_rel_error": float(np.linalg.norm(error) / np.linalg.norm(exact)),
                # the norm CG minimises: from zero the initial energy error is ||u||_A, i.e. 1
                "surrogate_energy_error": float(
                    np.sqrt(error @ (matrix @ error)) / np.sqrt(exact @ (matrix @ exact))
                ),
                "solutions_differ": float(np.linalg.norm(refined - exact) / np.linalg.norm(exact)),
                "iterations_from_zero": from_zero,
                "iterations_from_surrogate": from_guess,
                "surrogate_seconds": predict_s,
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("bundle", help="a Darcy surrogate bundle (.opl), e.g. from make demo")
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--tol", type=float, default=1e-8)
    args = parser.parse_args()
    rows = compare(args.bundle, args.samples, args.tol)
    print("| sample | surrogate L2 error | energy error | PCG iterations from 0 | from surrogate |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['sample']} | {r['surrogate_rel_error']:.3g} | "
            f"{r['surrogate_energy_error']:.3g} | {r['iterations_from_zero']} | "
            f"{r['iterations_from_surrogate']} |"
        )
    zero = sum(r["iterations_from_zero"] for r in rows)
    guess = sum(r["iterations_from_surrogate"] for r in rows)
    print(
        f"total iterations: {zero} from zero, {guess} from the surrogate "
        f"({100 * (zero - guess) / zero:.0f} % fewer), tolerance {args.tol:g}"
    )


if __name__ == "__main__":
    main()
