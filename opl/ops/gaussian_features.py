r"""Gaussian features with their exact first and second derivatives in ``x`` (pure torch).

For points ``x`` (N, d), Gaussians with means ``μ`` (K, d), diagonal scales ``s`` (K, d) and
feature vectors ``f`` (K, c) -- the shared-Gaussian form of physics-informed Gaussians (PIG) --

    g_k(x) = exp(-½ Σ_j z_kj²),   z_kj = (x_j - μ_kj) / s_kj,
    F(x)   = Σ_k f_k g_k(x)                                        (N, c)
    ∂F/∂x_j = -Σ_k f_k g_k z_kj / s_kj                             (N, c, d)
    ΔF(x)  = Σ_k f_k g_k Σ_j (z_kj² - 1) / s_kj²                   (N, c)

are computed in one pass with the closed-form derivatives of the Gaussian, so a PDE residual
needs no double backward (which ``torch.compile`` cannot do); every output is differentiable
(first order) in ``x``, ``μ``, ``s`` and ``f`` through ordinary autograd. Points are processed in
chunks so the (chunk, K, d) intermediates stay within ``max_elements``. This is the reference
implementation: the specification a fused kernel must match.
"""

from __future__ import annotations

import torch


def gaussian_features(
    x: torch.Tensor,
    means: torch.Tensor,
    scales: torch.Tensor,
    features: torch.Tensor,
    max_elements: int = 1 << 24,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(F, ∇F, ΔF)`` of the module docstring for points ``x``.

    Args:
        x: (N, d) points.
        means: (K, d) Gaussian centres μ.
        scales: (K, d) positive per-axis scales s (standard deviations).
        features: (K, c) feature vectors f.
        max_elements: bound on the elements of a (chunk, K, d) intermediate (memory control).

    Returns:
        values (N, c), gradients (N, c, d), Laplacians (N, c).
    """
    _check(x, means, scales, features)
    n, d = x.shape
    k = means.shape[0]
    chunk = max(1, max_elements // max(1, k * d))
    values, gradients, laplacians = [], [], []
    inv = 1.0 / scales  # (K, d)
    for start in range(0, n, chunk):
        z = (x[start : start + chunk, None, :] - means[None]) * inv[None]  # (n, K, d)
        g = torch.exp(-0.5 * (z * z).sum(-1))  # (n, K)
        values.append(g @ features)
        gradients.append(-torch.einsum("nk,nkj,kc->ncj", g, z * inv[None], features))
        curvature = ((z * z - 1.0) * (inv * inv)[None]).sum(-1)  # (n, K)
        laplacians.append((g * curvature) @ features)
    return torch.cat(values), torch.cat(gradients), torch.cat(laplacians)


def _check(
    x: torch.Tensor, means: torch.Tensor, scales: torch.Tensor, features: torch.Tensor
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
