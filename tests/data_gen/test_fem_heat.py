"""The θ-scheme P1/P2 heat solver: temporal and spatial orders, energy decay, input errors."""

import numpy as np
import pytest
import skfem
from skfem import Functional

from data_gen.fem.heat import solve_heat


def unit_square(n):
    """The unit square, n×n squares each split into two triangles, sides named."""
    x = np.linspace(0.0, 1.0, n + 1)
    return skfem.MeshTri.init_tensor(x, x).with_boundaries(
        {
            "left": lambda p: np.isclose(p[0], 0.0),
            "right": lambda p: np.isclose(p[0], 1.0),
            "bottom": lambda p: np.isclose(p[1], 0.0),
            "top": lambda p: np.isclose(p[1], 1.0),
        }
    )


@Functional
def squared_error(w):
    return (w.uh - w.exact) ** 2


def l2_error(values, basis, exact):
    """||u_h − exact||_L2(Ω) by quadrature (exact: a function of x, y)."""
    x, y = basis.global_coordinates()
    return np.sqrt(squared_error.assemble(basis, uh=basis.interpolate(values), exact=exact(x, y)))


def mass_norms(snapshots, basis, u0):
    """||u||_M = ||u_h||_L2 of u0 and of every snapshot."""
    mass = skfem.BilinearForm(lambda u, v, _: u * v).assemble(basis)
    rows = np.vstack([u0, snapshots])
    return np.sqrt(np.einsum("ki,ki->k", rows, (mass @ rows.T).T))


@pytest.mark.parametrize(("theta", "order"), [(0.5, 2.0), (1.0, 1.0)])
def test_eigenmode_decay_has_the_scheme_temporal_order(theta, order):
    # u = e^{-2π²t} sin πx sin πy. P2 on 32×32 squares: the space error (1e-6) is far below the
    # time errors at these steps (≥ 1e-5), so the errors' ratios give the temporal order.
    mesh = unit_square(32)
    basis = skfem.Basis(mesh, skfem.ElementTriP2())
    x, y = basis.doflocs
    u0 = np.sin(np.pi * x) * np.sin(np.pi * y)
    t_end = 0.1

    def exact(x, y):
        return np.exp(-2 * np.pi**2 * t_end) * np.sin(np.pi * x) * np.sin(np.pi * y)

    steps = [8, 16, 32, 64] if theta == 0.5 else [20, 40, 80, 160]
    errors = []
    for m in steps:
        snapshots, _ = solve_heat(
            mesh,
            element="P2",
            u0=u0,
            kappa=1.0,
            t_end=t_end,
            n_snapshots=1,
            dt=t_end / m,
            theta=theta,
        )
        errors.append(l2_error(snapshots[-1], basis, exact))
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert np.all(np.abs(orders - order) < 0.15), (errors, orders)


@pytest.mark.parametrize(
    ("element", "order", "sizes"), [("P1", 2.0, [8, 16, 32, 64]), ("P2", 3.0, [4, 8, 16, 32])]
)
def test_variable_kappa_source_and_mixed_conditions_converge_in_space(element, order, sizes):
    # u = sin πx cos πy is steady for κ = 1 + x and f = −div(κ grad u): u = 0 on left/right
    # (Dirichlet), ∂u/∂n = 0 on bottom/top (Neumann). Started from its interpolant, u_h(t)
    # stays within O(h^{k+1}) of u in L2; Crank–Nicolson with a small step.
    def exact(x, y):
        return np.sin(np.pi * x) * np.cos(np.pi * y)

    def source(x, y):
        return (1 + x) * 2 * np.pi**2 * exact(x, y) - np.pi * np.cos(np.pi * x) * np.cos(np.pi * y)

    errors = []
    for n in sizes:
        mesh = unit_square(n)
        basis = skfem.Basis(mesh, skfem.ElementTriP1() if element == "P1" else skfem.ElementTriP2())
        x, y = basis.doflocs
        snapshots, _ = solve_heat(
            mesh,
            element=element,
            u0=exact(x, y),
            kappa=1 + x,
            t_end=0.05,
            n_snapshots=2,
            dt=1e-3,
            dirichlet=["left", "right"],
            source=source(x, y),
        )
        errors.append(l2_error(snapshots[-1], basis, exact))
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert np.all(np.abs(orders - order) < 0.15), (errors, orders)


