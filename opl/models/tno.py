r"""Transformer neural operator with continuum attention (Calvello, Kovachki, Levine & Stuart,
2024; code EdoardoCalvello/TransformerNeuralOperators), in plain torch.

Attention is an integral operator over the domain D, per head,

    Att(u)(x) = ∫_D exp(⟨q(x), k(y)⟩ / √d) v(y) dy / ∫_D exp(⟨q(x), k(y)⟩ / √d) dy,

q, k, v pointwise linear maps of u (d channels a head). On a grid with quadrature weights w_y
(``quadrature_weights``: the trapezoidal rule on node grids with the real spacing, equal weights
on periodic grids) both integrals become sums, so the discrete operator is softmax attention
with log w_y added to every score of key y:

    Att(u)(x_i) = Σ_j softmax_j(⟨q_i, k_j⟩ / √d + log w_j) v_j .

That is what makes one set of weights a consistent discretisation at every resolution. The
log-weight enters without an attention mask: one more channel in each head, 1 in q and
√d · log w_j in k, adds exactly log w_j to the scores, so PyTorch's fused attention kernels
(``scaled_dot_product_attention``: flash / memory-efficient, memory linear in the points) apply
as they are.

The model: grid coordinates (in [0, 1] per axis) appended to the input channels, a pointwise
lift to ``width`` channels, ``layers`` post-norm encoder layers ``v = LN(v + MHA(v))``,
``v = LN(v + FFN(v))`` (FFN ``width -> ffn_width -> width``, GELU), and a pointwise projection
``width -> ffn_width -> out_channels``. The paper's runs: 8 heads, 6 layers, FFN width 128, no
positional encoding beyond the coordinates. Cost is quadratic in the points: for large 2-D grids
use the patched variants.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from opl.models.base import Operator

QUADRATURES = ("trapezoid", "uniform")


def quadrature_weights(
    shape: tuple[int, ...], quadrature: str, dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    """Weights (Π shape,) of a tensor-product rule on [0, 1]^d, C order: ``trapezoid`` for node
    grids with both ends (spacing 1/(n-1), halved at the ends), ``uniform`` (1/n each) for
    periodic grids without the end point. Each rule integrates constants exactly (sum 1)."""
    if quadrature not in QUADRATURES:
        raise ValueError(
            f"quadrature: expected one of {', '.join(QUADRATURES)}, got {quadrature!r}"
        )
    weights = torch.ones((), dtype=dtype, device=device)
    for n in shape:
        if quadrature == "trapezoid":
            if n < 2:
                raise ValueError(f"trapezoid quadrature needs >= 2 points per axis, got {shape}")
            axis = torch.full((n,), 1.0 / (n - 1), dtype=dtype, device=device)
            axis[0] = axis[-1] = 0.5 / (n - 1)
        else:
            axis = torch.full((n,), 1.0 / n, dtype=dtype, device=device)
        weights = (weights[..., None] * axis).reshape(-1)
    return weights


def grid_coordinates(
    shape: tuple[int, ...], quadrature: str, dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    """Coordinates (d, *shape) of the grid's nodes in [0, 1]^d (``uniform``: i / n, the end
    point excluded; ``trapezoid``: i / (n - 1))."""
    axes = [
        torch.arange(n, dtype=dtype, device=device) / (n if quadrature == "uniform" else n - 1)
        for n in shape
    ]
    return torch.stack(torch.meshgrid(*axes, indexing="ij"))


class ContinuumAttention(nn.Module):
    """Multi-head attention as the quadrature of the continuum integral operator (module
    docstring): ``forward(v (B, N, width), log_weights (N,)) -> (B, N, width)``."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        if width % heads:
            raise ValueError(f"width: expected a multiple of heads ({heads}), got {width}")
        self.heads, self.head_dim = heads, width // heads
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)

    def forward(self, v: torch.Tensor, log_weights: torch.Tensor) -> torch.Tensor:
        b, n, width = v.shape
        q, k, val = self.qkv(v).view(b, n, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        d = self.head_dim
        # one extra channel: 1 in q, √d log w in k, so <q', k'>/√d = <q, k>/√d + log w_j;
        # zeros up to a multiple of 8 keep the fused kernels' alignment
        pad = (-(d + 1)) % 8
        ones = torch.ones_like(q[..., :1])
        log_w = (math.sqrt(d) * log_weights).to(k.dtype).expand(b, self.heads, n)[..., None]
        q = F.pad(torch.cat([q, ones], -1), (0, pad))
        k = F.pad(torch.cat([k, log_w], -1), (0, pad))
        val = F.pad(val, (0, 1 + pad))
        out = F.scaled_dot_product_attention(q, k, val, scale=1.0 / math.sqrt(d))[..., :d]
        return self.out(out.transpose(1, 2).reshape(b, n, width))


class EncoderLayer(nn.Module):
    """Post-norm transformer layer: ``v = LN(v + Att(v))``, ``v = LN(v + FFN(v))``."""

    def __init__(self, width: int, heads: int, ffn_width: int) -> None:
        super().__init__()
        self.attention = ContinuumAttention(width, heads)
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.ffn = nn.Sequential(
            nn.Linear(width, ffn_width), nn.GELU(), nn.Linear(ffn_width, width)
        )

    def forward(self, v: torch.Tensor, log_weights: torch.Tensor) -> torch.Tensor:
        v = self.norm1(v + self.attention(v, log_weights))
        return self.norm2(v + self.ffn(v))


class TNO(Operator):
    """Transformer neural operator with point-wise continuum attention (module docstring).

    Args:
        in_channels: input function channels.
        out_channels: output function channels.
        n_dim: spatial dimensions of the grid (1 or 2).
        width: channels of the encoder (a multiple of ``heads``).
        heads: attention heads.
        layers: encoder layers.
        ffn_width: hidden width of the feed-forward blocks and of the projection.
        quadrature: ``trapezoid`` (node grids including both ends, as opl's generators write) or
            ``uniform`` (periodic grids).
    """

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 1,
        n_dim: int = 2,
        width: int = 64,
        heads: int = 8,
        layers: int = 6,
        ffn_width: int = 128,
        quadrature: str = "trapezoid",
    ) -> None:
        super().__init__()
        if n_dim not in (1, 2):
            raise ValueError(f"n_dim: expected 1 or 2, got {n_dim}")
        if quadrature not in QUADRATURES:
            raise ValueError(
                f"quadrature: expected one of {', '.join(QUADRATURES)}, got {quadrature!r}"
            )
        self.in_channels, self.out_channels, self.n_dim = in_channels, out_channels, n_dim
        self.quadrature = quadrature
        self.lift = nn.Linear(in_channels + n_dim, width)
        self.encoder = nn.ModuleList(EncoderLayer(width, heads, ffn_width) for _ in range(layers))
        self.project = nn.Sequential(
            nn.Linear(width, ffn_width), nn.GELU(), nn.Linear(ffn_width, out_channels)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, in_channels, *spatial) -> (B, out_channels, *spatial)`` at any resolution."""
        if x.dim() != 2 + self.n_dim or x.shape[1] != self.in_channels:
            raise ValueError(
                f"input: expected (B, {self.in_channels}, "
                + ", ".join(["n"] * self.n_dim)
                + f"), got shape {tuple(x.shape)}"
            )
        b, shape = x.shape[0], tuple(x.shape[2:])
        coords = grid_coordinates(shape, self.quadrature, x.dtype, x.device)
        v = torch.cat([x, coords.expand(b, *coords.shape)], 1).flatten(2).transpose(1, 2)
        log_weights = quadrature_weights(shape, self.quadrature, x.dtype, x.device).log()
        v = self.lift(v)
        for layer in self.encoder:
            v = layer(v, log_weights)
        return self.project(v).transpose(1, 2).reshape(b, self.out_channels, *shape)
