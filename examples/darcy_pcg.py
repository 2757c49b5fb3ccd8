"""A trained Darcy surrogate inside a classical solver: the initial guess of preconditioned CG.

For fresh permeability fields (samples the surrogate never saw), the 5-point Darcy system
``A u = f`` (``opl.solvers.darcy_system``: -div(a grad u) = 1, u = 0 on the boundary) is solved
by conjugate gradients with the Jacobi preconditioner (the diagonal of ``A``: symmetric positive
definite, as CG requires) to a relative residual ``||f - A u|| <= tol ||f||``, once from
``u0 = 0`` and once from the surrogate's prediction (``opl.solvers.warm_start``), and the
iterations are counted. The
answer is the classical one either way: the surrogate only shortens the road -- by the first
stretch of CG's error decay (the guess starts at a few % energy error instead of 100 %), which
is a larger share of the work at a loose tolerance than at a tight one.

    python examples/darcy_pcg.py runs/demo_darcy_mgno/model.opl --samples 8

A surrogate makes a better preconditioner than an initial guess: ``benchmarks/solvers.py``
(operators trained on residual -> error inside flexible CG / GMRES and hybrid relaxations).
"""

from __future__ import annotations

import argparse

import numpy as np
import scipy.sparse.linalg as spla

import opl
from data_gen.generator import sample_rng
from data_gen.grid.darcy import Darcy
from opl import solvers


def compare(bundle: str, samples: int, tol: float = 1e-8, seed: int = 12345) -> list[dict]:
    """Iterations and times from zero and from the surrogate, for ``samples`` fresh fields."""
    surrogate = opl.load(bundle)
    resolution = surrogate.metadata["grid"]["shape"][0]
    generator = Darcy(resolution=resolution)
    rows = []
    for index in range(samples):
        system = solvers.darcy_system(generator.solve(sample_rng(seed, index))["coeff"])
        inverse_diagonal = 1.0 / system.matrix.diagonal()
        jacobi = spla.LinearOperator(system.matrix.shape, lambda r, d=inverse_diagonal: d * r)
        guess = solvers.warm_start(surrogate, system)
        cold = solvers.krylov(system, "cg", jacobi, rtol=tol)
        warm = solvers.krylov(system, "cg", jacobi, x0=guess, rtol=tol)
        if not (cold.converged and warm.converged):
            raise RuntimeError(f"sample {index}: CG did not reach the tolerance {tol:g}")
        exact, error = cold.x, guess - cold.x
        energy = np.sqrt(error @ (system.matrix @ error) / (exact @ (system.matrix @ exact)))
        rows.append(
            {
                "sample": index,
                "surrogate_rel_error": float(np.linalg.norm(error) / np.linalg.norm(exact)),
                # the norm CG minimises: from zero the initial energy error is ||u||_A, i.e. 1
                "surrogate_energy_error": float(energy),
                "solutions_differ": float(np.linalg.norm(warm.x - exact) / np.linalg.norm(exact)),
                "iterations_from_zero": cold.iterations,
                "iterations_from_surrogate": warm.iterations,
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
