"""The P1/P2 plane elasticity solver: exact uniaxial states, the Kirsch stress concentration on the
shipped plate_hole mesh, variable Young's modulus (series bar, smooth modulus), and bad input."""

import numpy as np
import pytest
import skfem

from data_gen.fem.elasticity import ElasticityError, nodal_stress, solve_elasticity
from data_gen.fem.mesh import MeshError, load_mesh

NU = 0.3
SIGMA0 = 1.5


def bar(xs, ys):
    """The tensor-product triangle mesh of xs × ys with boundaries left, right, bottom, top."""
    mesh = skfem.MeshTri.init_tensor(np.asarray(xs, float), np.asarray(ys, float))
    return mesh.with_boundaries(
        {
            "left": lambda x: np.isclose(x[0], xs[0]),
            "right": lambda x: np.isclose(x[0], xs[-1]),
            "bottom": lambda x: np.isclose(x[1], ys[0]),
            "top": lambda x: np.isclose(x[1], ys[-1]),
        }
    )


def n_dofs(mesh, element):
    scalar = skfem.ElementTriP1() if element == "P1" else skfem.ElementTriP2()
    return skfem.Basis(mesh, scalar).N


def test_uniaxial_bar_on_rollers_is_exact_in_p1():
    """Left edge on x-rollers (every left vertex pinned in x) plus one y pin, traction (σ0, 0) on
    the right: u = (σ0 x / E, −ν σ0 y / E) lies in P1, so only roundoff remains (1e-12 of the
    displacement scale σ0 L / E; measured ~1e-16), and von Mises = σ0 exactly."""
    mesh = bar(np.linspace(0, 2, 9), np.linspace(0, 1, 5))
    young = 200.0
    rollers = [(0.0, y, 0) for y in mesh.p[1, np.isclose(mesh.p[0], 0)]]
    u, vm, basis = solve_elasticity(
        mesh,
        element="P1",
        youngs_modulus=np.full(mesh.nvertices, young),
        poisson_ratio=NU,
        clamped=(),
        traction={"right": (SIGMA0, 0.0)},
        pinned=[*rollers, (0.0, 0.0, 1)],
    )
    x, y = basis.doflocs
    scale = SIGMA0 * 2 / young
    np.testing.assert_allclose(u[0], SIGMA0 * x / young, rtol=0, atol=1e-12 * scale)
    np.testing.assert_allclose(u[1], -NU * SIGMA0 * y / young, rtol=0, atol=1e-12 * scale)
    np.testing.assert_allclose(vm, SIGMA0, rtol=1e-12)


@pytest.mark.parametrize("element", ["P1", "P2"])
@pytest.mark.parametrize("plane", ["stress", "strain"])
def test_pure_traction_bar_is_exact(element, plane):
    """Tension (∓σ0, 0) on both ends, statically determinate pins at (0, 0) in x and y and at
    (2, 0) in y: the linear exact state is in P1 ⊂ P2, so roundoff only (tolerance 1e-10 relative;
    measured ≤ 1e-14). Plane strain: εxx = (1 − ν²) σ0 / E, εyy = −ν (1 + ν) σ0 / E, σzz = ν σ0,
    so σ_vm = σ0 sqrt(1 − ν + ν²)."""
    mesh = bar(np.linspace(0, 2, 7), np.linspace(0, 1, 4))
    young = 3.0
    u, vm, basis = solve_elasticity(
        mesh,
        element=element,
        youngs_modulus=np.full(n_dofs(mesh, element), young),
        poisson_ratio=NU,
        clamped=(),
        traction={"left": (-SIGMA0, 0.0), "right": (SIGMA0, 0.0)},
        plane=plane,
        pinned=[(0.0, 0.0, 0), (0.0, 0.0, 1), (2.0, 0.0, 1)],
    )
    x, y = basis.doflocs
    if plane == "stress":
        exx, eyy, von_mises = SIGMA0 / young, -NU * SIGMA0 / young, SIGMA0
    else:
        exx, eyy = (1 - NU**2) * SIGMA0 / young, -NU * (1 + NU) * SIGMA0 / young
        von_mises = SIGMA0 * np.sqrt(1 - NU + NU**2)
    scale = 2 * exx
    np.testing.assert_allclose(u[0], exx * x, rtol=0, atol=1e-10 * scale)
    np.testing.assert_allclose(u[1], eyy * y, rtol=0, atol=1e-10 * scale)
    np.testing.assert_allclose(vm, von_mises, rtol=1e-10)


