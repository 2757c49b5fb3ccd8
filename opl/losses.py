r"""Relative error losses for operator learning, with exact definitions.

All losses take ``pred`` and ``target`` of shape ``(B, C, *spatial)`` (``d`` = 1, 2 or 3 spatial
axes) and return the mean over the batch of a per-sample relative error, so every sample weighs
the same whatever its magnitude. Norms run over all channels and grid points of a sample.

* ``RelativeL2``: ``mean_b ||p_b - y_b||_2 / ||y_b||_2`` (plain sums of squares: on a uniform
  grid the quadrature weight cancels in the ratio).
* ``RelativeH1Spectral`` (how MgNO trains): with ``ê = FFT(p_b - y_b)`` over the spatial axes,
  integer wavenumbers ``k_i`` (cycles per domain length, ``numpy.fft.fftfreq(n, 1/n)``) and
  weights ``w_k = sqrt(1 + Σ_i κ_i²)``, ``mean_b ||w ê||_2 / ||w ŷ||_2`` over all modes, where
  ``κ_i = k_i`` if ``|k_i| < k_max`` and 0 otherwise: beyond ``k_max`` a mode still counts, with
  weight 1 (plain L2) -- the truncation of MgNO's reference loss, whose ``k_max`` is 20
  (``None``: no truncation). The data is treated as periodic, as in the reference code; ``k`` is
  not scaled by 2π.
* ``RelativeH1FiniteDifference``: ``mean_b sqrt(||e||² + ||∇e||²) / sqrt(||y||² + ||∇y||²)`` with
  ``||v||² = h^d Σ v²`` and ``∇`` by second-order differences (``torch.gradient``, one-sided at
  the ends) on a grid of spacing ``h`` per axis over an interval of ``length``: ``length / (n -
  1)`` on ``nodes`` grids (both ends included), ``length / n`` on ``cells`` and ``periodic``
  ones; the convention is the training data's (``adopt_grid``), ``nodes`` until it is known.

A sample whose target norm is zero makes the ratio infinite; that is reported, not hidden.
"""

from __future__ import annotations

import torch
from torch import nn


def _per_sample(values: torch.Tensor) -> torch.Tensor:
    return values.reshape(values.shape[0], -1)


def _relative(error_sq: torch.Tensor, target_sq: torch.Tensor) -> torch.Tensor:
    return (torch.sqrt(error_sq) / torch.sqrt(target_sq)).mean()


def _check(pred: torch.Tensor, target: torch.Tensor) -> None:
    if pred.shape != target.shape:
        raise ValueError(
            f"pred and target: expected equal shapes, got {tuple(pred.shape)} and "
            f"{tuple(target.shape)}"
        )
    if pred.dim() < 3:
        raise ValueError(
            f"pred: expected (batch, channels, *spatial), got shape {tuple(pred.shape)}"
        )


class RelativeL2(nn.Module):
    """``mean_b ||p_b - y_b||_2 / ||y_b||_2`` over all channels and points of each sample."""

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        _check(pred, target)
        error = _per_sample(pred - target).pow(2).sum(1)
        return _relative(error, _per_sample(target).pow(2).sum(1))


class RelativeH1Spectral(nn.Module):
    """Relative H1 error with Fourier weights ``sqrt(1 + |k|²)`` (see the module docstring)."""

    def __init__(self, k_max: int | None = None) -> None:
        super().__init__()
        self.k_max = k_max

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        _check(pred, target)
        axes = tuple(range(2, pred.dim()))
        weight = self._weight(pred.shape[2:], pred.device)
        error = torch.fft.fftn(pred - target, dim=axes).abs().pow(2) * weight
        reference = torch.fft.fftn(target, dim=axes).abs().pow(2) * weight
        return _relative(_per_sample(error).sum(1), _per_sample(reference).sum(1))

    def _weight(self, shape: torch.Size, device: torch.device) -> torch.Tensor:
        """``w_k² = 1 + Σ_i κ_i²`` on the FFT grid (``κ_i = 0`` where ``|k_i| >= k_max``)."""
        ks = torch.meshgrid(
            *[torch.fft.fftfreq(n, 1.0 / n, device=device) for n in shape], indexing="ij"
        )
        if self.k_max is not None:
            ks = [k * (k.abs() < self.k_max) for k in ks]
        return 1.0 + sum(k**2 for k in ks)


class RelativeH1FiniteDifference(nn.Module):
    """Relative H1 error with finite-difference gradients (see the module docstring)."""

    def __init__(self, length: float = 1.0) -> None:
        super().__init__()
        self.length = length
        self.conventions: list[str] | None = None

    def adopt_grid(self, conventions: list[str]) -> None:
        """The grid convention of each spatial axis (``nodes``, ``cells``, ``periodic``)."""
        self.conventions = list(conventions)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        _check(pred, target)
        return _relative(self._h1_sq(pred - target), self._h1_sq(target))

    def _h1_sq(self, values: torch.Tensor) -> torch.Tensor:
        shape = values.shape[2:]
        conventions = self.conventions or ["nodes"] * len(shape)
        spacing = [
            self.length / (n - 1 if grid == "nodes" else n)
            for n, grid in zip(shape, conventions, strict=True)
        ]
        cell = torch.tensor(spacing).prod().item()
        axes = tuple(range(2, values.dim()))
        grads = torch.gradient(values, spacing=spacing, dim=axes)
        total = values.pow(2) + sum(g.pow(2) for g in grads)
        return cell * _per_sample(total).sum(1)


LOSSES = {
    "rel_l2": RelativeL2,
    "rel_h1_spectral": RelativeH1Spectral,
    "rel_h1_fd": RelativeH1FiniteDifference,
}
"""The losses by the names configs use."""
