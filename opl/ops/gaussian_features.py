r"""Gaussian features with their exact first and second derivatives in ``x``: the op of PIG.

For points ``x`` (N, d), Gaussians with means ``μ`` (K, d), diagonal scales ``s`` (K, d) (standard
deviations, in the units of ``x``) and feature vectors ``f`` (K, c) -- the shared-Gaussian form
of physics-informed Gaussians; the per-channel form is the special case of block-sparse ``f`` --
and weights ``w`` (d,) of the second-order operator,

    g_k(x)  = exp(-½ E_k(x)),   E_k(x) = Σ_j (x_j - μ_kj)² / s_kj²,
    F(x)    = Σ_k f_k g_k(x)                                            (N, c)
    ∂F/∂x_j = -Σ_k f_k g_k (x_j - μ_kj) / s_kj²                         (N, c, d)
    L_w F   = Σ_j w_j ∂²F/∂x_j² = Σ_k f_k g_k Σ_j w_j ((x_j - μ_kj)²/s_kj⁴ - 1/s_kj²)   (N, c)

are returned by one call, so a PDE residual needs no double backward (which ``torch.compile``
cannot do). ``w = 1`` gives the Laplacian; ``w = (1, 0)`` for ``(x, t)`` the ``u_xx`` of a
parabolic problem; ``w = (-1, -1, 1)`` for ``(x, y, t)`` the wave operator ``u_tt - Δu``.

With a ``cutoff`` r, pairs with ``E_k(x) > r²`` (the point beyond r scales of the Gaussian, in
the Mahalanobis sense) are dropped. The error this introduces is bounded, for every output
element, by ``Σ_k |f_kc| β_k`` with β_k = e^{-r²/2} for F, ``r e^{-r²/2} / min_j s_kj`` for each
∂F/∂x_j and ``Σ_j |w_j| (r² + 1) e^{-r²/2} / s_kj²`` for L_w F (for r ≥ √3, where
``z e^{-z²/2}`` and ``z² e^{-z²/2}`` decrease); ``cutoff_error_bound`` computes it.

**CPU path (the reference).** Shifted to a centre ``x₀`` (the mean of the means), every sum over k
is a matrix product: ``E = [x², x, 1] @ B(μ, s)`` and all of ``F``, ``∇F``, ``L_w F`` follow from
``g @ M(f, μ, s, w)`` (N, c(2 + 4d)) times polynomials in ``x - x₀``, so the cost is two GEMMs and
one ``exp`` per (point, Gaussian) pair. The expansion cancels: the relative rounding error is
about ``ε |x - x₀|² / s²`` (ε the unit round-off), 1e-12 in float64 for ``s`` = 0.1 on [-1, 1]²
but 1e-5 in float32, so train PIG on the CPU in float64. Points are processed in chunks of at
most ``max_elements`` (point, Gaussian) pairs; the backward pass recomputes each chunk, so memory
stays bounded for any N×K. **CUDA** fills the op's CUDA slot with the fused kernel of
``kernels/gaussian_features.cu`` (direct differences, no expansion) when ``OPL_KERNELS`` allows
(``opl.ops.kernels``).

``gaussian_values`` returns ``F`` alone, for points where a condition needs no derivatives.

The op is ``torch.ops.opl.gaussian_features`` (a ``torch.library`` custom op with a fake
implementation for ``torch.compile`` / ``torch.export`` and first-order autograd to ``x``, ``μ``,
``s`` and ``f``; not to ``w``, and no double backward).
"""

from __future__ import annotations

import math

import torch
from torch.utils.checkpoint import checkpoint

DEFAULT_MAX_ELEMENTS = 1 << 22
"""(point, Gaussian) pairs per chunk of the CPU path: 32 MiB per float64 (chunk, K) matrix."""


