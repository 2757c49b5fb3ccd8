"""opl.physics: boxes and samplers, conditions, problems, exact and numerical references.

Everything in float64 on the CPU. Tolerances are stated where they are used; "round-off" below
means a few hundred ulps of the largest term of a residual (terms reach ~1e2: Poisson's source
is ~(a² + b²)π² + 2/s² ≈ 220, the convection terms ~c = 30), hence 1e-9 absolute.
"""

import math

import numpy as np
import pytest
import torch
from jsonargparse import ArgumentParser

from opl.physics import (
    SAMPLERS,
    AllenCahn1D,
    Box,
    Convection1D,
    Helmholtz2D,
    KleinGordon2D,
    NonlinearDiffusion,
    Poisson2D,
    Problem,
    dirichlet,
    fields_by_autograd,
    pde,
    unit_points,
)
from opl.physics.allen_cahn import solve_allen_cahn
from opl.physics.nonlinear_diffusion import solve_nonlinear_diffusion

ROUND_OFF = 1e-9
# A perturbation of 1e-3 exp(0.3 Σ x_j): nonzero everywhere, not periodic, with nonzero
# derivatives of every order; the smallest residual it causes is ~1e-3 * 0.18 (Poisson's -Δ),
# so 1e-5 tells "the condition sees it" from round-off with a wide margin both ways.
PERTURBATION = 1e-3
SEES_IT = 1e-5


def generator(seed=0):
    return torch.Generator().manual_seed(seed)


def residuals(problem, function, n=400, seed=0):
    """Each condition's residual of ``function`` at n of its collocation points."""

    def evaluate(points, order):
        return fields_by_autograd(function, points, order, problem.second_order_weights)

    gen = generator(seed)
    return {
        c.name: c.residual(c.sample(problem.domain, n, gen), evaluate).detach()
        for c in problem.conditions
    }


EXACT = {
    "helmholtz": lambda: Helmholtz2D(),
    "poisson": lambda: Poisson2D(),
    "poisson_wide_bump": lambda: Poisson2D(a=1.0, b=1.0, amplitude=-2.0, width=0.5),
    "klein_gordon": lambda: KleinGordon2D(),
    "klein_gordon_cubic": lambda: KleinGordon2D(k=1.0, power=3, t_end=2.0),
    "convection_sin": lambda: Convection1D(),
    "convection_sin_viscous": lambda: Convection1D(c=10.0, nu=0.5),
    "convection_sin_plus_constant": lambda: Convection1D(
        nu=0.1, initial="sin_plus_constant", constant=2.0
    ),
    "convection_gaussian": lambda: Convection1D(c=50.0, initial="gaussian"),
    "convection_gaussian_viscous": lambda: Convection1D(c=5.0, nu=0.3, initial="gaussian"),
}


@pytest.mark.parametrize("name", EXACT)
def test_exact_solution_satisfies_every_condition(name):
    problem = EXACT[name]()
    assert problem.has_reference
    for condition, r in residuals(problem, problem.reference).items():
        assert r.shape[0] == 400 and r.dtype == torch.float64
        assert r.abs().max() < ROUND_OFF, (name, condition, float(r.abs().max()))


@pytest.mark.parametrize("name", EXACT)
def test_perturbed_solution_violates_every_condition(name):
    problem = EXACT[name]()

    def perturbed(points):
        return problem.reference(points) + PERTURBATION * torch.exp(0.3 * points.sum(1, True))

    for condition, r in residuals(problem, perturbed).items():
        assert r.abs().max() > SEES_IT, (name, condition, float(r.abs().max()))


def test_klein_gordon_second_is_the_wave_operator():
    # second_order_weights (-1, -1, 1) on (x, y, t): Fields.second = u_tt - u_xx - u_yy
    problem = KleinGordon2D()
    assert problem.second_order_weights == (-1.0, -1.0, 1.0)
    points = problem.domain.sample(50, generator())
    f = fields_by_autograd(
        lambda p: p[:, 2:3] ** 2 + 3 * p[:, 0:1] ** 2, points, 2, problem.second_order_weights
    )
    assert torch.allclose(f.second, torch.full_like(f.u, 2.0 - 6.0), atol=1e-12)


