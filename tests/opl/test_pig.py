"""PIG and the plain MLP: exact derivatives, forward-mode propagation through the MLP, layouts,
initialisation and argument errors."""

import pytest
import torch

from opl.models import MLP, PIG
from opl.models.pig import _rotated_gaussian_features
from opl.models.pointwise import propagate, run_mlp
from opl.physics import Fields, fields_by_autograd


def plain_pig(model):
    """u(x) = MLP(FE(x)) with FE by broadcasting: the definition, differentiable twice."""

    def u(x):
        if model.covariance == "full":
            ones = torch.ones(2, dtype=x.dtype)
            embedded = _rotated_gaussian_features(
                x, model.means, model.scales, model.angles, model.feature_vectors(), ones
            )[0]
        else:
            z = (x[:, None, :] - model.means[None]) / model.scales[None]
            embedded = torch.exp(-0.5 * (z * z).sum(-1)) @ model.feature_vectors()
        return run_mlp(model.layers, model.activation, embedded)

    return u


CASES = {
    "shared": {},
    "per_channel": {"layout": "per_channel"},
    "full_covariance": {"covariance": "full"},
    "3d_two_hidden_sin": {
        "lower": (0.0, 0.0, 0.0),
        "upper": (1.0, 2.0, 3.0),
        "hidden": (8, 8),
        "activation": "sin",
        "out_channels": 2,
    },
}


@pytest.mark.parametrize("case", CASES, ids=str)
def test_pig_fields_equal_autograd_of_the_definition(case):
    torch.manual_seed(0)
    model = PIG(n_gaussians=30, feature_std=1.0, sigma_init=0.3, **CASES[case]).double()
    if model.covariance == "full":
        model.angles.data.uniform_(-1.0, 1.0)
    d = model.in_dim
    x = torch.rand(20, d, dtype=torch.float64)
    weights = torch.linspace(-1.0, 2.0, d).tolist()
    fields = model.fields(x, 2, weights)
    exact = fields_by_autograd(plain_pig(model), x, 2, weights)
    # float64 closed forms against double backward: round-off of O(K) terms of size O(1/s²)
    torch.testing.assert_close(fields.u, exact.u, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(fields.grad, exact.grad, rtol=1e-11, atol=1e-11)
    torch.testing.assert_close(fields.second, exact.second, rtol=1e-10, atol=1e-10)
    assert model.fields(x, 0).grad is None and model.fields(x, 1).second is None
    # order 0 takes the values-only path: the same u, and the same parameter gradients
    values = model.fields(x, 0).u
    torch.testing.assert_close(values, exact.u, rtol=1e-12, atol=1e-12)
    parameters = list(model.parameters())
    ours = torch.autograd.grad(values.square().sum(), parameters)
    definition = torch.autograd.grad(plain_pig(model)(x).square().sum(), parameters)
    for a, b in zip(ours, definition, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def test_propagate_through_an_mlp_equals_its_double_backward():
    torch.manual_seed(1)
    mlp = MLP(in_dim=3, out_channels=2, hidden=(7, 5)).double()
    x = torch.rand(11, 3, dtype=torch.float64)
    weights = [1.0, 0.0, -2.0]
    identity = Fields(x, torch.eye(3, dtype=x.dtype).expand(11, 3, 3), torch.zeros_like(x))
    forward_mode = propagate(mlp.layers, mlp.activation, identity, torch.tensor(weights).double())
    reverse = mlp.fields(x, 2, weights)
    torch.testing.assert_close(forward_mode.u, reverse.u, rtol=1e-13, atol=1e-13)
    torch.testing.assert_close(forward_mode.grad, reverse.grad, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(forward_mode.second, reverse.second, rtol=1e-11, atol=1e-11)


def test_per_channel_layout_gives_each_channel_its_own_gaussians():
    model = PIG(n_gaussians=5, n_features=3, layout="per_channel")
    f = model.feature_vectors()
    assert model.means.shape == (15, 2) and f.shape == (15, 3)
    # Gaussian i feeds channel i // 5 only, with its scalar weight
    for i in range(15):
        assert torch.count_nonzero(f[i]) <= 1 and f[i, i // 5] == model.features[i]


def test_initialisation_follows_the_official_code():
    torch.manual_seed(2)
    model = PIG(lower=(0.0, -2.0), upper=(4.0, 2.0), n_gaussians=4000, feature_std=0.01)
    assert (model.means[:, 0].min() >= 0.0) and (model.means[:, 0].max() <= 4.0)
    assert (model.means[:, 1].min() >= -2.0) and (model.means[:, 1].max() <= 2.0)
    # s = 0.1 of half the box width: 0.2 on both axes of this 4 x 4 box
    torch.testing.assert_close(model.scales, torch.full((4000, 2), 0.2))
    assert model.features.std().item() == pytest.approx(0.01, rel=0.05)  # 4000 x 4 draws


def test_bad_arguments_are_refused_with_a_message():
    with pytest.raises(ValueError, match="layout: expected 'shared' or 'per_channel'"):
        PIG(layout="mixed")
    with pytest.raises(ValueError, match="covariance: 'full' is for 2-D"):
        PIG(lower=(0, 0, 0), upper=(1, 1, 1), covariance="full")
    with pytest.raises(ValueError, match="differ in length"):
        PIG(lower=(0, 0), upper=(1,))
    with pytest.raises(ValueError, match="activation: expected one of tanh, sin"):
        MLP(activation="relu")