def test_kirsch_stress_concentration_on_plate_hole():
    """P2 on plate_hole level 2 (hole d = 0.1 in a plate of width W = 1, length 2), tension σ0.

    Reference: Peterson/Heywood finite-width factor K_tg = K_tn / (1 − d/W) with
    K_tn = 3 − 3.14 (d/W) + 3.667 (d/W)² − 1.527 (d/W)³, i.e. 3.0235 at d/W = 0.1 (infinite-plate
    Kirsch: 3). Measured: recovered σxx / σ0 = 2.997 at the vertex nearest (0, 0.05), which sits
    at 86.4° on the 50-gon hole (the Kirsch hoop stress there is 0.5 % below its peak), i.e.
    −0.9 %; tolerance 2 %. (A check beyond this test: refining this mesh twice with the hole nodes
    moved onto the circle gives 3.034 and 3.036, so the formula is right to ~0.5 %.)
    σyy at the hole's side (0.05, 0): Kirsch gives −σ0 for the infinite plate; measured −1.015 σ0
    here (−1.031 on the twice-refined curved mesh: the finite width adds ~3 %); tolerance 5 %."""
    mesh = load_mesh("plate_hole", 2)
    n = n_dofs(mesh, "P2")
    u, _, basis = solve_elasticity(
        mesh,
        element="P2",
        youngs_modulus=np.full(n, 70.0),
        poisson_ratio=NU,
        clamped=(),
        traction={"left": (-SIGMA0, 0.0), "right": (SIGMA0, 0.0)},
        pinned=[(-1.0, 0.0, 0), (-1.0, 0.0, 1), (1.0, 0.0, 1)],
    )
    stress = nodal_stress(basis, u, basis.interpolate(np.full(n, 70.0)), NU, "stress")
    d_w = 0.1
    k_tg = (3 - 3.14 * d_w + 3.667 * d_w**2 - 1.527 * d_w**3) / (1 - d_w)
    assert k_tg == pytest.approx(3.0235, abs=1e-4)
    top = np.argmin(np.hypot(mesh.p[0], mesh.p[1] - 0.05))
    side = np.argmin(np.hypot(mesh.p[0] - 0.05, mesh.p[1]))
    assert stress[0, top] / SIGMA0 == pytest.approx(k_tg, rel=0.02)
    assert stress[1, side] / SIGMA0 == pytest.approx(-1.0, rel=0.05)


def test_two_material_bar_in_series():
    """E1 on [0, 1], E2 on [1, 2], ν = 0 (so no lateral mismatch at the interface), rollers on the
    left, traction (σ0, 0) on the right: the tip displacement is σ0 (1/E1 + 1/E2).

    E is given at the vertices, so the jump is a linear ramp across one element column; that
    column is made thin, [1 − δ, 1]. Stiffness is monotone in E and with E piecewise constant per
    column the P1 solution is exact, so the compliance (σ0 × the right-edge integral of u_x)
    lies between the series values with the ramp taken all E1 or all E2: a rigorous bracket of
    width σ0 δ |1/E1 − 1/E2|. Each tip node is within twice that width (measured 0.9×)."""
    young1, young2, delta = 1.0, 4.0, 1e-6
    xs = np.concatenate([np.linspace(0, 1 - delta, 5), np.linspace(1, 2, 5)])
    mesh = bar(xs, np.linspace(0, 1, 4))
    rollers = [(0.0, y, 0) for y in mesh.p[1, np.isclose(mesh.p[0], 0)]]
    u, _, _ = solve_elasticity(
        mesh,
        element="P1",
        youngs_modulus=np.where(mesh.p[0] < 1 - delta / 2, young1, young2),
        poisson_ratio=0.0,
        clamped=(),
        traction={"right": (SIGMA0, 0.0)},
        pinned=[*rollers, (0.0, 0.0, 1)],
    )
    right = np.flatnonzero(np.isclose(mesh.p[0], 2))
    right = right[np.argsort(mesh.p[1, right])]
    mean_tip = np.trapezoid(u[0, right], mesh.p[1, right])  # P1 on facets: exact
    series = SIGMA0 * (1 / young1 + 1 / young2)
    width = SIGMA0 * delta * abs(1 / young1 - 1 / young2)
    assert series - width - 1e-12 <= mean_tip <= series + 1e-12
    np.testing.assert_allclose(u[0, right], series, rtol=0, atol=2 * width)