def test_klein_gordon_without_initial_rate():
    assert KleinGordon2D(initial_rate=False).condition_names == ("pde", "initial", "boundary")
    assert "initial_rate" in KleinGordon2D().condition_names


# -- convection -------------------------------------------------------------------------------


def test_convection_viscous_sin_matches_direct_formula():
    problem = Convection1D(c=30.0, nu=0.7)
    points = problem.domain.sample(1000, generator())
    x, t = points[:, 0:1], points[:, 1:2]
    direct = torch.exp(-0.7 * t) * torch.sin(x - 30.0 * t)
    assert torch.allclose(problem.reference(points), direct, rtol=0, atol=1e-14)


@pytest.mark.parametrize("nu", [0.0, 0.05, 0.5])
def test_convection_gaussian_matches_fourier_series(nu):
    # An independent route: the Fourier coefficients of the periodised Gaussian by FFT
    # (256 modes: e^{-σ²k²/2} < 1e-200 at k = 128, so aliasing and truncation are far below
    # round-off), each mode moved by e^{ik(x - ct) - νk²t}. Agreement to 1e-12.
    c, sigma = 7.0, math.pi / 4
    problem = Convection1D(c=c, nu=nu, initial="gaussian", sigma=sigma)
    n = 256
    nodes = torch.arange(n, dtype=torch.float64) * (2 * math.pi / n)
    u0 = problem.initial_condition(nodes[:, None])[:, 0].numpy()
    coefficients = np.fft.fft(u0) / n
    k = np.fft.fftfreq(n, 1.0 / n)
    points = problem.domain.sample(500, generator())
    x, t = points[:, 0].numpy(), points[:, 1].numpy()
    phase = np.exp(1j * k[None, :] * (x[:, None] - c * t[:, None]) - nu * k**2 * t[:, None])
    series = (phase * coefficients).sum(1).real
    assert np.abs(problem.reference(points)[:, 0].numpy() - series).max() < 1e-12


@pytest.mark.parametrize("initial", ["sin", "sin_plus_constant", "gaussian"])
def test_convection_inviscid_translates_and_is_periodic(initial):
    problem = Convection1D(c=30.0, initial=initial)
    points = problem.domain.sample(500, generator())
    x, t = points[:, 0:1], points[:, 1:2]
    moved = problem.initial_condition(torch.remainder(x - 30.0 * t, 2 * math.pi))
    assert torch.allclose(problem.reference(points), moved, rtol=0, atol=1e-13)
    shifted = points + torch.tensor([2 * math.pi, 0.0], dtype=torch.float64)
    assert torch.allclose(problem.reference(shifted), problem.reference(points), atol=1e-13)


def test_convection_periodic_gaussian_is_close_to_the_plain_one():
    # the periodised Gaussian differs from the plain one on [0, 2π) by <= 2 e^{-π²/(2σ²)}
    problem = Convection1D(initial="gaussian")
    x = torch.linspace(0, 2 * math.pi, 1001, dtype=torch.float64)[:, None]
    plain = torch.exp(-((x - math.pi) ** 2) / (2 * (math.pi / 4) ** 2))
    difference = (problem.initial_condition(x) - plain).abs().max()
    assert 3e-4 < difference < 2 * math.exp(-8.0)


def test_convection_rejects_bad_settings():
    with pytest.raises(ValueError, match="initial: expected one of sin, sin_plus_constant"):
        Convection1D(initial="cos")
    with pytest.raises(ValueError, match="nu: expected >= 0"):
        Convection1D(nu=-1.0)


# -- Allen-Cahn --------------------------------------------------------------------------------

SMALL_AC = {"reference_dt": 2e-3, "reference_snapshots": 250}


@pytest.fixture(scope="module")
def allen_cahn():
    """The reference at 512 and 1024 modes (about 1 s together)."""
    return {n: AllenCahn1D(reference_modes=n, **SMALL_AC) for n in (512, 1024)}


def test_allen_cahn_reference_converges(allen_cahn):
    # 512 vs 1024 modes: relative L2 1.1e-5 (the error is the kink of the periodic extension of
    # x² cos(πx) at x = ±1 and falls like N^-2; the default N = 4096 is ~3e-7 off).
    points = allen_cahn[512].domain.sample(20000, generator())
    coarse, fine = (allen_cahn[n].reference(points) for n in (512, 1024))
    assert (coarse - fine).norm() / fine.norm() < 5e-5
    # the time step is not the limit: 2e-3 and 1e-3 agree to ~1e-10
    _, _, u_big, _ = solve_allen_cahn(modes=256, dt=2e-3, snapshots=50)
    _, _, u_small, _ = solve_allen_cahn(modes=256, dt=1e-3, snapshots=50)
    assert np.abs(u_big - u_small).max() < 1e-8


