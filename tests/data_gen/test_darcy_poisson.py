"""The 5-point Darcy / Poisson solves: exactness, second-order convergence, and the generators."""

import numpy as np
import pytest
import scipy.sparse.linalg as spla

from data_gen.grid.darcy import Darcy
from data_gen.grid.fd import (
    cell_diffusion_operator,
    cell_grid,
    diffusion_operator,
    node_grid,
    solve_dirichlet,
    solve_dirichlet_cells,
)
from data_gen.grid.poisson import Poisson
from data_gen.random_fields import GaussianRandomField

GRIDS = {"nodes": (node_grid, solve_dirichlet), "cells": (cell_grid, solve_dirichlet_cells)}


def grid(s, points=node_grid):
    x = points(s)
    return np.meshgrid(x, x, indexing="ij")


def manufactured(s, points=node_grid):
    """a = 1 + x² + ½ sin 2πy, u = sin πx sin πy e^x, f = -div(a grad u) exactly."""
    X, Y = grid(s, points)
    a = 1 + X**2 + 0.5 * np.sin(2 * np.pi * Y)
    ax, ay = 2 * X, np.pi * np.cos(2 * np.pi * Y)
    sx, cx, sy, cy, ex = (
        np.sin(np.pi * X),
        np.cos(np.pi * X),
        np.sin(np.pi * Y),
        np.cos(np.pi * Y),
        np.exp(X),
    )
    u = sx * sy * ex
    ux = (np.pi * cx + sx) * sy * ex
    uy = np.pi * sx * cy * ex
    uxx = (2 * np.pi * cx + sx - np.pi**2 * sx) * sy * ex
    uyy = -(np.pi**2) * u
    f = -(ax * ux + a * uxx + ay * uy + a * uyy)
    return a, f, u


@pytest.mark.parametrize("where", GRIDS)
@pytest.mark.parametrize("average", ["arithmetic", "harmonic"])
def test_darcy_converges_at_second_order(average, where):
    points, solve = GRIDS[where]
    sizes = [17, 33, 65, 129] if where == "nodes" else [16, 32, 64, 128]  # h halves each time
    errors = []
    for s in sizes:
        a, f, u = manufactured(s, points)
        errors.append(np.max(np.abs(solve(a, f, average) - u)))
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    # truncation error O(h²) for smooth a and u: the observed order tends to 2
    assert np.all((orders > 1.9) & (orders < 2.1)), (errors, orders)


def test_five_point_laplacian_is_exact_for_a_cubic():
    # u = x(1-x)y(1-y) has vanishing 4th derivatives, so the 5-point scheme has no truncation error
    s = 21
    X, Y = grid(s)
    u = X * (1 - X) * Y * (1 - Y)
    f = 2 * Y * (1 - Y) + 2 * X * (1 - X)
    np.testing.assert_allclose(solve_dirichlet(np.ones((s, s)), f), u, atol=1e-14)


@pytest.mark.parametrize("operator", [diffusion_operator, cell_diffusion_operator])
def test_operator_is_symmetric_positive_definite(operator):
    a = np.exp(np.random.default_rng(0).standard_normal((12, 12)))
    matrix = operator(a, "harmonic")
    assert abs(matrix - matrix.T).max() == 0
    smallest = spla.eigsh(matrix, k=1, which="SA", return_eigenvectors=False)[0]
    assert smallest > 0


def test_bad_coefficient_is_refused():
    with pytest.raises(ValueError, match="coefficient: expected finite values > 0"):
        diffusion_operator(-np.ones((5, 5)))
    with pytest.raises(ValueError, match="forcing: expected shape"):
        solve_dirichlet(np.ones((5, 5)), np.ones((4, 4)))


def test_darcy_generator_makes_the_classic_piecewise_field():
    gen = Darcy(resolution=33)
    sample = gen.solve(np.random.default_rng(0))
    a, u = sample["coeff"], sample["solution"]
    assert set(np.unique(a)) == {3.0, 12.0}
    assert np.all(u[0, :] == 0) and np.all(u[:, -1] == 0)
    # maximum principle: f = 1 > 0 and u = 0 on the boundary, so u > 0 inside
    assert np.all(u[1:-1, 1:-1] > 0)
    # the discrete equation holds: the residual of the 5-point system is round-off
    residual = diffusion_operator(a) @ u[1:-1, 1:-1].ravel() - 1.0
    assert np.max(np.abs(residual)) < 1e-10


def test_fno_darcy_lives_on_the_cells_of_its_random_field():
    gen = Darcy(resolution=32, grf=GaussianRandomField(convention="fno"))
    coords = {c.name: c.values for c in gen.layout().coordinates}
    np.testing.assert_allclose(coords["x"], cell_grid(32))
    sample = gen.solve(np.random.default_rng(0))
    a, u = sample["coeff"], sample["solution"]
    assert set(np.unique(a)) == {3.0, 12.0}
    # u = 0 on the boundary faces, half a cell outside the stored grid: small but positive there
    assert np.all(u > 0) and u[0].max() < 0.2 * u.max()
    residual = cell_diffusion_operator(a) @ u.ravel() - 1.0
    assert np.max(np.abs(residual)) < 1e-10


def test_grids_other_than_nodes_are_refused_where_the_boundary_is_a_node():
    with pytest.raises(ValueError, match="grf.convention: expected 'kl'"):
        Poisson(resolution=17, grf=GaussianRandomField(convention="fno"))


def test_lognormal_darcy_and_poisson_generators():
    rng = np.random.default_rng(3)
    d = Darcy(resolution=17, coefficient="lognormal").solve(rng)
    assert np.all(d["coeff"] > 0) and len(np.unique(d["coeff"])) > 100
    p = Poisson(resolution=17).solve(rng)
    residual = diffusion_operator(np.ones((17, 17))) @ p["solution"][1:-1, 1:-1].ravel()
    np.testing.assert_allclose(residual, p["forcing"][1:-1, 1:-1].ravel(), atol=1e-10)
