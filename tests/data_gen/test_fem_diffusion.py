"""The P1 / P2 diffusion solver: convergence orders on an unstructured mesh, exactness, fluxes."""

import dataclasses

import numpy as np
import pytest
import skfem
import sympy as sp
from skfem import Functional
from skfem.helpers import dot

from data_gen.fem.diffusion import ELEMENTS, dof_locations, solve_diffusion
from data_gen.fem.mesh import load_mesh

# --- meshes --------------------------------------------------------------------------------------


def perturbed_lshape(rng: np.random.Generator, refine: int = 2) -> skfem.MeshTri:
    """The L-shape (-1, 1)² minus [0, 1]², refined, interior nodes moved by up to 20% of the local
    edge length, with boundary parts left, bottom, notch (the two re-entrant edges), right, top."""
    mesh = skfem.MeshTri.init_lshaped().refined(refine)
    p = mesh.p.copy()
    edges = mesh.facets
    length = np.linalg.norm(p[:, edges[0]] - p[:, edges[1]], axis=0)
    h = np.full(mesh.nvertices, np.inf)
    np.minimum.at(h, edges[0], length)
    np.minimum.at(h, edges[1], length)
    inner = np.setdiff1d(np.arange(mesh.nvertices), mesh.boundary_nodes())
    radius = 0.2 * h[inner] * np.sqrt(rng.uniform(size=inner.size))
    angle = rng.uniform(0, 2 * np.pi, size=inner.size)
    p[:, inner] += radius * np.array([np.cos(angle), np.sin(angle)])
    perturbed = skfem.MeshTri(p, mesh.t)
    assert np.all(np.sign(signed_areas(perturbed)) == np.sign(signed_areas(mesh)))
    return perturbed.with_boundaries(
        {
            "left": lambda x: np.isclose(x[0], -1),
            "bottom": lambda x: np.isclose(x[1], -1),
            "right": lambda x: np.isclose(x[0], 1),
            "top": lambda x: np.isclose(x[1], 1),
            "notch": lambda x: (
                (np.isclose(x[0], 0) & (x[1] > 0)) | (np.isclose(x[1], 0) & (x[0] > 0))
            ),
        }
    )


def signed_areas(mesh: skfem.MeshTri) -> np.ndarray:
    a, b, c = (mesh.p[:, mesh.t[i]] for i in range(3))
    return 0.5 * ((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]))


def unit_square(n: int) -> skfem.MeshTri:
    """An n×n-cell triangulated unit square with parts left, right, bottom, top."""
    return skfem.MeshTri.init_tensor(
        np.linspace(0, 1, n + 1), np.linspace(0, 1, n + 1)
    ).with_defaults()


# --- manufactured solution -----------------------------------------------------------------------

_x, _y = sp.symbols("x y")


def problem(u: sp.Expr, a: sp.Expr):
    """Numpy functions (u, a, u_x, u_y, f) of (x, y) with f = -div(a grad u), derived exactly."""
    ux, uy = sp.diff(u, _x), sp.diff(u, _y)
    f = -(sp.diff(a * ux, _x) + sp.diff(a * uy, _y))
    fns = (sp.lambdify((_x, _y), e, "numpy") for e in (u, a, ux, uy, f))
    # adding zeros broadcasts an expression that is constant to the shape of x
    return tuple(lambda x, y, fn=fn: fn(x, y) + np.zeros_like(x) for fn in fns)


U, A, UX, UY, F = problem(
    sp.sin(sp.pi * _x) * sp.cos(sp.pi * _y / 2) * sp.exp(_x * _y),
    1 + _x**2 / 2 + sp.sin(sp.pi * (_x + _y)) / 4,  # >= 3/4
)


def errors(mesh: skfem.MeshTri, element: str) -> tuple[float, float]:
    """(L2, H1-seminorm) errors of the FE solution of the manufactured problem: u = g_D on left,
    bottom and notch; a ∂u/∂n = a u_x on right (n = e_x) and a u_y on top (n = e_y)."""
    x, y = dof_locations(mesh, element)
    exact = U(x, y)
    uh, basis = solve_diffusion(
        mesh,
        element=element,
        coefficient=A(x, y),
        source=F(x, y),
        dirichlet={"left": exact, "bottom": exact, "notch": exact},
        neumann={"right": A(x, y) * UX(x, y), "top": A(x, y) * UY(x, y)},
    )
    # a quadrature of order 10 makes the error of integrating the smooth exact u negligible
    fine = skfem.Basis(mesh, ELEMENTS[element](), intorder=10)

    @Functional
    def l2(w):
        return (w.uh - U(*w.x)) ** 2

    @Functional
    def h1(w):
        e = w.uh.grad - np.array([UX(*w.x), UY(*w.x)])
        return dot(e, e)

    uh = fine.interpolate(uh)
    return np.sqrt(l2.assemble(fine, uh=uh)), np.sqrt(h1.assemble(fine, uh=uh))