def gaussian_features(
    x: torch.Tensor,
    means: torch.Tensor,
    scales: torch.Tensor,
    features: torch.Tensor,
    weights: torch.Tensor | None = None,
    cutoff: float | None = None,
    max_elements: int = DEFAULT_MAX_ELEMENTS,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(F, ∇F, L_w F)`` of the module docstring for points ``x``.

    Args:
        x: (N, d) points.
        means: (K, d) Gaussian centres μ.
        scales: (K, d) per-axis scales s (standard deviations; only s² enters, so the sign is
            immaterial, but zero is refused by the maths).
        features: (K, c) feature vectors f.
        weights: (d,) weights w of the second-order operator L_w; None for the Laplacian.
        cutoff: drop pairs further than ``cutoff`` scales (Mahalanobis); None keeps all.
        max_elements: (point, Gaussian) pairs per chunk on the CPU path (memory control).

    Returns:
        values (N, c), gradients (N, c, d), second-order terms L_w F (N, c).
    """
    _check(x, means, scales, features, weights, cutoff)
    if weights is None:
        weights = torch.ones(x.shape[1], dtype=x.dtype, device=x.device)
    return torch.ops.opl.gaussian_features(
        x, means, scales, features, weights.to(x.dtype), _cutoff(cutoff), int(max_elements)
    )


def gaussian_values(
    x: torch.Tensor,
    means: torch.Tensor,
    scales: torch.Tensor,
    features: torch.Tensor,
    cutoff: float | None = None,
    max_elements: int = DEFAULT_MAX_ELEMENTS,
) -> torch.Tensor:
    """``F`` (N, c) alone, for conditions on values (Dirichlet data): the op's first output
    at half its cost (one small GEMM for ``g @ f`` instead of ``g @ M``). Plain torch
    operations (the same moment expansion), so autograd of any order works; each chunk of
    points is recomputed in the backward pass (activation checkpointing), so memory stays
    bounded as in the op. Arguments as in ``gaussian_features``."""
    _check(x, means, scales, features, None, cutoff)
    step = chunk_size(means.shape[0], max_elements)
    parts = [
        checkpoint(
            _values_chunk,
            x[i : i + step],
            means,
            scales,
            features,
            _cutoff(cutoff),
            use_reentrant=False,
        )
        for i in range(0, x.shape[0], step)
    ]
    return torch.cat(parts) if parts else x.new_zeros(0, features.shape[1])


def _values_chunk(
    x: torch.Tensor,
    means: torch.Tensor,
    scales: torch.Tensor,
    features: torch.Tensor,
    cutoff: float,
) -> torch.Tensor:
    centre = means.detach().mean(0)
    return _gaussians(x - centre, _exponent_matrix(means - centre, scales), cutoff) @ features


def cutoff_error_bound(
    scales: torch.Tensor,
    features: torch.Tensor,
    cutoff: float,
    weights: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Bounds (c,), (c, d), (c,) on the absolute change of F, ∂F/∂x_j and L_w F that ``cutoff``
    can cause at any point (module docstring); valid for ``cutoff`` ≥ √3."""
    if cutoff < math.sqrt(3.0):
        raise ValueError(f"cutoff: the bound holds for cutoff >= sqrt(3), got {cutoff}")
    if weights is None:
        weights = torch.ones(scales.shape[1], dtype=scales.dtype, device=scales.device)
    tail = math.exp(-0.5 * cutoff * cutoff)
    magnitude = features.abs()  # (K, c)
    inv = 1.0 / scales.abs()
    value = magnitude.sum(0) * tail
    gradient = magnitude.T @ (cutoff * tail * inv.amax(1, keepdim=True).expand_as(inv))
    curvature = (cutoff * cutoff + 1.0) * tail * (inv * inv * weights.abs()).sum(1)
    return value, gradient, magnitude.T @ curvature


def _cutoff(cutoff: float | None) -> float:
    """The op's encoding of "no cutoff": infinity."""
    return math.inf if cutoff is None else float(cutoff)


def _check(
    x: torch.Tensor,
    means: torch.Tensor,
    scales: torch.Tensor,
    features: torch.Tensor,
    weights: torch.Tensor | None,
    cutoff: float | None,
) -> None:
    if x.dim() != 2:
        raise ValueError(f"x: expected (N, d) points, got shape {tuple(x.shape)}")
    d = x.shape[1]
    if means.dim() != 2 or means.shape[1] != d:
        raise ValueError(f"means: expected (K, {d}), got shape {tuple(means.shape)}")
    if scales.shape != means.shape:
        raise ValueError(
            f"scales: expected shape {tuple(means.shape)} (that of means), got "
            f"{tuple(scales.shape)}"
        )
    if features.dim() != 2 or features.shape[0] != means.shape[0]:
        raise ValueError(
            f"features: expected ({means.shape[0]}, c), got shape {tuple(features.shape)}"
        )
    if weights is not None and tuple(weights.shape) != (d,):
        raise ValueError(f"weights: expected ({d},), got shape {tuple(weights.shape)}")
    if cutoff is not None and not cutoff > 0:
        raise ValueError(f"cutoff: expected a positive number of scales or None, got {cutoff}")
    tensors = {"means": means, "scales": scales, "features": features}
    for name, tensor in tensors.items():
        if tensor.dtype != x.dtype or tensor.device != x.device:
            raise ValueError(
                f"{name}: expected {x.dtype} on {x.device} (as x), got {tensor.dtype} on "
                f"{tensor.device}"
            )


def _moments(
    centred_means: torch.Tensor, scales: torch.Tensor, features: torch.Tensor, weights: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``B`` (2d+1, K) with ``[x², x, 1] @ B = E`` and ``M`` (K, c(2+4d)) with the sums of the
    module docstring as ``g @ M``, for means already shifted to the centre."""
    mu = centred_means
    a = 1.0 / (scales * scales)  # (K, d): 1/s²
    b = mu * a  # μ/s²
    exponent = _exponent_matrix(mu, scales)
    a2 = a * a
    constant = ((mu * mu * a2 - a) * weights).sum(1, keepdim=True)  # Σ_j w_j (μ²/s⁴ - 1/s²)
    columns = [
        torch.ones_like(a[:, :1]),  # F
        a,  # ∇F: x_j Σ g f / s²
        b,  # ∇F: Σ g f μ_j / s²
        a2 * weights,  # L_w F: x_j² Σ g f w_j / s⁴
        b * a * weights,  # L_w F: x_j Σ g f w_j μ_j / s⁴
        constant,  # L_w F: the rest
    ]
    per_gaussian = torch.cat(columns, 1)  # (K, 2 + 4d)
    return exponent, (features[:, :, None] * per_gaussian[:, None, :]).flatten(1)


def _exponent_matrix(centred_means: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
    """``B`` (2d+1, K) with ``[y², y, 1] @ B = E`` for ``y = x - x₀`` and means shifted by x₀."""
    a = 1.0 / (scales * scales)  # (K, d): 1/s²
    b = centred_means * a  # μ/s²
    return torch.cat([a.T, -2.0 * b.T, (centred_means * b).sum(1, keepdim=True).T])


def _gaussians(y: torch.Tensor, exponent_matrix: torch.Tensor, cutoff: float) -> torch.Tensor:
    """``g = exp(-E/2)`` (n, K) at centred points ``y``, zero where ``E > cutoff²``."""
    # -E/2: the factor folded into the small matrix saves a pass over the big one
    log_g = torch.cat([y * y, y, torch.ones_like(y[:, :1])], 1) @ (-0.5 * exponent_matrix)
    g = torch.exp(log_g)
    if math.isfinite(cutoff):
        g = torch.where(log_g >= -0.5 * cutoff * cutoff, g, torch.zeros_like(g))
    return g


def _chunk(
    x: torch.Tensor,
    means: torch.Tensor,
    scales: torch.Tensor,
    features: torch.Tensor,
    weights: torch.Tensor,
    cutoff: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The three outputs for a chunk of points, as differentiable torch operations."""
    centre = means.detach().mean(0)
    y = x - centre
    exponent_matrix, moment_matrix = _moments(means - centre, scales, features, weights)
    n, d = y.shape
    c = features.shape[1]
    g = _gaussians(y, exponent_matrix, cutoff)
    sums = (g @ moment_matrix).view(n, c, 2 + 4 * d)
    value = sums[:, :, 0]
    s_a, s_b, s_a2, s_ab = (sums[:, :, 1 + i * d : 1 + (i + 1) * d] for i in range(4))
    yc = y[:, None, :]
    gradient = s_b - yc * s_a
    curvature = (yc * yc * s_a2 - 2.0 * yc * s_ab).sum(2) + sums[:, :, -1]
    return value, gradient, curvature


def chunk_size(k: int, max_elements: int) -> int:
    """Points per chunk of the CPU path: at most ``max_elements`` pairs with ``k`` Gaussians."""
    return max(1, max_elements // max(1, k))


def reference_forward(
    x: torch.Tensor,
    means: torch.Tensor,
    scales: torch.Tensor,
    features: torch.Tensor,
    weights: torch.Tensor,
    cutoff: float,
    max_elements: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The op's outputs (module docstring), chunk by chunk of points."""
    step = chunk_size(means.shape[0], max_elements)
    parts = [
        _chunk(x[i : i + step], means, scales, features, weights, cutoff)
        for i in range(0, x.shape[0], step)
    ]
    if not parts:  # no points
        return _empty_outputs(x, features)
    return tuple(torch.cat(p) for p in zip(*parts, strict=True))


_gaussian_features_op = torch.library.custom_op("opl::gaussian_features", mutates_args=())(
    reference_forward
)


def _empty_outputs(x, features):
    n, d = x.shape
    c = features.shape[1]
    return x.new_zeros(n, c), x.new_zeros(n, c, d), x.new_zeros(n, c)


@_gaussian_features_op.register_fake
def _(x, means, scales, features, weights, cutoff, max_elements):
    return _empty_outputs(x, features)


def reference_backward(
    grad_values: torch.Tensor,
    grad_gradients: torch.Tensor,
    grad_curvatures: torch.Tensor,
    x: torch.Tensor,
    means: torch.Tensor,
    scales: torch.Tensor,
    features: torch.Tensor,
    weights: torch.Tensor,
    cutoff: float,
    max_elements: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradients of ``<grad_values, F> + <grad_gradients, ∇F> + <grad_curvatures, L_w F>`` with
    respect to x, μ, s and f: each chunk's forward is recomputed and differentiated
    (``torch.func.vjp``, which works inside a custom op's kernel where autograd does not)."""
    grad_x = torch.empty_like(x)
    grad_params = [torch.zeros_like(t) for t in (means, scales, features)]
    step = chunk_size(means.shape[0], max_elements)
    for i in range(0, x.shape[0], step):
        _, pullback = torch.func.vjp(
            lambda *args: _chunk(*args, weights, cutoff), x[i : i + step], means, scales, features
        )
        grads = pullback(
            (grad_values[i : i + step], grad_gradients[i : i + step], grad_curvatures[i : i + step])
        )
        grad_x[i : i + step] = grads[0]
        for total, part in zip(grad_params, grads[1:], strict=True):
            total += part
    return grad_x, *grad_params


_gaussian_features_backward_op = torch.library.custom_op(
    "opl::gaussian_features_backward", mutates_args=()
)(reference_backward)


@_gaussian_features_backward_op.register_fake
def _(grad_values, grad_gradients, grad_curvatures, x, means, scales, features, *rest):
    return (
        torch.empty_like(x),
        torch.empty_like(means),
        torch.empty_like(scales),
        torch.empty_like(features),
    )


def _setup_context(ctx, inputs, output) -> None:
    x, means, scales, features, weights, cutoff, max_elements = inputs
    ctx.save_for_backward(x, means, scales, features, weights)
    ctx.cutoff, ctx.max_elements = cutoff, max_elements


def _backward(ctx, grad_values, grad_gradients, grad_curvatures):
    x, means, scales, features, weights = ctx.saved_tensors
    grads = torch.ops.opl.gaussian_features_backward(
        grad_values.contiguous(),
        grad_gradients.contiguous(),
        grad_curvatures.contiguous(),
        x,
        means,
        scales,
        features,
        weights,
        ctx.cutoff,
        ctx.max_elements,
    )
    return *grads, None, None, None


_gaussian_features_op.register_autograd(_backward, setup_context=_setup_context)
