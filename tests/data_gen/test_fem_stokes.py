"""The Taylor–Hood Stokes solver: exact Poiseuille flow, incompressibility, cavity symmetry,
the cylinder channel, and input errors."""

import numpy as np
import pytest
import skfem
from scipy.spatial import cKDTree
from skfem import BilinearForm, FacetBasis, Functional
from skfem.helpers import div

from data_gen.fem.mesh import load_mesh
from data_gen.fem.stokes import solve_stokes

LENGTH, HEIGHT, SPEED, NU = 3.0, 1.0, 1.5, 0.3


def channel(nx=12, ny=4, jitter=0.3, seed=0):
    """[0, LENGTH] × [0, HEIGHT], tensor mesh refined once, interior nodes moved at random."""
    mesh = skfem.MeshTri.init_tensor(
        np.linspace(0, LENGTH, nx + 1), np.linspace(0, HEIGHT, ny + 1)
    ).refined()
    p = mesh.p.copy()
    interior = np.setdiff1d(np.arange(mesh.nvertices), mesh.boundary_nodes())
    spacing = np.array([[LENGTH / (2 * nx)], [HEIGHT / (2 * ny)]])
    rng = np.random.default_rng(seed)
    p[:, interior] += jitter * spacing * rng.uniform(-1, 1, (2, interior.size))
    return skfem.MeshTri(p, mesh.t).with_boundaries(
        {
            "inlet": lambda x: np.isclose(x[0], 0.0),
            "outlet": lambda x: np.isclose(x[0], LENGTH),
            "bottom": lambda x: np.isclose(x[1], 0.0),
            "top": lambda x: np.isclose(x[1], HEIGHT),
        }
    )


def poiseuille(points):
    """u = 4U y(H − y)/H², v = 0."""
    y = points[1]
    return np.stack([4 * SPEED * y * (HEIGHT - y) / HEIGHT**2, np.zeros_like(y)])


@Functional
def normal_flux(w):
    return w.ux * w.n[0] + w.uy * w.n[1]


def flux(mesh, velocity, part):
    """∫ u_h · n over a boundary part (outward normal)."""
    basis = FacetBasis(mesh, skfem.ElementTriP2(), facets=mesh.boundaries[part])
    ux, uy = (basis.interpolate(component) for component in velocity)
    return normal_flux.assemble(basis, ux=ux, uy=uy)


def weak_divergence(mesh, velocity):
    """(∫ div u_h q_i)_i over the P1 basis functions q_i, and a scale ∫ |grad u_h| for it."""
    vector = skfem.Basis(mesh, skfem.ElementVector(skfem.ElementTriP2()))
    p1 = skfem.Basis(mesh, skfem.ElementTriP1(), quadrature=vector.quadrature)
    x = np.zeros(vector.N)
    x[np.array(vector.split_indices())] = velocity
    divergence = BilinearForm(lambda u, q, _: div(u) * q).assemble(vector, p1) @ x
    scale = Functional(lambda w: np.abs(w.u.grad).sum(axis=(0, 1))).assemble(
        vector, u=vector.interpolate(x)
    )
    return divergence, scale


def test_poiseuille_flow_is_reproduced_to_round_off():
    # u is quadratic and p = 8νU/H² (L − x) linear, so (u, p) lies in P2–P1 and solves the
    # discrete problem exactly. At the outlet ∂u/∂n = 0, so do-nothing gives p = 0 there.
    mesh = channel()
    velocity, pressure, velocity_basis, pressure_basis = solve_stokes(
        mesh,
        viscosity=NU,
        inlet="inlet",
        inflow=poiseuille,
        walls=["bottom", "top"],
        outlet="outlet",
    )
    exact_u = poiseuille(velocity_basis.doflocs)
    exact_p = 8 * NU * SPEED / HEIGHT**2 * (LENGTH - pressure_basis.doflocs[0])
    assert velocity.shape == (2, velocity_basis.N)
    assert pressure.shape == (pressure_basis.N,)
    assert np.abs(velocity - exact_u).max() <= 1e-9 * SPEED
    assert np.abs(pressure - exact_p).max() <= 1e-9 * exact_p.max()


def test_the_inflow_array_is_the_callable_at_the_dofs():
    mesh = channel(nx=6, ny=3)
    velocity_basis = skfem.Basis(mesh, skfem.ElementTriP2())
    arguments = {"viscosity": NU, "inlet": "inlet", "walls": ["bottom", "top"], "outlet": "outlet"}
    from_callable = solve_stokes(mesh, inflow=poiseuille, **arguments)
    from_array = solve_stokes(mesh, inflow=poiseuille(velocity_basis.doflocs), **arguments)
    np.testing.assert_array_equal(from_callable[0], from_array[0])
    np.testing.assert_array_equal(from_callable[1], from_array[1])


def test_velocity_is_weakly_divergence_free_and_conserves_the_flux():
    # A profile outside P2 with a vertical component: (∫ div u_h q) = 0 for every P1 q, and,
    # q = 1 being one of them, the outflow equals the inflow.
    def inflow(points):
        y = points[1]
        return np.stack([np.sin(np.pi * y / HEIGHT) * (1 + y), 0.3 * np.sin(2 * np.pi * y)])

    mesh = channel(nx=10, ny=5, seed=4)
    velocity, *_ = solve_stokes(
        mesh,
        viscosity=0.05,
        inlet="inlet",
        inflow=inflow,
        walls=["bottom", "top"],
        outlet="outlet",
    )
    divergence, scale = weak_divergence(mesh, velocity)
    assert np.abs(divergence).max() <= 1e-13 * scale
    inflow_rate = -flux(mesh, velocity, "inlet")
    assert inflow_rate > 0.5
    assert flux(mesh, velocity, "outlet") == pytest.approx(inflow_rate, rel=1e-12)


