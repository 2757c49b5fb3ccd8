"""MgNO: parameter count of the official Darcy model, shapes, the V-cycle maths, equivariance."""

import json

import pytest
import torch
import torch.nn.functional as F

from opl.models import MgNO
from opl.models.mgno import Prolongation, VCycle, prolongation_kernels_for

SMALL = {"channels": 4, "n_layers": 2, "levels": 4}


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_official_darcy_parameter_count():
    explicit = MgNO(
        in_channels=1,
        out_channels=1,
        n_dim=2,
        channels=24,
        n_layers=4,
        levels=6,
        pre_smooth=[1, 1, 1, 1, 1, 2],
        post_smooth=[0, 0, 0, 0, 0, 0],
        restrict="f",
        padding="zeros",
        prolongation_kernel=4,
        activation="gelu",
    )
    assert n_params(explicit) == 572_661
    assert n_params(MgNO()) == 572_661
    # the residual restriction adds one 3x3 stiffness C_u -> C_f per coarse level and layer
    assert n_params(MgNO(restrict="residual")) == 572_661 + 5 * 9 * 24 * (1 + 3 * 24)


def test_vcycle_parameter_formula():
    c_u, c_f, pre, post, kernels = 5, 3, [2, 1, 3], [1, 2, 0], [3, 4]
    vcycle = VCycle(c_u, c_f, 2, pre, post, prolongation_kernel=kernels)
    steps = sum(pre) + sum(post)
    expected = (2 * steps - 1) * 9 * c_u * c_f + 2 * 9 * (c_u**2 + c_f**2) + (9 + 16) * c_u**2
    assert n_params(vcycle) == expected


def test_config_is_json_serialisable():
    config = {"in_channels": 3, "n_dim": 1, "pre_smooth": [1, 2, 2], "levels": 3}
    model = MgNO(**json.loads(json.dumps(config)))
    assert model(torch.randn(1, 3, 32)).shape == (1, 1, 32)


def test_prolongation_kernels_for_official_grids():
    assert prolongation_kernels_for(211, 6) == [3, 4, 3, 3, 4]  # official smooth Darcy
    assert prolongation_kernels_for(256, 6) == [4, 4, 4, 4, 4]


@pytest.mark.parametrize("padding", ["zeros", "circular", "reflect"])
@pytest.mark.parametrize("restrict", ["f", "residual"])
@pytest.mark.parametrize(
    ("n_dim", "size"), [(2, (63, 63)), (2, (64, 64)), (2, (85, 40)), (1, (127,)), (1, (128,))]
)
def test_shapes(n_dim, size, padding, restrict):
    model = MgNO(
        in_channels=2, out_channels=3, n_dim=n_dim, padding=padding, restrict=restrict, **SMALL
    )
    assert model(torch.randn(2, 2, *size)).shape == (2, 3, *size)


@pytest.mark.parametrize("kernel", [3, 4])
def test_shapes_with_post_smoothing_and_3d(kernel):
    model = MgNO(n_dim=2, post_smooth=1, prolongation_kernel=kernel, **SMALL)
    assert model(torch.randn(2, 1, 43, 50)).shape == (2, 1, 43, 50)
    model = MgNO(n_dim=3, channels=2, n_layers=1, levels=2, prolongation_kernel=kernel)
    assert model(torch.randn(1, 1, 7, 8, 5)).shape == (1, 1, 7, 8, 5)


def test_darcy_model_on_odd_grid():
    assert MgNO()(torch.randn(1, 1, 85, 85)).shape == (1, 1, 85, 85)


def _set_taps(conv: torch.nn.Module, taps: list[float]) -> None:
    """A single-channel 1-D convolution with the given taps."""
    with torch.no_grad():
        conv.weight.copy_(torch.tensor(taps, dtype=conv.weight.dtype).reshape(1, 1, -1))


def test_single_level_vcycle_is_two_smoothing_steps():
    # u1 = s f,  u2 = u1 + s (f - A u1) with S = s I and A = a L (L = [-1, 2, -1], zero ends)
    vcycle = VCycle(1, 1, 1, pre_smooth=[2], post_smooth=[0]).double()
    s, a = 0.5, 0.3
    _set_taps(vcycle.smoothers[0][0], [0, s, 0])
    _set_taps(vcycle.smoothers[0][1], [0, s, 0])
    _set_taps(vcycle.stiffness[0][0], [-a, 2 * a, -a])
    f = torch.randn(3, 1, 11, dtype=torch.float64)

    padded = F.pad(s * f, (1, 1))
    laplacian = 2 * padded[..., 1:-1] - padded[..., :-2] - padded[..., 2:]
    expected = s * f + s * (f - a * laplacian)
    torch.testing.assert_close(vcycle(f), expected, rtol=0, atol=1e-15)

    _set_taps(vcycle.stiffness[0][0], [0, 1, 0])  # identity-like A: u = (2s - s^2) f
    torch.testing.assert_close(vcycle(f), (2 * s - s**2) * f, rtol=0, atol=1e-15)