def test_allen_cahn_reference_initial_condition(allen_cahn):
    problem = allen_cahn[1024]
    x = torch.linspace(-0.95, 0.95, 777, dtype=torch.float64)[:, None]
    points = torch.cat([x, torch.zeros_like(x)], 1)
    # off the grid nodes: 6-point interpolation of a smooth function, h = 2e-3 (the stencil
    # stays clear of the kink at ±1 for |x| <= 0.95)
    assert (problem.reference(points) - x**2 * torch.cos(math.pi * x)).abs().max() < 1e-10
    r = residuals(problem, problem.reference)["initial"]
    assert r.abs().max() < 1e-2  # near x = ±1 the kink limits the interpolation to O(h)


def test_allen_cahn_reference_satisfies_the_pde_by_finite_differences(allen_cahn):
    grid = allen_cahn[1024].reference_grid()
    u, dt, h = grid.u, grid.times[1] - grid.times[0], 2.0 / grid.u.shape[1]
    u_t = (u[2:] - u[:-2]) / (2 * dt)  # central in t, error dt²/6 u_ttt
    w = u[1:-1]
    u_xx = (
        16 * (np.roll(w, 1, 1) + np.roll(w, -1, 1)) - 30 * w - np.roll(w, 2, 1) - np.roll(w, -2, 1)
    ) / (12 * h * h)  # fourth order, periodic
    residual = u_t - 1e-4 * u_xx + 5 * (w**3 - w)
    late = grid.times[1:-1] >= 0.05
    # RMS residual / RMS u_t = 7e-5 (FD truncation at the interfaces); the reference of a
    # wrong coefficient (D = 2e-4) gives 2.4e-2
    rms = np.sqrt((residual[late] ** 2).mean()) / np.sqrt((u_t[late] ** 2).mean())
    assert rms < 1e-3
    # at t = 1 most of the interval sits near the stable states -1 (ends) and +1 (two plateaus)
    final = u[-1]
    assert np.abs(final).max() < 1.0 and (np.abs(final) > 0.9).mean() > 0.75
    assert (final > 0.9).mean() > 0.25 and (final < -0.9).mean() > 0.25


def test_allen_cahn_reference_is_periodic_and_computed_once(allen_cahn):
    problem = allen_cahn[512]
    grid = problem.reference_grid()
    assert problem.reference_grid() is grid
    t = torch.rand(300, 1, generator=generator(), dtype=torch.float64)
    left = problem.reference(torch.cat([torch.full_like(t, -1.0), t], 1))
    right = problem.reference(torch.cat([torch.full_like(t, 1.0), t], 1))
    assert torch.allclose(left, right, atol=1e-13)


# -- nonlinear diffusion ----------------------------------------------------------------------


def test_nonlinear_diffusion_residual_vanishes_on_a_separable_solution():
    # u = (x² + y²) / (c0 - 8αt) solves u_t = α ∇·(u ∇u) exactly (∇·(X∇X) = 8X for X = r²)
    problem = NonlinearDiffusion(alpha=0.05)

    def exact(points):
        return (points[:, 0:1] ** 2 + points[:, 1:2] ** 2) / (2.0 - 0.4 * points[:, 2:3])

    def perturbed(points):
        return exact(points) + PERTURBATION * torch.exp(0.3 * points.sum(1, True))

    assert residuals(problem, exact)["pde"].abs().max() < ROUND_OFF
    assert residuals(problem, perturbed)["pde"].abs().max() > SEES_IT
    # and the condition counts D'(u)|∇u|²: a linear-in-space solution u = β(vt - x) + γ with
    # β = v/α is exact only with it (Δu = 0)
    v = 0.2
    residual = residuals(problem, lambda p: (v / 0.05) * (v * p[:, 2:3] - p[:, 0:1]) + 1.0)
    assert residual["pde"].abs().max() < ROUND_OFF