@pytest.mark.parametrize(
    ("element", "levels", "l2_order", "h1_order"),
    [("P1", range(2, 6), (1.85, 2.2), (0.9, 1.15)), ("P2", range(1, 5), (2.8, 3.25), (1.85, 2.2))],
)
def test_manufactured_solution_converges_at_the_optimal_orders(element, levels, l2_order, h1_order):
    coarse = perturbed_lshape(np.random.default_rng(3))
    errs = np.array([errors(coarse.refined(k), element) for k in levels])  # h halves each level
    orders = np.log2(errs[:-1] / errs[1:])  # columns: L2, H1
    # Theory for smooth u, a: h^(k+1) in L2 and h^k in H1 (interpolating the data keeps these).
    # Measured: P1 L2 1.991-1.999, H1 0.998-1.000 (1536 -> 98304 triangles); P2 L2 3.016-3.001,
    # H1 1.982-1.997 (384 -> 24576). The windows leave room for pre-asymptotic terms and another
    # random perturbation, yet exclude a lost order (e.g. a wrong Neumann sign or quadrature).
    assert np.all((orders[:, 0] >= l2_order[0]) & (orders[:, 0] <= l2_order[1])), (errs, orders)
    assert np.all((orders[:, 1] >= h1_order[0]) & (orders[:, 1] <= h1_order[1])), (errs, orders)


@pytest.mark.parametrize(
    ("element", "levels", "l2_order", "h1_order"),
    [("P1", range(1, 5), (1.85, 2.2), (0.9, 1.15)), ("P2", range(0, 4), (2.8, 3.25), (1.85, 2.2))],
)
def test_convergence_on_the_shipped_gmsh_lshape(element, levels, l2_order, h1_order):
    # the Delaunay mesh of meshes/lshape_0.msh (190 triangles), uniformly refined: the same
    # manufactured problem and windows as above, on a mesh no structured grid underlies
    gmsh_mesh = load_mesh("lshape", 0)
    parts = dict(gmsh_mesh.boundaries)
    parts["notch"] = parts.pop("reentrant")
    coarse = dataclasses.replace(gmsh_mesh, _boundaries=parts)
    errs = np.array([errors(coarse.refined(k), element) for k in levels])
    orders = np.log2(errs[:-1] / errs[1:])
    assert np.all((orders[:, 0] >= l2_order[0]) & (orders[:, 0] <= l2_order[1])), (errs, orders)
    assert np.all((orders[:, 1] >= h1_order[0]) & (orders[:, 1] <= h1_order[1])), (errs, orders)


# --- exactness -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("element", "u", "a"),
    [
        ("P1", 1 + 2 * _x - 3 * _y, sp.Integer(3)),
        ("P1", 1 + 2 * _x - 3 * _y, 3 + _x + _y),
        ("P2", 1 + _x - 2 * _y + _x**2 - _x * _y + 3 * _y**2 / 2, sp.Rational(3, 2)),
        ("P2", 1 + _x - 2 * _y + _x**2 - _x * _y + 3 * _y**2 / 2, 2 + _x - _y / 2),
    ],
)
def test_polynomials_of_the_element_degree_are_reproduced_exactly(element, u, a):
    # u in V_h; a linear and f = -div(a grad u) of degree <= k are interpolated exactly, and the
    # quadrature is exact, so u_h = u up to round-off (measured max error 2e-15 for P1, 8e-15 for
    # P2 with |u| <= 7; 1e-12 leaves room for the conditioning of other meshes / BLAS).
    mesh = perturbed_lshape(np.random.default_rng(5))
    exact, coefficient, _, _, source = problem(u, a)
    x, y = dof_locations(mesh, element)
    uh, _ = solve_diffusion(
        mesh,
        element=element,
        coefficient=coefficient(x, y),
        source=source(x, y),
        dirichlet={name: exact(x, y) for name in mesh.boundaries},
    )
    np.testing.assert_allclose(uh, exact(x, y), rtol=0, atol=1e-12)