@pytest.mark.parametrize(("restrict", "even_factor"), [("f", 1.5), ("residual", 1.0)])
def test_two_level_vcycle_restrict_modes(restrict, even_factor):
    # S_0 = I/2; Π, R inject the even points; S_1 = A_1 = A^r = I; P puts u_1 on the even points.
    # Level 1: u_1 <- u_1 + (f_1 - u_1) = f_1, with f_1 = f_even ("f") or
    # f_even - u_0,even = f_even / 2 ("residual"). Output u_0 + P u_1 = (1/2 + 1 or 1/2) f on the
    # even points, f / 2 on the odd ones.
    vcycle = VCycle(1, 1, 1, [1, 1], [0, 0], restrict=restrict, prolongation_kernel=[4]).double()
    _set_taps(vcycle.smoothers[0][0], [0, 0.5, 0])
    for conv in (vcycle.smoothers[1][0], vcycle.stiffness[1][0]):
        _set_taps(conv, [0, 1, 0])
    for conv in (vcycle.restrict_u[0], vcycle.restrict_f[0]):
        _set_taps(conv, [0, 1, 0])
    if restrict == "residual":
        _set_taps(vcycle.residual_stiffness[0], [0, 1, 0])
    _set_taps(vcycle.prolong[0].conv, [0, 1, 0, 0])
    f = torch.randn(2, 1, 12, dtype=torch.float64)

    expected = 0.5 * f.clone()
    expected[..., ::2] = even_factor * f[..., ::2]
    torch.testing.assert_close(vcycle(f), expected, rtol=0, atol=1e-15)


@pytest.mark.parametrize("padding", ["zeros", "circular", "reflect"])
@pytest.mark.parametrize("kernel", [3, 4])
@pytest.mark.parametrize("size", [(9, 12), (12, 9), (10, 10), (7, 7), (3, 2), (2, 5)])
def test_prolongation_is_adjoint_of_padded_stride2_conv(padding, kernel, size):
    # <P u, v> = <u, C v>, C = stride-2 convolution with the same weight, padded by `padding`
    # with 1 point on the left and what it needs on the right.
    torch.manual_seed(0)
    prolong = Prolongation(2, 2, kernel, padding).double()
    coarse = [(n + 1) // 2 for n in size]
    u = torch.randn(1, 2, *coarse, dtype=torch.float64)
    v = torch.randn(1, 2, *size, dtype=torch.float64)
    right = [2 * (m - 1) + kernel - n - 1 for m, n in zip(coarse, size, strict=True)]
    mode = "constant" if padding == "zeros" else padding
    padded = F.pad(v, (1, right[1], 1, right[0]), mode=mode)
    restricted = F.conv2d(padded, prolong.conv.weight, stride=2)
    assert restricted.shape == u.shape
    torch.testing.assert_close(
        (prolong(u, size) * v).sum(), (u * restricted).sum(), rtol=1e-12, atol=1e-12
    )


@pytest.mark.parametrize("size", [64, 63])
def test_zero_padded_prolongation_matches_conv_transpose(size):
    # with the official kernel choice, P is ConvTranspose(k, stride=2, padding=1)
    (kernel,) = prolongation_kernels_for(size, 2)
    prolong = Prolongation(3, 1, kernel, "zeros")
    u = torch.randn(2, 3, (size + 1) // 2)
    expected = F.conv_transpose1d(u, prolong.conv.weight, stride=2, padding=1)
    torch.testing.assert_close(prolong(u, (size,)), expected)


@pytest.mark.parametrize("n_dim", [1, 2])
def test_periodic_padding_is_translation_equivariant(n_dim):
    torch.manual_seed(0)
    config = {"in_channels": 2, "n_dim": n_dim, "post_smooth": 1, **SMALL, "levels": 3}
    size = (16, 24)[:n_dim]
    shift = (4, 8)[:n_dim]  # multiples of 2^(levels - 1)
    dims = tuple(range(2, 2 + n_dim))
    x = torch.randn(2, 2, *size, dtype=torch.float64)
    rolled = torch.roll(x, shift, dims)
    for restrict in ("f", "residual"):
        model = MgNO(padding="circular", restrict=restrict, **config).double()
        torch.testing.assert_close(
            model(rolled), torch.roll(model(x), shift, dims), rtol=0, atol=1e-10
        )
    model = MgNO(padding="zeros", **config).double()
    assert (model(rolled) - torch.roll(model(x), shift, dims)).abs().max() > 1e-4


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"channels": 0}, "channels: expected a positive integer"),
        ({"levels": 0}, "levels: expected a positive integer"),
        ({"n_dim": 4}, "n_dim: expected one of"),
        ({"padding": "periodic"}, "padding: expected one of"),
        ({"restrict": "r"}, "restrict: expected one of"),
        ({"activation": "swish"}, "activation: expected one of"),
        ({"pre_smooth": [1, 1, 2]}, r"pre_smooth: expected 6 integers"),
        ({"pre_smooth": [0, 1, 1, 1, 1, 2]}, "the finest level needs at least one step"),
        ({"post_smooth": [0, 0, 0, 0, 0, 1]}, "coarsest level has no coarse correction"),
        ({"post_smooth": -1}, "post_smooth: expected 6 integers >= 0"),
        ({"prolongation_kernel": 5}, "prolongation_kernel: expected 5 kernels"),
        ({"prolongation_kernel": [4, 4]}, "prolongation_kernel: expected 5 kernels"),
        ({"pre_smooth": "1"}, "pre_smooth: expected an integer or a list"),
    ],
)
def test_bad_hyperparameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MgNO(**kwargs)