@pytest.mark.parametrize("theta", [0.5, 0.6, 1.0])
@pytest.mark.parametrize("dirichlet", [None, ["left", "bottom"]])
def test_energy_never_increases_without_source(theta, dirichlet):
    # ||u||_M is non-increasing for θ >= 1/2 at any step, even one far beyond the explicit
    # limit (h λ_max ~ 1e4 here) and from rough data.
    mesh = unit_square(24)
    basis = skfem.Basis(mesh, skfem.ElementTriP1())
    u0 = np.random.default_rng(3).standard_normal(basis.N)
    snapshots, _ = solve_heat(
        mesh,
        element="P1",
        u0=u0,
        kappa=2.0,
        t_end=0.5,
        n_snapshots=25,
        dt=0.02,
        theta=theta,
        dirichlet=dirichlet,
    )
    fixed = basis.get_dofs().flatten() if dirichlet is None else basis.get_dofs(dirichlet).flatten()
    start = u0.copy()
    start[fixed] = 0.0  # the boundary condition replaces u0 there
    norms = mass_norms(snapshots, basis, start)
    assert np.all(np.diff(norms) <= 1e-12 * norms[0]), norms
    assert norms[-1] < norms[0]


def test_pure_neumann_conserves_the_mean():
    # dirichlet=[]: K 1 = 0, so ∫ u_h = 1ᵀ M u is constant when f = 0.
    mesh = unit_square(12)
    basis = skfem.Basis(mesh, skfem.ElementTriP2())
    u0 = np.random.default_rng(1).standard_normal(basis.N)
    snapshots, _ = solve_heat(
        mesh, element="P2", u0=u0, kappa=1.0, t_end=0.2, n_snapshots=4, dt=0.01, dirichlet=[]
    )
    mass = skfem.BilinearForm(lambda u, v, _: u * v).assemble(basis)
    integrals = mass @ np.vstack([u0, snapshots]).T
    np.testing.assert_allclose(integrals.sum(axis=0), (mass @ u0).sum(), rtol=1e-12, atol=1e-12)


def test_steps_land_on_the_snapshot_times():
    # interval 0.05: dt = 0.03 and dt = 0.025 both give 2 steps of 0.025; dt = 0.01 gives 5
    # steps (not 6, although 0.05 / 0.01 is 5.000000000000001 in floating point).
    mesh = unit_square(6)
    basis = skfem.Basis(mesh, skfem.ElementTriP1())
    u0 = np.random.default_rng(2).standard_normal(basis.N)

    def run(dt):
        return solve_heat(
            mesh, element="P1", u0=u0, kappa=1.0, t_end=0.1, n_snapshots=2, dt=dt, theta=1.0
        )[0]

    np.testing.assert_array_equal(run(0.03), run(0.025))
    assert not np.allclose(run(0.024), run(0.025))
    np.testing.assert_array_equal(run(0.01), run(0.05 / 5))
    assert not np.allclose(run(0.01), run(0.05 / 6))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"theta": 0.25}, "theta"),
        ({"theta": 1.5}, "theta"),
        ({"dt": 0.0}, "dt"),
        ({"dt": -0.1}, "dt"),
        ({"t_end": 0.0}, "t_end"),
        ({"n_snapshots": 0}, "n_snapshots"),
        ({"element": "P3"}, "element"),
        ({"u0": np.zeros(5)}, "u0"),
        ({"kappa": np.ones(5)}, "kappa"),
        ({"source": np.ones((2, 3))}, "source"),
        ({"kappa": 0.0}, "kappa"),
        ({"kappa": -1.0}, "kappa"),
        ({"u0": np.full(25, np.nan)}, "u0"),
        ({"dirichlet": ["left", "inlet"]}, r"dirichlet: unknown boundary 'inlet'.*left, right"),
        ({"dirichlet": "left"}, "dirichlet"),
    ],
)
def test_bad_input_is_reported_by_name(change, message):
    x = np.linspace(0.0, 1.0, 5)
    mesh = skfem.MeshTri.init_tensor(x, x).with_boundaries(
        {"left": lambda p: p[0] == 0.0, "right": lambda p: p[0] == 1.0}
    )
    arguments = {
        "element": "P1",
        "u0": np.zeros(25),
        "kappa": 1.0,
        "t_end": 1.0,
        "n_snapshots": 2,
        "dt": 0.1,
    }
    with pytest.raises(ValueError, match=message):
        solve_heat(mesh, **(arguments | change))


def test_p2_kappa_must_stay_positive_between_the_dofs():
    # κ = 1 at the vertices, 0.01 at the edge midpoints: the P2 interpolant is −1/3 + 4·0.01/3 < 0
    # at every centroid although every dof value is positive.
    mesh = unit_square(2)
    basis = skfem.Basis(mesh, skfem.ElementTriP2())
    kappa = np.where(np.arange(basis.N) < mesh.nvertices, 1.0, 0.01)
    with pytest.raises(ValueError, match="kappa must be > 0 at every dof and at every quadrature"):
        solve_heat(mesh, element="P2", u0=0.0, kappa=kappa, t_end=1.0, n_snapshots=1, dt=0.5)