@pytest.fixture(scope="module")
def nonlinear_diffusion():
    """The reference at 64 and 128 cells (about 0.5 s together)."""
    return {
        n: NonlinearDiffusion(reference_resolution=n, reference_snapshots=50) for n in (64, 128)
    }


def test_nonlinear_diffusion_reference_converges(nonlinear_diffusion):
    # away from the sides (where the initial data, ~1e-2 at x = -1, meet u = 0 in a layer
    # thinner than a cell): 64 vs 128 cells differ by ~3e-5 relative L2 (fourth-order
    # differences; the default 128 cells are ~2e-6 off there), by ~3e-4 over the whole box
    points = nonlinear_diffusion[64].domain.sample(20000, generator())
    inner = (points[:, :2].abs() < 0.9).all(1)
    coarse, fine = (nonlinear_diffusion[n].reference(points[inner]) for n in (64, 128))
    assert (coarse - fine).norm() / fine.norm() < 1e-4
    whole = [nonlinear_diffusion[n].reference(points) for n in (64, 128)]
    assert (whole[0] - whole[1]).norm() / whole[1].norm() < 1e-3


def test_nonlinear_diffusion_reference_conditions(nonlinear_diffusion):
    problem = nonlinear_diffusion[64]
    r = residuals(problem, problem.reference)
    assert r["boundary"].abs().max() < 1e-12  # u = 0 on the sides (w = 0 at the nodes there)
    # t = 0, away from the sides, between the nodes: interpolation error only
    points = problem.conditions[1].sample(problem.domain, 2000, generator())
    points = points[(points[:, :2].abs() < 0.9).all(1)]
    error = problem.reference(points) - problem.initial_condition(points)
    assert error.abs().max() < 1e-4
    # (6-point Lagrange of w = u² at h = 1/32: ~1e-5 relative; 64x less at the default 128)
    assert error.norm() / problem.initial_condition(points).norm() < 3e-5


def test_nonlinear_diffusion_reference_satisfies_the_pde_by_finite_differences():
    nodes, times, u, _ = solve_nonlinear_diffusion(resolution=64, snapshots=100)
    h, dt = nodes[1] - nodes[0], times[1] - times[0]
    u_t = (u[2:] - u[:-2]) / (2 * dt)
    w = u[1:-1] ** 2
    lap = (w[:, 2:, 1:-1] + w[:, :-2, 1:-1] + w[:, 1:-1, 2:] + w[:, 1:-1, :-2]) - 4 * w[
        :, 1:-1, 1:-1
    ]
    residual = u_t[:, 1:-1, 1:-1] - 0.025 * lap / (h * h)  # α/2 Δ(u²), second order
    # interior nodes (|x|, |y| < 0.9): RMS residual / RMS u_t = 1e-2 (a second-order check,
    # h = 1/32, of fourth-order data); the reference of a wrong α (0.1) gives 0.5
    inner = (np.abs(nodes[1:-1]) < 0.9)[:, None] & (np.abs(nodes[1:-1]) < 0.9)[None, :]
    rms = np.sqrt((residual[:, inner] ** 2).mean()) / np.sqrt(
        (u_t[:, 1:-1, 1:-1][:, inner] ** 2).mean()
    )
    assert rms < 3e-2
    assert u.min() >= 0 and u.max() <= u[0].max()  # maximum principle


# -- Box and samplers ---------------------------------------------------------------------------


BOX = Box((-1.0, 0.0, 2.0), (1.0, 3.0, 2.5))


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_box_samples_inside(sampler):
    points = BOX.sample(1000, generator(), sampler)
    assert points.shape == (1000, 3) and points.dtype == torch.float64
    lower, upper = torch.tensor(BOX.lower), torch.tensor(BOX.upper)
    assert ((points >= lower) & (points <= upper)).all()
    assert BOX.sample(10, generator(), sampler, dtype=torch.float32).dtype == torch.float32


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_face_samples_lie_on_the_faces_asked_for(sampler):
    faces = [(0, 0), (1, 1), (2, 0)]
    points = BOX.sample_faces(300, faces, generator(), sampler)
    assert points.shape == (300, 3)
    lower, upper = torch.tensor(BOX.lower), torch.tensor(BOX.upper)
    assert ((points >= lower) & (points <= upper)).all()
    on = torch.stack([points[:, j] == (BOX.lower, BOX.upper)[side][j] for j, side in faces], 1)
    assert (on.sum(1) >= 1).all()  # every point on one of the faces (edges: several)
    assert not (points[:, 0] == BOX.upper[0]).any()  # and none on a face not asked for


