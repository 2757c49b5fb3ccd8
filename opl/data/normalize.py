"""Unit-Gaussian normalisation of fields, per channel.

``encode(x) = (x - μ_c) / (σ_c + ε)`` and ``decode`` its inverse, with ``μ_c`` and ``σ_c`` the
mean and standard deviation of channel ``c`` over the training samples and all their grid points.
Per-channel statistics do not depend on the grid, so one normaliser serves every resolution a
model is evaluated at -- unlike the pointwise statistics of the FNO/MgNO reference code, which
exist only at the training resolution. The statistics are buffers, saved with the model.
"""

from __future__ import annotations

import torch
from torch import nn


class ChannelNormalizer(nn.Module):
    """Per-channel unit-Gaussian normalisation of ``(B, C, *spatial)`` tensors."""

    def __init__(self, channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.register_buffer("mean", torch.zeros(channels))
        self.register_buffer("std", torch.ones(channels))

    def fit(self, data: torch.Tensor) -> ChannelNormalizer:
        """Set μ and σ from ``data`` of shape ``(N, C, *spatial)`` (float64 accumulation)."""
        if data.dim() < 2 or data.shape[1] != self.mean.numel():
            raise ValueError(
                f"normaliser: expected data of shape (N, {self.mean.numel()}, ...), got "
                f"{tuple(data.shape)}"
            )
        flat = data.transpose(0, 1).reshape(data.shape[1], -1).double()
        self.mean.copy_(flat.mean(1))
        self.std.copy_(flat.std(1))
        return self

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self._view(self.mean, x)) / (self._view(self.std, x) + self.eps)

    def decode(self, x: torch.Tensor) -> torch.Tensor:
        return x * (self._view(self.std, x) + self.eps) + self._view(self.mean, x)

    @staticmethod
    def _view(stat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return stat.to(x.dtype).reshape(1, -1, *([1] * (x.dim() - 2)))