# --- Neumann data --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("element", "a", "f", "flux", "u"),
    [
        # -(2 u')' = 0, u(0) = 0, 2 u'(1) = 2:  u = x
        ("P1", 2.0, 0.0, 2.0, lambda x: x),
        # -(2 u')' = 4, u(0) = 1, 2 u'(1) = 2:  u = 1 + 3x - x²
        ("P2", 2.0, 4.0, 2.0, lambda x: 1 + 3 * x - x**2),
    ],
)
def test_one_dimensional_flux_problem_is_reproduced_exactly(element, a, f, flux, u):
    # Constant data (floats) on left/right; top and bottom are left out, so homogeneous Neumann:
    # the 1-D solution in V_h is exact, which checks the sign (outward normal) and scale of g_N.
    # Measured max error 5e-14 (P2); 1e-12 is round-off with margin.
    mesh = unit_square(6)
    x, _ = dof_locations(mesh, element)
    uh, _ = solve_diffusion(
        mesh,
        element=element,
        coefficient=np.full(x.size, a),
        source=np.full(x.size, f),
        dirichlet={"left": float(u(0.0))},
        neumann={"right": flux},
    )
    np.testing.assert_allclose(uh, u(x), rtol=0, atol=1e-12)


def test_constant_and_array_boundary_data_agree():
    mesh = perturbed_lshape(np.random.default_rng(7), refine=1)
    x, y = dof_locations(mesh, "P2")
    fields = {"element": "P2", "coefficient": A(x, y), "source": F(x, y)}
    scalar, _ = solve_diffusion(mesh, **fields, dirichlet={"left": 0.5}, neumann={"top": -1.0})
    array, _ = solve_diffusion(
        mesh, **fields, dirichlet={"left": np.full(x.size, 0.5)}, neumann={"top": -np.ones(x.size)}
    )
    # a constant is expanded to the same array at the dofs, so the arithmetic is identical
    np.testing.assert_array_equal(scalar, array)


# --- bad input -----------------------------------------------------------------------------------

_N = 25  # P1 dofs of unit_square(4)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"element": "P3"}, "element: expected one of P1, P2, got 'P3'"),
        (
            {"dirichlet": {"inlet": 0.0}},
            "dirichlet: unknown boundary 'inlet'; the mesh has: bottom",
        ),
        ({"neumann": {"outlet": 1.0}}, "neumann: unknown boundary 'outlet'; the mesh has: bottom"),
        ({"coefficient": np.ones(_N - 1)}, f"coefficient: expected an array of {_N} values"),
        ({"coefficient": np.ones((_N, 1))}, f"coefficient: expected an array of {_N} values"),
        ({"source": np.ones(_N + 1)}, f"source: expected an array of {_N} values"),
        ({"coefficient": np.r_[np.ones(_N - 1), 0.0]}, "coefficient: expected values > 0"),
        ({"coefficient": np.r_[np.ones(_N - 1), -1.0]}, "coefficient: expected values > 0"),
        ({"coefficient": np.r_[np.ones(_N - 1), np.nan]}, "coefficient: expected finite values"),
        ({"coefficient": np.r_[np.ones(_N - 1), np.inf]}, "coefficient: expected finite values"),
        ({"source": np.r_[np.ones(_N - 1), np.nan]}, "source: expected finite values"),
        ({"dirichlet": {}}, "dirichlet: expected at least one boundary part.*singular"),
        ({"neumann": {"left": 1.0}}, "boundary 'left' named in both"),
        ({"dirichlet": {"left": np.ones(3)}}, rf"dirichlet\['left'\]: expected an array of {_N}"),
        ({"neumann": {"right": np.nan}}, r"neumann\['right'\]: expected finite values"),
    ],
)
def test_bad_input_is_refused_naming_the_argument(change, match):
    args = {
        "element": "P1",
        "coefficient": np.ones(_N),
        "source": np.zeros(_N),
        "dirichlet": {"left": 0.0},
    } | change
    with pytest.raises(ValueError, match=match):
        solve_diffusion(unit_square(4), **args)


def test_bad_mesh_or_element_is_refused():
    with pytest.raises(ValueError, match="dirichlet: unknown boundary 'left'; the mesh has: none"):
        solve_diffusion(
            skfem.MeshTri(),
            element="P1",
            coefficient=np.ones(4),
            source=np.zeros(4),
            dirichlet={"left": 0.0},
        )
    with pytest.raises(ValueError, match="element: expected one of P1, P2, got 'Q1'"):
        dof_locations(unit_square(4), "Q1")


def test_p2_coefficient_negative_between_positive_dofs_is_refused() -> None:
    # vertices 1, edge midpoints 1e-3: at a centroid the P2 interpolant is
    # 3·1·(−1/9) + 3·1e-3·(4/9) < 0, although every dof value is > 0
    mesh = unit_square(4)
    n = dof_locations(mesh, "P2").shape[1]
    a = np.where(np.arange(n) < mesh.nvertices, 1.0, 1e-3)
    with pytest.raises(ValueError, match="coefficient: its P2 interpolant is <= 0 at a quadrature"):
        solve_diffusion(
            mesh, element="P2", coefficient=a, source=np.ones(n), dirichlet={"left": 0.0}
        )