def test_face_apportioning():
    box = Box((0.0, 0.0), (3.0, 1.0))  # faces of x have length 1, faces of y length 3
    faces = box.all_faces()
    for n in (4, 5, 7, 100, 1001):
        points = box.sample_faces(n, faces, generator(), "uniform")
        assert len(points) == n
        counts = [int((points[:, j] == (box.lower, box.upper)[side][j]).sum()) for j, side in faces]
        assert min(counts) >= 1
        if n >= 100:  # in proportion to the lengths 1 : 1 : 3 : 3, to within one point
            share = np.array([1, 1, 3, 3]) / 8 * (n - 4) + 1
            assert np.abs(np.array(counts) - share).max() <= 1.0
    assert len(box.sample_faces(4, faces, generator())) == 4  # one each


@pytest.mark.parametrize("n, d", [(1, 1), (7, 2), (64, 3), (1000, 5)])
def test_latin_hypercube_strata(n, d):
    points = unit_points(n, d, generator(n), "lhs")
    strata = torch.floor(points * n).long()
    for j in range(d):  # exactly one point in each of the n strata of each coordinate
        assert torch.equal(torch.sort(strata[:, j]).values, torch.arange(n))


def test_sobol_has_lower_discrepancy_than_uniform():
    # ∫_[0,1]³ Π_j (π/2) sin(π x_j) = 1; mean |error| over 10 seeds at n = 1024: uniform
    # ~1/sqrt(n) (~0.02), scrambled Sobol far smaller (~1e-4)
    def error(sampler, seed):
        x = unit_points(1024, 3, generator(seed), sampler)
        return abs(float(torch.prod(math.pi / 2 * torch.sin(math.pi * x), 1).mean()) - 1.0)

    uniform = np.mean([error("uniform", s) for s in range(10)])
    sobol = np.mean([error("sobol", s) for s in range(10)])
    assert sobol < uniform / 10


def test_samplers_are_reproducible():
    for sampler in SAMPLERS:
        assert torch.equal(
            BOX.sample(50, generator(3), sampler), BOX.sample(50, generator(3), sampler)
        )


def test_box_grid():
    points, shape = Box((0.0, -1.0), (1.0, 1.0)).grid((3, 5))
    assert shape == (3, 5) and points.shape == (15, 2)
    assert points[0].tolist() == [0.0, -1.0] and points[-1].tolist() == [1.0, 1.0]
    assert points[1].tolist() == [0.0, -0.5]  # last coordinate fastest


def test_bad_boxes_faces_and_samplers_are_named():
    with pytest.raises(ValueError, match=r"coordinate 1 needs lower < upper, got \[2.0, 2.0\]"):
        Box((0.0, 2.0), (1.0, 2.0))
    with pytest.raises(ValueError, match="differ in length"):
        Box((0.0, 0.0), (1.0,))
    with pytest.raises(ValueError, match="differ in length"):
        Box((), ())
    with pytest.raises(ValueError, match=r"face \(3, 0\): expected \(coordinate < 3, 0 \| 1\)"):
        BOX.sample_faces(10, [(3, 0)], generator())
    with pytest.raises(ValueError, match=r"face \(0, 2\)"):
        BOX.sample_faces(10, [(0, 2)], generator())
    with pytest.raises(ValueError, match="3 points cannot cover 6 faces"):
        BOX.sample_faces(3, BOX.all_faces(), generator())
    with pytest.raises(ValueError, match="sampler: expected one of uniform, sobol, lhs, got 'x'"):
        BOX.sample(3, generator(), "x")


# -- Problem -----------------------------------------------------------------------------------


