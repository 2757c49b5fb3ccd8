"""``opl.ops.mg_smooth``, the fused smoothing step of MgNO's V-cycle: the reference equals the
V-cycle's own convolutions, gradcheck and opcheck, the adjoint form the CUDA backward uses, the
kernel's code run on the CPU (``conftest.emulate``) against the float64 reference, and on a GPU the
kernel against the reference and MgNO trained with and without it."""

from __future__ import annotations

import ctypes
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from opl.models.mgno import MgNO, VCycle
from opl.ops import kernels, mg_smooth
from opl.ops.mg_smooth import (
    PADDING_MODES,
    adjoint_weight,
    pad,
    reference_backward,
    reference_forward,
    smoothing_step,
    weight_gradients,
)

requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

# (batch, C_u, C_f, H, W): odd and even grids, a grid smaller than a tile, partial tiles, and a
# grid of two points (the smallest reflect padding admits)
SHAPES = [(2, 3, 5, 7, 10), (1, 4, 4, 2, 9), (2, 2, 3, 17, 13), (1, 5, 2, 1, 3)]


def inputs(batch, c_u, c_f, h, w, dtype=torch.float64, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return (
        torch.randn(batch, c_u, h, w, generator=gen, dtype=dtype),
        torch.randn(batch, c_f, h, w, generator=gen, dtype=dtype),
        torch.randn(c_f, c_u, 3, 3, generator=gen, dtype=dtype) / 3,
        torch.randn(c_u, c_f, 3, 3, generator=gen, dtype=dtype) / 3,
    )


def cases():
    """(shape, padding) pairs; reflect needs two points per dimension."""
    return [
        (shape, padding)
        for shape in SHAPES
        for padding in PADDING_MODES
        if not (padding == "reflect" and min(shape[3:]) < 2)
    ]


# ---- the reference ----------------------------------------------------------------------------


@pytest.mark.parametrize("shape, padding", cases())
def test_the_op_equals_the_v_cycles_convolutions(shape, padding):
    batch, c_u, c_f, h, w = shape
    cycle = VCycle(c_u, c_f, n_dim=2, pre_smooth=[2], post_smooth=[0], padding=padding).double()
    u, f, _, _ = inputs(*shape)
    stiffness, smoother = cycle.stiffness[0][0], cycle.smoothers[0][1]
    # step 1 of level 0 applies stiffness[0][0] and smoothers[0][1] with nn.Conv2d's padding
    expected = cycle.smooth(u, f, level=0, step=1)
    got = mg_smooth(u, f, stiffness.weight, smoother.weight, padding)
    torch.testing.assert_close(got, expected, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("padding", PADDING_MODES)
def test_gradcheck(padding):
    tensors = [t.requires_grad_(True) for t in inputs(2, 2, 3, 4, 5)]
    assert torch.autograd.gradcheck(lambda *a: mg_smooth(*a, padding), tensors)


@pytest.mark.parametrize("padding", PADDING_MODES)
def test_opcheck(padding):
    forward = inputs(2, 3, 2, 5, 4)
    grad = torch.randn(2, 3, 5, 4, dtype=torch.float64)
    torch.library.opcheck(
        torch.ops.opl.mg_smooth.default, (*[t.requires_grad_(True) for t in forward], padding)
    )
    torch.library.opcheck(
        torch.ops.opl.mg_smooth_backward.default, (grad, *[t.detach() for t in forward], padding)
    )


@pytest.mark.parametrize("padding", ["zeros", "circular"])
@pytest.mark.parametrize("shape", SHAPES)
def test_the_adjoint_form_of_the_cuda_backward_equals_the_reference(shape, padding):
    """(∂u, ∂f) as a smoothing step of the upstream gradient with f = 0 and the adjoint weights
    negated (what the CUDA slot launches), and the weight gradients, against torch.func.vjp."""
    u, f, stiffness, smoother = inputs(*shape)
    grad = torch.randn_like(u)
    expected = reference_backward(grad, u, f, stiffness, smoother, padding)
    adjoint_stiffness, adjoint_smoother = -adjoint_weight(smoother), -adjoint_weight(stiffness)
    q = -F.conv2d(pad(grad, padding), adjoint_stiffness)
    zero = torch.zeros_like(f)
    grad_u = reference_forward(grad, zero, adjoint_stiffness, adjoint_smoother, padding)
    got = (grad_u, q, *weight_gradients(grad, q, u, f, stiffness, smoother, padding))
    for name, a, b in zip(("u", "f", "stiffness", "smoother"), got, expected, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12, msg=name)


def test_reflect_has_no_such_adjoint():
    """Why the CUDA backward differentiates the reference for reflect padding."""
    u, f, stiffness, smoother = inputs(1, 2, 2, 6, 6)
    grad = torch.randn_like(u)
    q = reference_backward(grad, u, f, stiffness, smoother, "reflect")[1]
    assert (F.conv2d(pad(grad, "reflect"), adjoint_weight(smoother)) - q).abs().max() > 1e-3


def test_bad_inputs_are_refused_naming_the_argument():
    u, f, stiffness, smoother = inputs(2, 3, 4, 5, 6)
    with pytest.raises(ValueError, match=r"padding: expected one of \['zeros', 'circular'"):
        mg_smooth(u, f, stiffness, smoother, "replicate")
    with pytest.raises(ValueError, match=r"f: expected shape \(2, C_f, 5, 6\)"):
        mg_smooth(u, f[..., :5], stiffness, smoother)
    with pytest.raises(ValueError, match=r"stiffness: expected shape \(4, 3, 3, 3\)"):
        mg_smooth(u, f, smoother, smoother)
    with pytest.raises(ValueError, match=r"smoother: expected shape \(3, 4, 3, 3\)"):
        mg_smooth(u, f, stiffness, smoother[:, :, :2])
    with pytest.raises(ValueError, match=r"u: expected shape \(B, C_u, H, W\)"):
        mg_smooth(u[0], f, stiffness, smoother)
    with pytest.raises(ValueError, match="smoother: expected torch.float64"):
        mg_smooth(u, f, stiffness, smoother.float())
    with pytest.raises(ValueError, match="reflect padding needs at least 2 points"):
        mg_smooth(u[..., :1], f[..., :1], stiffness, smoother, "reflect")


def test_the_cuda_slots_run_the_reference_when_kernels_are_off(monkeypatch):
    # the reference is device-agnostic, so the CUDA slots' fallback can run on CPU tensors
    monkeypatch.setenv("OPL_KERNELS", "off")
    u, f, stiffness, smoother = inputs(2, 3, 2, 6, 7)
    grad = torch.randn_like(u)
    for padding in PADDING_MODES:
        torch.testing.assert_close(
            kernels._mg_smooth_cuda(u, f, stiffness, smoother, padding),
            reference_forward(u, f, stiffness, smoother, padding),
            rtol=0,
            atol=0,
        )
        got = kernels._mg_smooth_backward_cuda(grad, u, f, stiffness, smoother, padding)
        expected = reference_backward(grad, u, f, stiffness, smoother, padding)
        for a, b in zip(got, expected, strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=0)


# ---- the kernel's code, run on the CPU ---------------------------------------------------------


@pytest.fixture(scope="module")
def emulated(emulate):
    lib = emulate("mg_smooth")
    pointer, size = ctypes.c_void_p, ctypes.c_int64
    for dtype in ("f32", "f64"):
        launcher = getattr(lib, f"opl_mg_smooth_{dtype}")
        launcher.argtypes = [pointer] * 4 + [size] * 5 + [ctypes.c_int] + [pointer] * 3
    lib.opl_mg_smooth_shared_bytes.argtypes = [size] * 3
    lib.opl_mg_smooth_shared_bytes.restype = size
    return lib


def run_emulated(lib, u, f, stiffness, smoother, padding, residual=False):
    """The launcher on contiguous tensors; ``f`` None for f = 0. Outputs start NaN-filled, so an
    element the kernel does not write shows. Returns (status, out, residual or None)."""
    suffix = "f32" if u.dtype == torch.float32 else "f64"
    batch, c_u, h, w = u.shape
    c_f = stiffness.shape[0]
    out = torch.full_like(u, math.nan)
    res = torch.full((batch, c_f, h, w), math.nan, dtype=u.dtype) if residual else None
    status = getattr(lib, f"opl_mg_smooth_{suffix}")(
        u.data_ptr(),
        None if f is None else f.data_ptr(),
        stiffness.data_ptr(),
        smoother.data_ptr(),
        batch,
        c_u,
        c_f,
        h,
        w,
        PADDING_MODES.index(padding) if isinstance(padding, str) else padding,
        out.data_ptr(),
        None if res is None else res.data_ptr(),
        None,
    )
    return status, out, res


def relative_error(got: torch.Tensor, want: torch.Tensor) -> float:
    """max |got - want| / max |want| (NaN in got gives NaN)."""
    return ((got.double() - want).abs().max() / want.abs().max()).item()


# float64: sums of 9 C terms, a few ε; float32: the float64 reference on the same (rounded)
# numbers, sums of up to 9 x 5 x 2 terms of size ~1 accumulated in float32 (~1e-6 seen)
EMULATION_TOLERANCE = {torch.float64: 1e-13, torch.float32: 1e-5}


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=str)
@pytest.mark.parametrize("shape, padding", cases())
def test_the_kernel_code_run_on_the_cpu_equals_the_reference(emulated, shape, padding, dtype):
    rounded = [t.to(dtype) for t in inputs(*shape, seed=sum(shape))]
    u, f, stiffness, smoother = (t.double() for t in rounded)
    status, out, _ = run_emulated(emulated, *rounded, padding)
    assert status == 0
    error = relative_error(out, reference_forward(u, f, stiffness, smoother, padding))
    assert error < EMULATION_TOLERANCE[dtype]


@pytest.mark.parametrize("padding", ["zeros", "circular"])
@pytest.mark.parametrize("shape", SHAPES)
def test_the_kernel_code_computes_the_gradients_of_u_and_f(emulated, shape, padding):
    u, f, stiffness, smoother = inputs(*shape, seed=1)
    grad = torch.randn_like(u)
    status, grad_u, q = run_emulated(
        emulated,
        grad,
        None,
        -adjoint_weight(smoother).contiguous(),
        -adjoint_weight(stiffness).contiguous(),
        padding,
        residual=True,
    )
    assert status == 0
    expected = reference_backward(grad, u, f, stiffness, smoother, padding)
    assert relative_error(grad_u, expected[0]) < 1e-13
    assert relative_error(q, expected[1]) < 1e-13


def test_the_launcher_refuses_what_it_cannot_run(emulated):
    u, f, stiffness, smoother = inputs(1, 2, 2, 4, 4)
    assert run_emulated(emulated, u, f, stiffness, smoother, 3)[0] == 1  # cudaErrorInvalidValue
    assert emulated.opl_mg_smooth_shared_bytes(2, 3, 8) == (2 * 12 * 12 + 3 * 10 * 10) * 8
    # 40 channels in float64: 78,080 bytes, above the default 48 KB, so the launcher opts in to
    # more, up to what the device allows
    u, f, stiffness, smoother = inputs(1, 40, 40, 4, 4)
    need = emulated.opl_mg_smooth_shared_bytes(40, 40, 8)
    emulated.emulation_set_shared_optin(need - 8)
    try:
        assert run_emulated(emulated, u, f, stiffness, smoother, "zeros")[0] == 1
    finally:
        emulated.emulation_set_shared_optin(232448)
    status, out, _ = run_emulated(emulated, u, f, stiffness, smoother, "zeros")
    assert status == 0
    assert relative_error(out, reference_forward(u, f, stiffness, smoother, "zeros")) < 1e-13


# ---- on a GPU ----------------------------------------------------------------------------------

# Relative to the largest magnitude of each result; the float64 reference on the CPU. float32:
# the emulation gives ~1e-6 for these channel counts; cuDNN (TF32 off) and fused multiply-adds
# add a few ε per term, and 64-channel sums have 576 terms per convolution.
GPU_TOLERANCE = {torch.float32: 5e-5, torch.float64: 1e-11}


@requires_cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("padding", PADDING_MODES)
@pytest.mark.parametrize("shape", [(3, 16, 16, 33, 20), (2, 24, 1, 64, 64), (1, 64, 64, 21, 9)])
def test_the_kernel_equals_the_float64_reference(monkeypatch, shape, padding, dtype):
    monkeypatch.setenv("OPL_KERNELS", "require")
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    reference = inputs(*shape, seed=sum(shape))
    leaves = [t.to("cuda", dtype).requires_grad_(True) for t in reference]
    out = mg_smooth(*leaves, padding)
    grad = torch.randn_like(out)
    out.backward(grad)
    expected_out = reference_forward(*reference, padding)
    expected = reference_backward(grad.double().cpu(), *reference, padding)
    assert relative_error(out.detach().cpu(), expected_out) < GPU_TOLERANCE[dtype]
    for name, leaf, want in zip(("u", "f", "stiffness", "smoother"), leaves, expected, strict=True):
        assert relative_error(leaf.grad.cpu(), want) < GPU_TOLERANCE[dtype], name


@requires_cuda
def test_mgno_trains_with_the_kernel_as_without_it(monkeypatch):
    """The loss curves of 20 Adam steps, with OPL_KERNELS=require and =off, from one
    initialisation and batch order, agree to float32 round-off (relative 1e-4 after 20 steps
    of a chaotic optimisation)."""
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(8, 1, 45, 45, generator=gen).cuda()
    y = torch.randn(8, 1, 45, 45, generator=gen).cuda()
    curves = []
    for mode in ("require", "off"):
        monkeypatch.setenv("OPL_KERNELS", mode)
        torch.manual_seed(0)
        model = MgNO(channels=16, n_layers=2, levels=4, padding="zeros").cuda()
        optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
        losses = []
        for _ in range(20):
            optimiser.zero_grad()
            loss = (model(x) - y).square().mean()
            loss.backward()
            optimiser.step()
            losses.append(loss.item())
        curves.append(torch.tensor(losses))
    assert curves[0][-1] < curves[0][0]
    torch.testing.assert_close(curves[0], curves[1], rtol=1e-4, atol=0)


@pytest.mark.parametrize("padding", PADDING_MODES)
def test_the_smoothing_step_paths_compute_the_same_step(padding):
    # smoothing_step takes the modules' convolutions on the CPU and the op on CUDA: both must be
    # u + S (f - A u) with the same padding (float64: equal to round-off, 1e-12)
    torch.manual_seed(0)
    stiffness = nn.Conv2d(3, 2, 3, padding=1, bias=False, padding_mode=padding).double()
    smoother = nn.Conv2d(2, 3, 3, padding=1, bias=False, padding_mode=padding).double()
    u, f = (
        torch.randn(2, 3, 9, 8, dtype=torch.float64),
        torch.randn(2, 2, 9, 8, dtype=torch.float64),
    )
    by_modules = smoothing_step(u, f, stiffness, smoother, padding)
    by_op = mg_smooth(u, f, stiffness.weight, smoother.weight, padding)
    torch.testing.assert_close(by_modules, by_op, rtol=0, atol=1e-12)
