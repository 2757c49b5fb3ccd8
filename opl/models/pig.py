r"""PIG: physics-informed Gaussians (Kang et al., ICLR 2025).

The solution is a tiny MLP on an adaptive Gaussian feature embedding,

    FE(x) = Σ_i f_i exp(-½ (x - μ_i)^T Σ_i^{-1} (x - μ_i)),    u(x) = MLP(FE(x)),

with the means μ_i, covariances Σ_i and features f_i all trained. Two layouts:

* ``shared`` (the paper): ``n_gaussians`` Gaussians with feature vectors f_i ∈ R^k;
* ``per_channel`` (the official code): each of the k feature channels has ``n_gaussians``
  Gaussians of its own with scalar weights — the shared form with k·n Gaussians and features
  that are zero outside their channel.

Covariances are diagonal, Σ_i = diag(s_i²), by default; ``covariance="full"`` (2-D) trains a
rotation too, Σ_i^{-1} = R_i diag(1/s_i²) R_i^T, R_i the rotation by angle θ_i. Initialisation
(the official code's): μ uniform in the box, s = ``sigma_init`` × half the box width per axis
(0.1 on [-1, 1]), f ~ N(0, ``feature_std``²) with ``feature_std`` = 0.01, θ = 0.

Derivatives for the PDE residual are exact and need no double backward: the Gaussian stage
returns (FE, ∇FE, L_w FE) in closed form (``opl.ops.gaussian_features``, the fused CUDA kernel on
GPU, for diagonal covariances) and ``opl.models.pointwise.propagate`` carries them through the
MLP in forward mode.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import torch
from torch import nn

from opl.models.base import PointwiseModel
from opl.models.pointwise import check_activation, mlp_layers, propagate
from opl.ops import gaussian_features, gaussian_values
from opl.physics.fields import Fields


class PIG(PointwiseModel):
    """Physics-informed Gaussians (module docstring).

    Args:
        lower, upper: the box the means are initialised in (the problem's domain), one bound
            per coordinate.
        out_channels: components c of u.
        n_gaussians: Gaussians (``shared``) or Gaussians per feature channel (``per_channel``).
        n_features: feature channels k (the MLP's input width).
        hidden: widths of the MLP's hidden layers (the official code: one of 16).
        activation: of the MLP, ``tanh`` or ``sin``.
        layout: ``shared`` (paper) or ``per_channel`` (official code).
        covariance: ``diagonal`` or ``full`` (rotations; 2-D only, pure-torch path).
        sigma_init: initial scale as a fraction of half the box width.
        feature_std: standard deviation of the initial features.
        cutoff: drop Gaussian-point pairs beyond this many scales (``gaussian_features``);
            None keeps all.
    """

    def __init__(
        self,
        lower: Sequence[float] = (-1.0, -1.0),
        upper: Sequence[float] = (1.0, 1.0),
        out_channels: int = 1,
        n_gaussians: int = 800,
        n_features: int = 4,
        hidden: Sequence[int] = (16,),
        activation: str = "tanh",
        layout: Literal["shared", "per_channel"] = "shared",
        covariance: Literal["diagonal", "full"] = "diagonal",
        sigma_init: float = 0.1,
        feature_std: float = 0.01,
        cutoff: float | None = None,
    ) -> None:
        super().__init__()
        if len(lower) != len(upper):
            raise ValueError(f"lower {list(lower)} and upper {list(upper)} differ in length")
        if layout not in ("shared", "per_channel"):
            raise ValueError(f"layout: expected 'shared' or 'per_channel', got {layout!r}")
        if covariance not in ("diagonal", "full"):
            raise ValueError(f"covariance: expected 'diagonal' or 'full', got {covariance!r}")
        if covariance == "full" and len(lower) != 2:
            raise ValueError(
                f"covariance: 'full' is for 2-D problems, got {len(lower)} coordinates"
            )
        check_activation(activation)
        d = len(lower)
        self.in_dim, self.out_channels, self.n_features = d, out_channels, n_features
        self.activation, self.layout, self.covariance, self.cutoff = (
            activation,
            layout,
            covariance,
            cutoff,
        )
        total = n_gaussians * (n_features if layout == "per_channel" else 1)
        low = torch.tensor(lower, dtype=torch.float32)
        width = torch.tensor(upper, dtype=torch.float32) - low
        self.means = nn.Parameter(low + torch.rand(total, d) * width)
        self.scales = nn.Parameter((sigma_init * width / 2).expand(total, d).clone())
        if layout == "shared":
            self.features = nn.Parameter(torch.randn(total, n_features) * feature_std)
        else:
            self.features = nn.Parameter(torch.randn(total) * feature_std)
            channel = torch.arange(n_features).repeat_interleave(n_gaussians)
            self.register_buffer(
                "channel_mask", nn.functional.one_hot(channel, n_features).float(), persistent=False
            )
        if covariance == "full":
            self.angles = nn.Parameter(torch.zeros(total))
        self.layers = mlp_layers([n_features, *hidden, out_channels])

    def feature_vectors(self) -> torch.Tensor:
        """f (K, k): the shared layout's parameter, or the per-channel weights on their channel."""
        if self.layout == "shared":
            return self.features
        return self.features[:, None] * self.channel_mask

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        """``u`` (N, c) at ``points`` (N, d)."""
        return self.fields(points, 0).u

    def _per_gaussian_set(self, evaluate: Callable[..., tuple[torch.Tensor, ...]]):
        """The outputs (a tuple of (N, c, ...) tensors) of ``evaluate(means, scales, features)``,
        called once for the shared layout, or once per channel with that channel's Gaussians
        and scalar weights (no zero features) and joined along the channel axis."""
        if self.layout == "shared":
            return evaluate(self.means, self.scales, self.features)
        per_channel = [
            evaluate(mu, s, f[:, None])
            for mu, s, f in zip(
                self.means.chunk(self.n_features),
                self.scales.chunk(self.n_features),
                self.features.chunk(self.n_features),
                strict=True,
            )
        ]
        return [torch.cat(parts, 1) for parts in zip(*per_channel, strict=True)]

    def fields(
        self, points: torch.Tensor, order: int, weights: Sequence[float] | None = None
    ) -> Fields:
        """``Fields`` of u at ``points`` (N, d): exact derivatives up to ``order``, with
        ``L_w = Σ_j w_j ∂²/∂x_j²`` (``weights``, default the Laplacian)."""
        w = torch.tensor(
            [1.0] * self.in_dim if weights is None else list(weights),
            dtype=points.dtype,
            device=points.device,
        )
        if self.covariance == "full":
            embedded = _rotated_gaussian_features(
                points, self.means, self.scales, self.angles, self.feature_vectors(), w
            )
        elif order == 0:  # values alone (boundary data): half the op's work
            embedded = self._per_gaussian_set(
                lambda mu, s, f: (gaussian_values(points, mu, s, f, self.cutoff),)
            )
        else:
            embedded = self._per_gaussian_set(
                lambda mu, s, f: gaussian_features(points, mu, s, f, w, self.cutoff)
            )
        fields = Fields(
            embedded[0],
            embedded[1] if order >= 1 else None,
            embedded[2] if order >= 2 else None,
        )
        return propagate(self.layers, self.activation, fields, w)


def _rotated_gaussian_features(
    x: torch.Tensor,
    means: torch.Tensor,
    scales: torch.Tensor,
    angles: torch.Tensor,
    features: torch.Tensor,
    weights: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""(F, ∇F, L_w F) for 2-D Gaussians with z = A (x - μ), A = diag(1/s) R(θ)^T: then
    ∇g = -g A^T z and ∂²g/∂x_j² = g ((A^T z)_j² - (A^T A)_jj); direct differences, autograd
    for the first-order gradients (memory (N, K, 2): for moderate N·K)."""
    cos, sin = torch.cos(angles), torch.sin(angles)
    rotation_t = torch.stack([torch.stack([cos, sin], -1), torch.stack([-sin, cos], -1)], -2)
    a = rotation_t / scales[:, :, None]  # (K, 2, 2): row i of R^T divided by s_i
    u = x[:, None, :] - means[None]  # (N, K, 2)
    z = torch.einsum("kij,nkj->nki", a, u)
    g = torch.exp(-0.5 * (z * z).sum(-1))  # (N, K)
    atz = torch.einsum("kij,nki->nkj", a, z)  # A^T z
    diag = (a * a).sum(1)  # (K, 2): (A^T A)_jj
    curvature = ((atz * atz - diag[None]) * weights).sum(-1)
    values = g @ features
    gradients = -torch.einsum("nk,nkj,kc->ncj", g, atz, features)
    return values, gradients, (g * curvature) @ features