def test_user_defined_problem_in_a_few_lines():
    box = Box((0.0, 0.0), (1.0, 1.0))

    def exact(p):
        return torch.sin(math.pi * p[:, :1]) * torch.sin(math.pi * p[:, 1:])

    problem = Problem(
        box,
        [
            pde("pde", lambda p, f: -f.second - 2 * math.pi**2 * exact(p)),
            dirichlet("boundary", box.all_faces(), lambda p: 0.0 * p[:, :1]),
        ],
        reference=exact,
    )
    assert problem.condition_names == ("pde", "boundary")
    assert problem.second_order_weights == (1.0, 1.0) and problem.coordinates == ("x0", "x1")
    for r in residuals(problem, exact).values():
        assert r.abs().max() < ROUND_OFF
    assert residuals(problem, lambda p: exact(p) * 1.01)["pde"].abs().max() > 0.1


def test_problem_checks():
    box = Box((0.0,), (1.0,))
    zero = dirichlet("boundary", box.all_faces(), lambda p: 0 * p)
    with pytest.raises(ValueError, match="names must differ"):
        Problem(box, [zero, zero])
    with pytest.raises(ValueError, match=r"second_order_weights: expected 1 \(one per"):
        Problem(box, [zero], second_order_weights=(1.0, 0.0))
    with pytest.raises(ValueError, match="Problem has no exact or reference solution"):
        Problem(box, [zero]).reference(torch.zeros(1, 1))


@pytest.mark.parametrize(
    "class_path, init_args",
    [
        ("Poisson2D", {"a": 1.0, "center": [0.1, 0.2]}),
        ("KleinGordon2D", {"k": 1.0, "initial_rate": False}),
        ("AllenCahn1D", {"reference_modes": 512}),
        ("NonlinearDiffusion", {"alpha": 0.1}),
        ("Convection1D", {"c": 50.0, "nu": 0.01, "initial": "gaussian"}),
    ],
)
def test_problems_build_from_config(class_path, init_args):
    parser = ArgumentParser()
    parser.add_argument("--problem", type=Problem)
    config = parser.parse_object(
        {"problem": {"class_path": f"opl.physics.{class_path}", "init_args": init_args}}
    )
    problem = parser.instantiate(config).problem
    assert type(problem).__name__ == class_path
    for key, value in init_args.items():
        assert getattr(problem, key) == (tuple(value) if isinstance(value, list) else value)


# -- fields_by_autograd ------------------------------------------------------------------------


def test_fields_by_autograd_orders_and_values():
    points = torch.rand(20, 3, generator=generator(), dtype=torch.float64)

    def function(p):  # two channels
        return torch.cat([p[:, :1] ** 2 * p[:, 1:2], torch.sin(p[:, 2:3])], 1)

    f0 = fields_by_autograd(function, points, 0, (1.0, 1.0, 1.0))
    assert f0.u.shape == (20, 2) and f0.grad is None and f0.second is None
    with pytest.raises(ValueError, match="order >= 1"):
        f0.derivative(0)
    f1 = fields_by_autograd(function, points, 1, (1.0, 1.0, 1.0))
    assert f1.grad.shape == (20, 2, 3) and f1.second is None
    x, y, z = points.T
    assert torch.allclose(f1.derivative(0)[:, 0], 2 * x * y)
    assert torch.allclose(f1.derivative(2)[:, 1], torch.cos(z))
    f2 = fields_by_autograd(function, points, 2, (1.0, 0.5, -1.0))
    assert f2.second.shape == (20, 2)
    assert torch.allclose(f2.second[:, 0], 2 * y)
    assert torch.allclose(f2.second[:, 1], torch.sin(z))


def test_fields_by_autograd_zero_weights_and_linear_functions():
    points = torch.rand(10, 2, generator=generator(), dtype=torch.float64)
    f = fields_by_autograd(lambda p: p[:, :1] ** 3, points, 2, (0.0, 0.0))
    assert torch.equal(f.second, torch.zeros(10, 1, dtype=torch.float64))
    # a linear u has a constant gradient (no graph to differentiate): L_w u = 0, not an error
    f = fields_by_autograd(lambda p: p[:, :1] + 2 * p[:, 1:], points, 2, (1.0, 1.0))
    assert torch.equal(f.second, torch.zeros(10, 1, dtype=torch.float64))
    assert torch.allclose(f.grad[:, 0], torch.tensor([1.0, 2.0], dtype=torch.float64))
    # and a constant one a zero gradient
    f = fields_by_autograd(lambda p: torch.ones(len(p), 1, dtype=p.dtype), points, 2, (1.0, 1.0))
    assert torch.equal(f.grad, torch.zeros(10, 1, 2, dtype=torch.float64))