def test_lid_driven_cavity_is_mirror_symmetric():
    # Unit square, lid u = (1, 0) on top (its corners belong to the walls: u = 0 there), no
    # outlet: the pressure has zero mean. Creeping flow is symmetric about x = 1/2:
    # u(1 − x, y) = u(x, y), v(1 − x, y) = −v(x, y), p(1 − x, y) = −p(x, y).
    mesh = (
        skfem.MeshTri.init_sqsymmetric()
        .refined(3)
        .with_boundaries(
            {
                "lid": lambda x: np.isclose(x[1], 1.0),
                "left": lambda x: np.isclose(x[0], 0.0),
                "right": lambda x: np.isclose(x[0], 1.0),
                "bottom": lambda x: np.isclose(x[1], 0.0),
            }
        )
    )
    velocity, pressure, velocity_basis, pressure_basis = solve_stokes(
        mesh,
        viscosity=1.0,
        inlet="lid",
        inflow=lambda x: np.stack([np.ones_like(x[0]), 0 * x[0]]),
        walls=["left", "right", "bottom"],
        outlet=None,
    )

    def mirror(points):
        distance, index = cKDTree(points.T).query(np.stack([1 - points[0], points[1]]).T)
        assert distance.max() < 1e-12
        return index

    u_mirror = mirror(velocity_basis.doflocs)
    p_mirror = mirror(pressure_basis.doflocs)
    np.testing.assert_allclose(velocity[0, u_mirror], velocity[0], atol=1e-11)
    np.testing.assert_allclose(velocity[1, u_mirror], -velocity[1], atol=1e-11)
    np.testing.assert_allclose(pressure[p_mirror], -pressure, atol=1e-9 * np.abs(pressure).max())

    weights = skfem.LinearForm(lambda q, _: q).assemble(pressure_basis)
    assert abs(weights @ pressure) < 1e-12 * np.abs(pressure).max()
    corners = np.flatnonzero(
        np.isclose(velocity_basis.doflocs[1], 1)
        & (np.isclose(velocity_basis.doflocs[0], 0) | np.isclose(velocity_basis.doflocs[0], 1))
    )
    assert corners.size == 2 and np.all(velocity[:, corners] == 0)
    divergence, scale = weak_divergence(mesh, velocity)
    assert np.abs(divergence).max() <= 1e-13 * scale
    # the primary vortex: backflow below the lid along the vertical centreline
    centre = np.flatnonzero(np.isclose(velocity_basis.doflocs[0], 0.5))
    assert velocity[0, centre].min() < -0.1


def test_flow_past_a_cylinder_leaves_the_channel_fully_developed():
    # DFG channel [0, 2.2] × [0, 0.41], cylinder at (0.2, 0.2): the disturbance of the parabolic
    # inflow decays like e^{-πx/H}, so at the outlet (2 units downstream) the flow is Poiseuille
    # again -- which P2 represents exactly.
    mesh = load_mesh("channel_cylinder", 0)
    height, speed = 0.41, 0.3

    def inflow(points):
        y = points[1]
        return np.stack([4 * speed * y * (height - y) / height**2, np.zeros_like(y)])

    velocity, pressure, velocity_basis, pressure_basis = solve_stokes(
        mesh,
        viscosity=1e-3,
        inlet="inlet",
        inflow=inflow,
        walls=["walls", "cylinder"],
        outlet="outlet",
    )
    inflow_rate = -flux(mesh, velocity, "inlet")
    assert inflow_rate == pytest.approx(2 / 3 * speed * height, rel=1e-12)
    assert flux(mesh, velocity, "outlet") == pytest.approx(inflow_rate, rel=1e-12)
    outlet = velocity_basis.get_dofs("outlet").flatten()
    outflow = inflow(velocity_basis.doflocs[:, outlet])
    assert np.abs(velocity[:, outlet] - outflow).max() < 1e-6 * speed
    inlet_p = pressure[pressure_basis.get_dofs("inlet").flatten()]
    outlet_p = pressure[pressure_basis.get_dofs("outlet").flatten()]
    assert np.abs(outlet_p).max() < 1e-6 * inlet_p.min()  # do-nothing: p ≈ 0 at the outlet


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"viscosity": 0.0}, "viscosity"),
        ({"viscosity": -1.0}, "viscosity"),
        ({"viscosity": float("nan")}, "viscosity"),
        ({"inlet": "entry"}, r"inlet: unknown boundary 'entry'; the mesh has: bottom, inlet"),
        ({"walls": ["bottom", "roof"]}, "walls: unknown boundary 'roof'"),
        ({"walls": "bottom"}, "walls must be a sequence"),
        ({"outlet": "exit"}, "outlet: unknown boundary 'exit'"),
        ({"outlet": "top", "walls": ["bottom", "top"]}, "distinct"),
        ({"walls": ["bottom"]}, "cover the whole boundary"),
        ({"inflow": lambda x: x[:, :3]}, r"inflow: .*shape \(2, \d+\), got shape \(2, 3\)"),
        ({"inflow": np.zeros((2, 7))}, r"inflow: .*got shape \(2, 7\)"),
        ({"inflow": lambda x: np.full_like(x, np.inf)}, "inflow must give only finite"),
        ({"outlet": None, "walls": ["bottom", "top", "outlet"]}, "inflow: enclosed flow"),
    ],
)
def test_bad_input_is_reported_by_name(change, message):
    arguments = {
        "viscosity": NU,
        "inlet": "inlet",
        "inflow": poiseuille,
        "walls": ["bottom", "top"],
        "outlet": "outlet",
    }
    with pytest.raises(ValueError, match=message):
        solve_stokes(channel(nx=3, ny=2), **(arguments | change))
