"""opl.solvers: every way of coupling an operator to a solver returns the classical answer.

The operators here are stand-ins with known quality -- the exact inverse, and the exact inverse
spoiled by 10 % multiplicative noise at every point (a poor, nonlinear, non-symmetric
"network") -- plus one real (untrained) MgNO bundle, so the tests say what the solvers do with any
operator; how much a trained one saves is measured in benchmarks/solvers.py. Tolerances: the
solvers stop at a relative residual of 1e-8 (checked on the true residual); the solution then
differs from SuperLU's by at most 1e-8 times the condition number, below 1e-4 on these grids.
"""

import numpy as np
import pytest
import scipy.sparse.linalg as spla
import torch

from data_gen.generator import sample_rng
from data_gen.grid.darcy import Darcy
from data_gen.grid.fd import diffusion_operator
from data_gen.grid.helmholtz import Helmholtz
from opl import solvers

RTOL = 1e-8


@pytest.fixture(scope="module")
def darcy():
    a = Darcy(resolution=33).solve(sample_rng(3, 0))["coeff"]
    system = solvers.darcy_system(a)
    return system, spla.spsolve(system.matrix.tocsc(), system.rhs)


@pytest.fixture(scope="module")
def helmholtz():
    generator = Helmholtz(resolution=33, omega=10.0)
    c = generator.c_mean * (
        1 + generator.contrast * np.tanh(generator.grf.sample(sample_rng(3, 1), (33, 33)))
    )
    source = np.random.default_rng(0).standard_normal((33, 33)) * (1 + 0.5j)
    system = solvers.helmholtz_system(c, 10.0, source)
    return system, spla.spsolve(system.matrix.tocsc(), system.rhs)


def inverse_operator(system, noise=0.0, seed=0):
    """An 'operator' on fields: [conditions, source] -> A^-1 (source), times (1 + noise · N(0,1))
    at every point when noise > 0."""
    rng = np.random.default_rng(seed)
    lu = spla.splu(system.matrix.tocsc())

    def apply(inputs):
        source = inputs[len(system.conditions) :]
        r = system.vector(source)
        if system.weights is not None:
            r = r * system.weights
        field = system.field(lu.solve(r))
        return field * (1 + noise * rng.standard_normal(field.shape))

    return apply


def assert_classical(result, system, exact):
    assert result.converged and result.residuals[-1] <= RTOL
    assert system.relative_residual(result.x) <= RTOL  # the true residual
    assert np.linalg.norm(result.x - exact) <= 1e-4 * np.linalg.norm(exact)


def test_the_darcy_system_is_the_generators(darcy):
    system, exact = darcy
    np.testing.assert_array_equal(
        system.matrix.toarray(), diffusion_operator(system.conditions[0]).toarray()
    )
    field = system.field(exact)
    assert field.shape == (1, 33, 33) and np.all(field[0, 0] == 0)
    np.testing.assert_array_equal(system.vector(field), exact)


def test_flexible_cg_with_a_fixed_preconditioner_is_pcg(darcy):
    system, exact = darcy
    jacobi = 1 / system.matrix.diagonal()
    flexible = solvers.fcg(system, lambda r: jacobi * r, rtol=RTOL, truncation=10_000)
    scipy_cg = solvers.krylov(
        system, "cg", spla.LinearOperator(system.matrix.shape, lambda r: jacobi * r), rtol=RTOL
    )
    assert_classical(flexible, system, exact)
    assert_classical(scipy_cg, system, exact)
    # the same Krylov method: the same iterations, up to a step of rounding at the end
    assert abs(flexible.iterations - scipy_cg.iterations) <= 1