def test_linear_modulus_p2_converges_to_the_log_solution():
    """E = E0 (1 + x/2) on [0, 2] × [0, 1] (exact in P1 and P2), ν = 0, tension σ0 at both ends:
    σxx = σ0 everywhere and u_x = 2 σ0 / E0 ln(1 + x/2), u_y = 0 (with the pins). Largest P2 dof
    error relative to the tip displacement 2 σ0 ln 2 / E0 measured 1.13e-5 and 1.54e-6 at
    h = 1/8, 1/16 (order 2.9): assert < 3e-6 on the fine mesh and an observed order > 2.5; von
    Mises within 2e-5 σ0 of σ0 (measured 7.3e-6)."""
    young0, errors = 1.0, []
    for n in (9, 17):
        mesh = bar(np.linspace(0, 2, 2 * n - 1), np.linspace(0, 1, n))
        x = skfem.Basis(mesh, skfem.ElementTriP2()).doflocs[0]
        u, vm, basis = solve_elasticity(
            mesh,
            element="P2",
            youngs_modulus=young0 * (1.0 + x / 2),
            poisson_ratio=0.0,
            clamped=(),
            traction={"left": (-SIGMA0, 0.0), "right": (SIGMA0, 0.0)},
            pinned=[(0.0, 0.0, 0), (0.0, 0.0, 1), (2.0, 0.0, 1)],
        )
        exact = 2 * SIGMA0 / young0 * np.log(1 + basis.doflocs[0] / 2)
        error = max(np.abs(u[0] - exact).max(), np.abs(u[1]).max())
        errors.append(error / (2 * SIGMA0 * np.log(2) / young0))
    assert errors[1] < 3e-6
    assert np.log2(errors[0] / errors[1]) > 2.5
    np.testing.assert_allclose(vm, SIGMA0, rtol=0, atol=2e-5 * SIGMA0)


def _bad(**changes):
    mesh = bar(np.linspace(0, 2, 5), np.linspace(0, 1, 3))
    args = {
        "element": "P1",
        "youngs_modulus": np.ones(mesh.nvertices),
        "poisson_ratio": NU,
        "clamped": ("left",),
        "traction": {"right": (1.0, 0.0)},
    }
    args.update(changes)
    if callable(args["youngs_modulus"]):
        args["youngs_modulus"] = args["youngs_modulus"](mesh)
    solve_elasticity(mesh, **args)


def _p2_jump(mesh):
    return np.where(skfem.Basis(mesh, skfem.ElementTriP2()).doflocs[0] < 1, 1.0, 100.0)


@pytest.mark.parametrize(
    ("changes", "error", "match"),
    [
        ({"element": "P3"}, ElasticityError, "element: expected one of P1, P2, got 'P3'"),
        ({"plane": "membrane"}, ElasticityError, "plane: expected one of stress, strain"),
        ({"poisson_ratio": 0.5}, ElasticityError, r"poisson_ratio: expected a value in \(-1, 0.5"),
        ({"poisson_ratio": -1.0}, ElasticityError, "poisson_ratio"),
        ({"youngs_modulus": np.ones(7)}, ElasticityError, r"expected 15 values \(one per P1 dof"),
        ({"youngs_modulus": np.zeros(15)}, ElasticityError, "youngs_modulus: expected finite"),
        ({"element": "P2"}, ElasticityError, "expected 45 values"),
        ({"element": "P2", "youngs_modulus": _p2_jump}, ElasticityError, "interpolant is <= 0"),
        ({"clamped": ("wall",)}, MeshError, "clamped: unknown boundary 'wall'"),
        ({"traction": {"hole": (1.0, 0.0)}}, MeshError, "traction: unknown boundary 'hole'"),
        ({"traction": {"left": (1.0, 0.0)}}, ElasticityError, "'left' is also clamped"),
        ({"traction": {"right": (1.0,)}}, ElasticityError, r"traction\['right'\]: expected"),
        ({"pinned": [(0.0, 0.0, 2)]}, ElasticityError, "component 0 .x. or 1 .y."),
        (
            {"clamped": (), "pinned": [(0.0, 0.0, 0), (0.0, 0.0, 1)]},
            ElasticityError,
            "2 pinned constraint.s. do not remove the 3 rigid motions .* singular",
        ),
        (
            {"clamped": (), "pinned": [(0.0, 0.0, 0), (0.0, 1.0, 0), (0.0, 0.5, 0)]},
            ElasticityError,
            "singular",
        ),
    ],
)
def test_bad_input_is_reported(changes, error, match):
    with pytest.raises(error, match=match):
        _bad(**changes)
    assert issubclass(error, ValueError)
