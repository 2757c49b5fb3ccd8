r"""One smoothing step of MgNO's multi-channel V-cycle, as a custom op: ``u + S ⋆ (f - A ⋆ u)``.

For a "solution" ``u`` (B, C_u, H, W), a "right-hand side" ``f`` (B, C_f, H, W), a stiffness
``A`` (C_f, C_u, 3, 3) and a smoother ``S`` (C_u, C_f, 3, 3),

    r   = f - A ⋆ u,                              (B, C_f, H, W), the residual
    out = u + S ⋆ r,                              (B, C_u, H, W)

where ``(K ⋆ v)_o(p) = Σ_i Σ_{t ∈ {-1,0,1}²} K[o, i, t + 1] v̄_i(p + t)`` is a 3x3 convolution
(cross-correlation, stride 1, no bias) of ``v`` extended by one point beyond every side by
``padding``: ``"zeros"`` (v̄ = 0 outside: Dirichlet), ``"circular"`` (periodic) or ``"reflect"``
(v̄(-1) = v(1), v̄(n) = v(n-2); needs n ≥ 2). Each convolution pads its own input: ``S`` sees the
residual extended by the padding, not a residual computed beyond the grid. This is exactly
``nn.Conv2d(..., 3, padding=1, bias=False, padding_mode=padding)`` applied twice, as
``opl.models.mgno.VCycle.smooth`` does.

Gradients, for an upstream gradient ``g`` of ``out`` (``K*`` the adjoint of ``K ⋆``):

    q      = S* g                                 (the gradient of f)
    ∂u     = g - A* q
    ∂S[o, i, t + 1] =  Σ_{b, p} g_o(p) r̄_i(p + t)
    ∂A[i, j, t + 1] = -Σ_{b, p} q_i(p) ū_j(p + t)

For zeros and circular padding ``K*`` is the convolution, padded the same way, with the kernel
transposed in its channels and flipped in space, ``K*[i, o, s] = K[o, i, 2 - s]``, so
``(∂u, q)`` is itself a smoothing step: of ``g`` with right-hand side 0, stiffness ``-S*`` and
smoother ``-A*``, whose residual is ``q``. For reflect padding the adjoint also folds the extension
back onto the grid, which is not a padded convolution.

**CPU path (the reference, the specification).** ``torch.nn.functional.pad`` and ``conv2d``;
the backward op applies the formulas above with torch's convolution gradients
(``torch.nn.grad``) and ``fold_boundary``, the adjoint of the padding. **CUDA**:
``kernels/mg_smooth.cu`` fills the op's CUDA slot (``opl.ops.kernels``) when ``OPL_KERNELS``
allows: one fused kernel computes ``out`` with the residual kept in shared memory (never written
to global memory), and the same kernel computes ``(∂u, q)`` for zeros and circular padding; the
weight gradients are cuDNN's (reductions over batch and grid that its weight-gradient kernels do
well).

The op is ``torch.ops.opl.mg_smooth`` (a ``torch.library`` custom op with a fake implementation
for ``torch.compile`` / ``torch.export`` and first-order autograd to u, f, A and S).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

PADDING_MODES = ("zeros", "circular", "reflect")
"""The boundary extensions of the convolutions (those of ``opl.models.mgno``)."""


def mg_smooth(
    u: torch.Tensor,
    f: torch.Tensor,
    stiffness: torch.Tensor,
    smoother: torch.Tensor,
    padding: str = "zeros",
) -> torch.Tensor:
    """``u + S ⋆ (f - A ⋆ u)`` of the module docstring.

    Args:
        u: (B, C_u, H, W) the current solution.
        f: (B, C_f, H, W) the right-hand side.
        stiffness: (C_f, C_u, 3, 3) the weight of ``A`` (an ``nn.Conv2d(C_u, C_f, 3)``'s).
        smoother: (C_u, C_f, 3, 3) the weight of ``S`` (an ``nn.Conv2d(C_f, C_u, 3)``'s).
        padding: ``"zeros"``, ``"circular"`` or ``"reflect"``.

    Returns:
        (B, C_u, H, W) the smoothed solution.
    """
    check_inputs(u, f, stiffness, smoother, padding)
    return torch.ops.opl.mg_smooth(u, f, stiffness, smoother, padding)


def smoothing_step(
    u: torch.Tensor, f: torch.Tensor, stiffness: nn.Module, smoother: nn.Module, padding: str
) -> torch.Tensor:
    """``u + S (f - A u)`` for the convolution modules ``stiffness`` (A) and ``smoother`` (S) of
    any dimension, by the fastest path that computes exactly this:

    * the op ``mg_smooth`` (the fused CUDA kernel) for 2-D CUDA tensors in the weights' dtype,
      unless ``OPL_KERNELS=off`` or CUDA autocast is on (the op computes in the weights' dtype,
      where autocast would run the convolutions in reduced precision);
    * the modules' own convolutions (padded by their ``padding_mode``, ``padding`` here)
      everywhere else: the CPU, 1-D and 3-D grids, autocast.
    """
    from opl.ops import kernels  # fills the op's CUDA slot; imports this module

    fused = u.is_cuda and u.dim() == 4 and u.dtype == smoother.weight.dtype
    if fused and not torch.is_autocast_enabled("cuda") and kernels.mode() != "off":
        return mg_smooth(u, f, stiffness.weight, smoother.weight, padding)
    return u + smoother(f - stiffness(u))


def check_inputs(
    u: torch.Tensor, f: torch.Tensor, stiffness: torch.Tensor, smoother: torch.Tensor, padding: str
) -> None:
    """ValueError naming the argument unless the shapes, dtypes and devices fit together."""
    if padding not in PADDING_MODES:
        raise ValueError(f"padding: expected one of {list(PADDING_MODES)}, got {padding!r}")
    if u.dim() != 4:
        raise ValueError(f"u: expected shape (B, C_u, H, W), got {tuple(u.shape)}")
    batch, c_u, height, width = u.shape
    if f.dim() != 4 or f.shape[0] != batch or tuple(f.shape[2:]) != (height, width):
        raise ValueError(
            f"f: expected shape ({batch}, C_f, {height}, {width}) (u's batch and grid), got "
            f"{tuple(f.shape)}"
        )
    c_f = f.shape[1]
    for name, weight, shape in (
        ("stiffness", stiffness, (c_f, c_u, 3, 3)),
        ("smoother", smoother, (c_u, c_f, 3, 3)),
    ):
        if tuple(weight.shape) != shape:
            raise ValueError(
                f"{name}: expected shape {shape} (C_u = {c_u} from u, C_f = {c_f} from f), got "
                f"{tuple(weight.shape)}"
            )
    if padding == "reflect" and min(height, width) < 2:
        raise ValueError(
            f"u: reflect padding needs at least 2 points per dimension, got a {height}x{width} grid"
        )
    for name, tensor in (("f", f), ("stiffness", stiffness), ("smoother", smoother)):
        if tensor.dtype != u.dtype or tensor.device != u.device:
            raise ValueError(
                f"{name}: expected {u.dtype} on {u.device} (as u), got {tensor.dtype} on "
                f"{tensor.device}"
            )


def pad(v: torch.Tensor, padding: str) -> torch.Tensor:
    """``v`` (B, C, H, W) extended by one point beyond each side by ``padding``."""
    mode = "constant" if padding == "zeros" else padding
    return F.pad(v, (1, 1, 1, 1), mode=mode)


def residual(
    u: torch.Tensor, f: torch.Tensor, stiffness: torch.Tensor, padding: str
) -> torch.Tensor:
    """``r = f - A ⋆ u``."""
    return f - F.conv2d(pad(u, padding), stiffness)


def reference_forward(
    u: torch.Tensor,
    f: torch.Tensor,
    stiffness: torch.Tensor,
    smoother: torch.Tensor,
    padding: str,
) -> torch.Tensor:
    """``u + S ⋆ (f - A ⋆ u)`` with torch's padding and convolution."""
    return u + F.conv2d(pad(residual(u, f, stiffness, padding), padding), smoother)


_mg_smooth_op = torch.library.custom_op("opl::mg_smooth", mutates_args=())(reference_forward)


@_mg_smooth_op.register_fake
def _(u, f, stiffness, smoother, padding):
    return torch.empty_like(u)


def _place(piece: torch.Tensor, dim: int, start: int, n: int) -> torch.Tensor:
    """``piece`` put at ``start`` along ``dim`` of a zero tensor with ``n`` points there."""
    before = list(piece.shape)
    after = list(piece.shape)
    before[dim] = start
    after[dim] = n - start - piece.shape[dim]
    return torch.cat([piece.new_zeros(before), piece, piece.new_zeros(after)], dim)


def fold_boundary(full: torch.Tensor, dim: int, n: int, padding: str) -> torch.Tensor:
    """The adjoint of extending ``n`` points along ``dim`` by ``padding``: ``full`` holds values
    at the extended points ``o = -1, 0, …, n - 1, n, …, n + r - 1`` (entry ``o + 1``; ``r <= 2``
    points on the right), and each value outside ``0..n-1`` goes back where the extension read
    it from: dropped for ``"zeros"``, added to ``o mod n`` for ``"circular"`` and to the mirror
    point (``-1 -> 1``, ``n + j -> n - 2 - j``) for ``"reflect"``. ``pad`` with r = 1 is its
    adjoint pair; MgNO's prolongation uses it for the r = 1 or 2 points a stride-2 transposed
    convolution writes beyond the grid."""
    core = full.narrow(dim, 1, n)
    if padding == "zeros":
        return core
    n_right = full.shape[dim] - n - 1
    left = full.narrow(dim, 0, 1)
    right = full.narrow(dim, n + 1, n_right)
    if padding == "circular":
        return core + _place(left, dim, n - 1, n) + _place(right, dim, 0, n)
    return core + _place(left, dim, 1, n) + _place(right.flip(dim), dim, n - 1 - n_right, n)


def conv_adjoint(grad: torch.Tensor, weight: torch.Tensor, padding: str) -> torch.Tensor:
    """``K* grad``: the adjoint of ``v -> K ⋆ v`` (pad, then a 3x3 convolution) at ``grad``."""
    batch, _, h, w = grad.shape
    padded = (batch, weight.shape[1], h + 2, w + 2)
    full = torch.nn.grad.conv2d_input(padded, weight, grad)
    return fold_boundary(fold_boundary(full, 2, h, padding), 3, w, padding).contiguous()


def weight_gradients(
    grad: torch.Tensor,
    q: torch.Tensor,
    u: torch.Tensor,
    f: torch.Tensor,
    stiffness: torch.Tensor,
    smoother: torch.Tensor,
    padding: str,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(∂A, ∂S)`` of the module docstring from ``grad`` and ``q = S* grad``, with the residual
    recomputed (torch's convolution and its weight gradient)."""
    r = residual(u, f, stiffness, padding)
    grad_smoother = torch.nn.grad.conv2d_weight(pad(r, padding), smoother.shape, grad)
    grad_stiffness = -torch.nn.grad.conv2d_weight(pad(u, padding), stiffness.shape, q)
    return grad_stiffness, grad_smoother


def reference_backward(
    grad: torch.Tensor,
    u: torch.Tensor,
    f: torch.Tensor,
    stiffness: torch.Tensor,
    smoother: torch.Tensor,
    padding: str,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(∂u, ∂f, ∂A, ∂S)`` of ``<grad, out>`` (module docstring), with torch's convolution
    gradients and ``fold_boundary`` for the adjoint of the padding."""
    q = conv_adjoint(grad, smoother, padding)
    grad_u = grad - conv_adjoint(q, stiffness, padding)
    return grad_u, q, *weight_gradients(grad, q, u, f, stiffness, smoother, padding)


_mg_smooth_backward_op = torch.library.custom_op("opl::mg_smooth_backward", mutates_args=())(
    reference_backward
)


@_mg_smooth_backward_op.register_fake
def _(grad, u, f, stiffness, smoother, padding):
    return (
        torch.empty_like(u),
        torch.empty_like(f),
        torch.empty_like(stiffness),
        torch.empty_like(smoother),
    )


def adjoint_weight(weight: torch.Tensor) -> torch.Tensor:
    """``K*`` of a zeros- or circular-padded 3x3 convolution: channels transposed, taps flipped."""
    return weight.transpose(0, 1).flip(2, 3)


def _setup_context(ctx, inputs, output) -> None:
    u, f, stiffness, smoother, padding = inputs
    ctx.save_for_backward(u, f, stiffness, smoother)
    ctx.padding = padding


def _backward(ctx, grad):
    u, f, stiffness, smoother = ctx.saved_tensors
    grads = torch.ops.opl.mg_smooth_backward(
        grad.contiguous(), u, f, stiffness, smoother, ctx.padding
    )
    return *grads, None


_mg_smooth_op.register_autograd(_backward, setup_context=_setup_context)