@pytest.mark.parametrize("method", ["hybrid_relaxation", "hybrid_fcg", "correction_fcg"])
def test_an_operator_preconditioner_returns_the_classical_answer(darcy, method):
    system, exact = darcy
    exact_correction = solvers.OperatorCorrection(inverse_operator(system), system)
    noisy = solvers.OperatorCorrection(inverse_operator(system, noise=0.1), system)
    # the operator computes in float32 (as networks do): "exact" is exact to ~1e-7, so 2 steps
    for correction, most in ((exact_correction, 2), (noisy, 15)):
        if method == "hybrid_relaxation":
            result = solvers.relaxation(
                system, solvers.Hybrid(system.matrix, correction), rtol=RTOL
            )
        elif method == "hybrid_fcg":
            result = solvers.fcg(
                system, solvers.Hybrid(system.matrix, correction, "jacobi"), rtol=RTOL
            )
        else:
            result = solvers.fcg(system, correction, rtol=RTOL)
        assert_classical(result, system, exact)
        # an exact inverse converges at once; 10 % noise still converges in a few steps
        assert result.iterations <= most, (method, result.iterations)


def test_warm_starts_shorten_the_road_and_end_at_the_same_answer(darcy):
    system, exact = darcy
    from_zero = solvers.krylov(system, "cg", rtol=RTOL)

    def predict(conditions):  # a coefficient -> solution "surrogate" with 1 % noise
        return inverse_operator(system, noise=0.01)(
            np.concatenate([conditions, np.ones((1, 33, 33))])
        )

    guess = solvers.warm_start(predict, system)
    warm = solvers.krylov(system, "cg", x0=guess, rtol=RTOL)
    assert_classical(from_zero, system, exact)
    assert_classical(warm, system, exact)
    assert warm.iterations < from_zero.iterations


def test_flexible_gmres_solves_the_complex_helmholtz_system(helmholtz):
    system, exact = helmholtz
    ilu = spla.spilu(system.matrix.tocsc(), drop_tol=1e-4, fill_factor=10)
    with_ilu = solvers.fgmres(system, ilu.solve, rtol=RTOL)
    assert_classical(with_ilu, system, exact)
    correction = solvers.OperatorCorrection(inverse_operator(system, noise=0.1), system)
    hybrid = solvers.fgmres(system, solvers.Hybrid(system.matrix, correction), rtol=RTOL)
    assert_classical(hybrid, system, exact)
    assert hybrid.iterations <= 12


def test_a_real_operator_bundle_plugs_in_and_a_poor_one_still_converges(darcy, tmp_path):
    import opl
    from opl.data.normalize import ChannelNormalizer
    from opl.export import write_bundle
    from opl.models import MgNO

    system, exact = darcy
    torch.manual_seed(0)
    model = MgNO(in_channels=2, channels=4, n_layers=1, levels=3).eval()
    norms = ChannelNormalizer(2), ChannelNormalizer(1)
    bundle = write_bundle(tmp_path / "m.opl", model, *norms, {"shape": [33, 33]}, {})
    correction = solvers.OperatorCorrection(opl.load(bundle), system)
    result = solvers.fcg(system, solvers.Hybrid(system.matrix, correction), rtol=RTOL)
    assert_classical(result, system, exact)  # an untrained network: γ ≈ 0, Gauss-Seidel's pace
    assert correction.calls == result.iterations
    smoother_only = solvers.fcg(system, solvers.Hybrid(system.matrix, lambda r: 0 * r), rtol=RTOL)
    assert result.iterations <= smoother_only.iterations + 2


def test_bad_requests_are_refused():
    from opl.errors import OplInputError

    with pytest.raises(OplInputError, match="smoother: expected gauss_seidel or jacobi"):
        solvers.Hybrid(diffusion_operator(np.ones((5, 5))), lambda r: r, smoother="sor")
    system = solvers.darcy_system(np.ones((9, 9)))
    system.matrix = -system.matrix  # negative definite: not for CG
    with pytest.raises(OplInputError, match="fcg: the preconditioned direction has p·Ap <= 0"):
        solvers.fcg(system, lambda r: r)
