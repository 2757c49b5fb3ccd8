"""The Lagrangian PINN: chain-rule derivatives against finite differences, the Lagrangian
residuals of exact solutions, mapping back to the Eulerian grid, branch layouts, Burgers'
reference, argument errors, and a short training run."""

import math

import pytest
import torch

from opl.models import LPINN
from opl.physics import (
    Burgers1D,
    Convection1D,
    Helmholtz2D,
    Lagrangian,
    fields_by_autograd,
    periodic_interpolation,
)
from opl.physics.lagrangian import lagrangian_fields
from opl.train import PhysicsModule

TWO_PI = 2 * math.pi


def random_labels(n, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(n, 2, generator=gen, dtype=torch.float64) * torch.tensor([TWO_PI, 1.0])


def bent_lpinn(seed=0):
    """An LPINN whose characteristics are far from straight: J = ∂x/∂x0 varies by O(1)."""
    torch.manual_seed(seed)
    model = LPINN(hidden=(16, 16), characteristic_hidden=(16,)).double()
    with torch.no_grad():
        model.characteristic[-1].weight.mul_(0.3)
    return model


def test_chain_rule_derivatives_equal_finite_differences_along_x():
    model = bent_lpinn()
    labels = random_labels(20)
    fields = model.fields(labels, 2)
    jacobian = fields_by_autograd(model.lagrangian, labels, 1, (1.0, 0.0)).grad[:, 0, 0]
    assert (jacobian - 1).abs().max() > 0.05  # the chain rule matters here
    h = 1e-3  # central differences in x0, mapped to x: error O(h²) ~ 1e-6 of the derivatives
    step = torch.tensor([h, 0.0], dtype=torch.float64)
    (x_m, u_m), (x_0, u_0), (x_p, u_p) = (
        model.lagrangian(labels + s * step).unbind(1) for s in (-1, 0, 1)
    )
    u_x = (u_p - u_m) / (x_p - x_m)
    u_xx = 2 * ((u_p - u_0) / (x_p - x_0) - (u_0 - u_m) / (x_0 - x_m)) / (x_p - x_m)
    torch.testing.assert_close(fields.u_x[:, 0], u_x, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(fields.u_xx[:, 0], u_xx, rtol=1e-4, atol=1e-5)
    shortcut = LPINN(hidden=(16, 16), characteristic_hidden=(16,), x_derivatives="label")
    shortcut = shortcut.double()
    shortcut.load_state_dict(model.state_dict())
    label_fields = shortcut.fields(labels, 2)
    assert not torch.allclose(label_fields.u_xx, fields.u_xx, rtol=1e-2)
    u_x0 = fields_by_autograd(model.lagrangian, labels, 1, (1.0, 0.0)).grad[:, 1, 0]
    torch.testing.assert_close(label_fields.u_x[:, 0], u_x0)


class ExactCharacteristics(torch.nn.Module):
    """The exact Lagrangian solution of convection-diffusion: x = x0 + ct, u = u*(x0 + ct, t)."""

    def __init__(self, problem: Convection1D):
        super().__init__()
        self.problem = problem

    def lagrangian(self, labels):
        x = labels[:, 0:1] + self.problem.c * labels[:, 1:2]
        return torch.cat([x, self.problem.exact(torch.cat([x, labels[:, 1:2]], 1))], 1)

    def fields(self, labels, order, weights):
        autograd = fields_by_autograd(self.lagrangian, labels, order, weights)
        return lagrangian_fields(autograd, "chain_rule")


@pytest.mark.parametrize(
    "setting",
    [
        {"c": 30.0, "nu": 0.0, "initial": "sin"},
        {"c": 5.0, "nu": 0.1, "initial": "sin_plus_constant", "constant": 2.0},
        {"c": 10.0, "nu": 0.05, "initial": "gaussian"},
    ],
    ids=str,
)
def test_lagrangian_residuals_vanish_on_the_exact_solution(setting):
    eulerian = Convection1D(**setting)
    problem = Lagrangian(eulerian)
    exact = ExactCharacteristics(eulerian)
    generator = torch.Generator().manual_seed(1)
    for condition in problem.conditions:
        points = condition.sample(problem.domain, 200, generator)
        residual = condition.residual(
            points, lambda p, order: exact.fields(p, order, problem.second_order_weights)
        )
        # float64 autograd of closed forms with |u_xx| <= 1 / σ² ≈ 1.6: round-off only
        assert residual.abs().max() < 1e-11, condition.name


def test_periodic_interpolation_is_second_order_and_wraps():
    errors = []
    for n in (64, 128, 256):
        gen = torch.Generator().manual_seed(n)
        nodes = TWO_PI * torch.arange(n, dtype=torch.float64) / n + 0.3
        shuffled = torch.randperm(n, generator=gen)
        positions = nodes[shuffled] + TWO_PI * torch.randint(-2, 3, (n,), generator=gen)
        queries = torch.rand(500, generator=gen, dtype=torch.float64) * 3 * TWO_PI - TWO_PI
        values = torch.sin(positions)[:, None]
        error = (periodic_interpolation(positions, values, queries, TWO_PI)[:, 0]).sub(
            torch.sin(queries)
        )
        errors.append(error.abs().max().item())
        assert errors[-1] <= (TWO_PI / n) ** 2 / 8 * 1.0001  # h²/8 max|sin''|
    assert errors[0] / errors[2] > 12  # halving h twice: about 16


def test_eulerian_answers_follow_the_characteristics():
    model = bent_lpinn(seed=2)
    model.eulerian_labels = 4096
    labels = random_labels(300, seed=3)
    labels[:, 1] = torch.tensor([0.0, 0.25, 0.5])[torch.arange(300) % 3]  # three time rows
    with torch.no_grad():
        x, u = model.lagrangian(labels).unbind(1)
        eulerian = model(torch.stack([x, labels[:, 1]], 1))[:, 0]
    # linear interpolation between labels 2π/4096 apart: error ≤ h²/8 max|∂²u/∂x²| ≈ 1e-6 here
    torch.testing.assert_close(eulerian, u, rtol=0, atol=2e-5)


def test_shared_branches_reuse_the_state_layers_as_the_official_code():
    torch.manual_seed(0)
    shared = LPINN(hidden=(8, 8, 8), characteristic_hidden=(8,), branches="shared").double()
    separate = LPINN(hidden=(8, 8, 8), characteristic_hidden=(8,)).double()
    assert sum(p.numel() for p in shared.parameters()) < sum(
        p.numel() for p in separate.parameters()
    )
    labels = random_labels(5)
    before = shared.lagrangian(labels)[:, 0].detach()
    with torch.no_grad():  # U's first layer is D's first layer
        shared.state[0].weight.add_(0.1)
    assert not torch.allclose(shared.lagrangian(labels)[:, 0], before)
    with pytest.raises(ValueError, match="prefix"):
        LPINN(hidden=(8, 8), characteristic_hidden=(4,), branches="shared")


def test_periodic_embedding_makes_the_outputs_periodic_in_the_label():
    model = bent_lpinn(seed=4)
    labels = random_labels(10)
    shifted = labels + torch.tensor([TWO_PI, 0.0], dtype=torch.float64)
    a, b = model.lagrangian(labels), model.lagrangian(shifted)
    torch.testing.assert_close(b[:, 0] - a[:, 0], torch.full((10,), TWO_PI, dtype=torch.float64))
    torch.testing.assert_close(b[:, 1], a[:, 1])


def test_burgers_reference_converges_and_solves_the_equation():
    coarse = Burgers1D(reference_modes=1024, reference_dt=4e-4, reference_snapshots=100)
    fine = Burgers1D(reference_modes=2048, reference_dt=2e-4, reference_snapshots=200)
    points = random_labels(2000, seed=5)
    a, b = coarse.reference(points), fine.reference(points)
    # the front at t = 1 has width ~ν; 1024 nodes resolve it (spectral: differences ~1e-6)
    assert (torch.linalg.vector_norm(a - b) / torch.linalg.vector_norm(b)).item() < 1e-5
    torch.testing.assert_close(
        fine.reference(torch.stack([points[:, 0], torch.zeros(2000, dtype=torch.float64)], 1)),
        torch.sin(points[:, :1]),
    )


def test_bad_arguments_are_refused_with_a_message():
    with pytest.raises(ValueError, match="branches"):
        LPINN(branches="parallel")
    with pytest.raises(ValueError, match="x_derivatives"):
        LPINN(x_derivatives="eulerian")
    with pytest.raises(ValueError, match="Helmholtz2D lacks speed"):
        Lagrangian(Helmholtz2D())
    with pytest.raises(ValueError, match=r"weights: a Lagrangian model needs \(1, 0\)"):
        LPINN().fields(random_labels(3).float(), 2, (1.0, 1.0))
    with pytest.raises(ValueError, match="points: expected"):
        LPINN()(torch.zeros(3, 3))
    with pytest.raises(ValueError, match="nu: expected > 0"):
        Burgers1D(nu=0.0)


def test_a_short_training_run_reduces_the_loss():
    torch.manual_seed(0)
    module = PhysicsModule(
        LPINN(hidden=(20, 20), characteristic_hidden=(20,)).double(),
        Lagrangian(Convection1D(c=10.0)),
        points={"characteristic": 256, "state": 256, "initial": 64},
        loss_weights={"characteristic": 10.0, "state": 1.0, "initial": 1000.0},
        optimizer=lambda params: torch.optim.Adam(params, lr=1e-2),
        lbfgs=None,
    )
    optimizer = module.optimizer_factory(module.model.parameters())
    losses = []
    for step in range(80):
        module._collocation = module.collocation_points(step)
        optimizer.zero_grad()
        loss = module._loss()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.05 * losses[0]
