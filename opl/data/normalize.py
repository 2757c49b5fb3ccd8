"""Unit-Gaussian normalisation of fields, per channel.

``encode(x) = (x - μ_c) / (σ_c + ε)`` and ``decode`` its inverse, with ``μ_c`` and ``σ_c`` the
mean and (unbiased) standard deviation of channel ``c`` over the training samples and all their
grid points. Per-channel statistics do not depend on the grid, so one normaliser serves every
resolution a model is evaluated at -- unlike the pointwise statistics of the FNO/MgNO reference
code, which exist only at the training resolution. The statistics are buffers, saved with the
model. ``ChannelMoments`` accumulates them batch by batch (Chan, Golub and LeVeque's pairwise
update in float64), so a split that does not fit in memory is normalised in one streaming pass
with the same result as the whole split at once.
"""

from __future__ import annotations

import torch
from torch import nn


class ChannelMoments:
    """Count, mean and sum of squared deviations per channel of ``(N, C, *spatial)`` batches.

    Merging a batch of ``n_b`` values with mean ``m_b`` and squared deviations ``M_b`` into
    ``(n, m, M)``: ``δ = m_b - m``, ``m += δ n_b / (n + n_b)``, ``M += M_b + δ² n n_b / (n +
    n_b)``, ``n += n_b`` -- exact in exact arithmetic, and stable in float64.
    """

    def __init__(self, channels: int) -> None:
        self.count = 0
        self.mean = torch.zeros(channels, dtype=torch.float64)
        self.m2 = torch.zeros(channels, dtype=torch.float64)

    def update(self, batch: torch.Tensor) -> ChannelMoments:
        """Add a batch of shape ``(N, C, *spatial)``."""
        if batch.dim() < 2 or batch.shape[1] != self.mean.numel():
            raise ValueError(
                f"normaliser: expected data of shape (N, {self.mean.numel()}, ...), got "
                f"{tuple(batch.shape)}"
            )
        flat = batch.transpose(0, 1).reshape(batch.shape[1], -1).double()
        n_b = flat.shape[1]
        mean_b = flat.mean(1)
        m2_b = (flat - mean_b[:, None]).pow(2).sum(1)
        total = self.count + n_b
        delta = mean_b - self.mean
        self.mean += delta * n_b / total
        self.m2 += m2_b + delta.pow(2) * self.count * n_b / total
        self.count = total
        return self

    @property
    def std(self) -> torch.Tensor:
        """The unbiased standard deviation (``torch.std``'s)."""
        return (self.m2 / (self.count - 1)).sqrt()


class ChannelNormalizer(nn.Module):
    """Per-channel unit-Gaussian normalisation of ``(B, C, *spatial)`` tensors."""

    def __init__(self, channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.register_buffer("mean", torch.zeros(channels))
        self.register_buffer("std", torch.ones(channels))

    def fit(self, data: torch.Tensor | ChannelMoments) -> ChannelNormalizer:
        """Set μ and σ from ``data`` of shape ``(N, C, *spatial)``, or from moments accumulated
        batch by batch."""
        if isinstance(data, torch.Tensor):
            data = ChannelMoments(self.mean.numel()).update(data)
        self.mean.copy_(data.mean)
        self.std.copy_(data.std)
        return self

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self._view(self.mean, x)) / (self._view(self.std, x) + self.eps)

    def decode(self, x: torch.Tensor) -> torch.Tensor:
        return x * (self._view(self.std, x) + self.eps) + self._view(self.mean, x)

    @staticmethod
    def _view(stat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return stat.to(x.dtype).reshape(1, -1, *([1] * (x.dim() - 2)))