def test_bad_inputs():
    model = MgNO()
    with pytest.raises(ValueError, match=r"input grid \(20, 64\) is too small for levels=6"):
        model(torch.randn(1, 1, 20, 64))
    with pytest.raises(ValueError, match="at least 33 points per dimension"):
        model(torch.randn(1, 1, 32, 32))
    with pytest.raises(ValueError, match="expected 1 channels"):
        model(torch.randn(1, 2, 64, 64))
    with pytest.raises(ValueError, match="expected shape"):
        model(torch.randn(1, 64, 64))
    assert model(torch.randn(1, 1, 33, 33)).shape == (1, 1, 33, 33)


def test_adam_reduces_loss():
    torch.manual_seed(0)
    x = torch.randn(4, 1, 32, 32)
    kernel = torch.ones(1, 1, 5, 5) / 25
    y = F.conv2d(x, kernel, padding=2) + 0.5 * x
    model = MgNO(channels=4, n_layers=1, levels=3)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        optimiser.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


@pytest.mark.parametrize(
    ("n_dim", "padding"), [(2, "zeros"), (2, "circular"), (2, "reflect"), (3, "zeros")]
)
def test_cpu_channels_last_layout_changes_no_value(monkeypatch, n_dim, padding):
    """On the CPU the V-cycles run on channels-last fields (``cpu_layout``, for speed); output
    and gradients equal the contiguous-layout computation to float64 round-off (the layouts
    differ only in the order of the convolutions' sums; tolerance 1e-12 relative)."""
    torch.manual_seed(0)
    options = {"channels": 4, "n_layers": 2, "levels": 3 if n_dim == 3 else 4}
    model = MgNO(**options, n_dim=n_dim, padding=padding, restrict="residual", post_smooth=1)
    model = model.double()
    x = torch.randn(2, 1, *[17 if n_dim == 3 else 33] * n_dim, dtype=torch.float64)
    layout = {2: torch.channels_last, 3: torch.channels_last_3d}[n_dim]
    seen = []
    hook = (
        model.layers[1]
        .operator.smoothers[0][0]
        .register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    )

    def output_and_gradients():
        model.zero_grad()
        out = model(x)
        out.square().sum().backward()
        return out.detach(), [p.grad.clone() for p in model.parameters()]

    fast, fast_grads = output_and_gradients()
    # the second layer's V-cycle receives a channels-last field
    assert seen[-1].is_contiguous(memory_format=layout)
    assert not seen[-1].is_contiguous()
    monkeypatch.setattr("opl.models.mgno.cpu_layout", lambda u: u)
    plain, plain_grads = output_and_gradients()
    assert seen[-1].is_contiguous()
    hook.remove()
    torch.testing.assert_close(fast, plain, rtol=1e-12, atol=1e-14)
    for fast_grad, plain_grad in zip(fast_grads, plain_grads, strict=True):
        torch.testing.assert_close(fast_grad, plain_grad, rtol=1e-12, atol=1e-14)
