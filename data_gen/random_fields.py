r"""Gaussian random fields ``N(0, C)`` with Matérn-like covariance ``C = σ² (-Δ + τ² I)^{-α}``.

The field is sampled through its Karhunen-Loève expansion in the eigenfunctions of the Laplacian on
the unit box ``[0, 1]^d`` (``d`` = 1 or 2), truncated to as many modes as the grid has points:

* ``periodic``: eigenfunctions ``exp(2πi k·x)``, eigenvalues of ``-Δ`` ``4π²|k|²``; the grid is
  ``x_j = j/s`` (endpoint excluded) and the sum is an inverse FFT. With ``z`` white noise on the
  grid (``N = s^d`` iid standard normals), ``u = sqrt(N) · ifft(sqrt(λ_k) · fft(z))``, so that
  ``E |fft(u)_k|² = N² λ_k`` for every discrete wavenumber ``k`` (wrapped to ``[-s/2, s/2)``),
  and the pointwise variance is ``Σ_k λ_k``.
* ``neumann``: eigenfunctions ``φ_k(x) = Π_m c_{k_m} cos(π k_m x_m)`` with ``c_0 = 1``,
  ``c_k = sqrt(2)`` (orthonormal in L²(0,1)), eigenvalues of ``-Δ`` ``π²|k|²``; the grid is
  ``x_j = j/(s-1)`` (endpoints included) and ``u(x) = Σ_k sqrt(λ_k) ξ_k φ_k(x)``, ``ξ_k`` iid
  N(0,1), ``0 <= k_m < s``. This is the covariance of the classic FNO Darcy data (α = 2, τ = 3).

In both cases ``λ_k = σ² (μ_k + τ²)^{-α}`` with ``μ_k`` the Laplacian eigenvalue, and the default
amplitude ``σ = τ^{α - d/2}`` makes the pointwise variance of order one whatever τ (the scaling of
the FNO reference code). Fields are nondimensional.

Two conventions (``convention``):

* ``kl`` (default): the Karhunen-Loève expansion above, exactly ``N(0, C)`` truncated to the grid.
* ``fno``: what the published FNO generators draw with the same (α, τ, σ), so that configs that
  claim the FNO / MgNO benchmark settings make their data:

  - the constant mode ``k = 0`` is removed (``L(1,1) = 0`` in FNO's ``GRF.m``, ``sqrt_eig[0,0] =
    0`` in its torch ``GaussianRF``, mean ``m = 0`` in ``GRF1.m``): every sample has spatial
    mean 0, so a field thresholded at 0 is never uniform and splits the square about evenly;
  - ``neumann``: the samples live on the cell-centred grid ``x_j = (j + ½)/s`` of the DCT-II
    (MATLAB's ``idct2(s · coef · ξ)``, orthonormal), not on the nodes;
  - ``periodic`` in 2-D: the amplitude is FNO's torch ``GaussianRF``'s, which takes the real part
    of an inverse FFT of *complex* white noise times ``√2 sqrt(λ_k)``: ``E |fft(u)_k|² = 2 N²
    λ_k``, twice the variance of ``N(0, C)``. In 1-D, FNO's Burgers data come from ``GRF1.m``,
    whose real cosine/sine expansion has the KL variance: no factor there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from data_gen.config import bounds


@dataclass(frozen=True)
class GaussianRandomField:
    """Hyperparameters of ``N(0, σ² (-Δ + τ² I)^{-α})`` on the unit box (see the module doc)."""

    alpha: float = field(default=2.0, metadata=bounds(gt=0))
    """Smoothness exponent α: samples have about ``2α - d`` derivatives' worth of decay."""
    tau: float = field(default=3.0, metadata=bounds(gt=0))
    """Inverse length scale τ (correlation length about 1/τ)."""
    sigma: float | None = field(default=None, metadata=bounds(gt=0))
    """Amplitude σ; ``None`` means ``τ^(α - d/2)``."""
    boundary: Literal["periodic", "neumann"] = "neumann"
    """Boundary condition of the Laplacian, and with it the grid (see the module docstring)."""
    convention: Literal["kl", "fno"] = "kl"
    """``kl``: exactly ``N(0, C)``; ``fno``: the FNO generators' draw (see the module docstring)."""

    def require_boundary(self, expected: str, reason: str) -> None:
        """Raise ``ValueError`` naming ``grf.boundary`` unless it is ``expected``."""
        if self.boundary != expected:
            raise ValueError(f"grf.boundary: expected {expected!r} ({reason})")

    def require_node_grid(self, reason: str) -> None:
        """Raise ``ValueError`` unless samples live on the node grid (Neumann, ``kl``)."""
        self.require_boundary("neumann", reason)
        if self.convention != "kl":
            raise ValueError(
                f"grf.convention: expected 'kl' ({reason}; 'fno' samples at cell centres)"
            )

    def amplitude(self, ndim: int) -> float:
        """σ, with its default ``τ^(α - d/2)`` filled in for a ``ndim``-dimensional box."""
        return self.sigma if self.sigma is not None else self.tau ** (self.alpha - ndim / 2)

    @property
    def grid_convention(self) -> str:
        """Where samples live: ``periodic``, ``cells`` (``fno`` Neumann) or ``nodes``."""
        if self.boundary == "periodic":
            return "periodic"
        return "cells" if self.convention == "fno" else "nodes"

    def grid(self, s: int) -> np.ndarray:
        """The 1-D grid on which samples of ``s`` points per axis live."""
        if self.boundary == "periodic":
            return np.arange(s) / s
        if self.convention == "fno":
            return (np.arange(s) + 0.5) / s
        return np.linspace(0.0, 1.0, s)

    def eigenvalues(self, shape: tuple[int, ...]) -> np.ndarray:
        """``λ_k`` for every mode of a grid of ``shape`` (FFT ordering when periodic)."""
        if self.boundary == "periodic":
            axes = [2 * np.pi * np.fft.fftfreq(s, d=1.0 / s) for s in shape]
        else:
            axes = [np.pi * np.arange(s, dtype=float) for s in shape]
        mu = sum(k**2 for k in np.meshgrid(*axes, indexing="ij"))
        lam = self.amplitude(len(shape)) ** 2 * (mu + self.tau**2) ** (-self.alpha)
        if self.convention == "fno":
            lam.flat[0] = 0.0  # no constant mode
            if self.boundary == "periodic" and len(shape) == 2:
                lam *= 2.0  # torch GaussianRF: complex noise, real part
        return lam

    def sample(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        """One sample on the grid of ``shape`` (float64), drawing ``prod(shape)`` normals."""
        if len(shape) not in (1, 2) or min(shape) < 2:
            raise ValueError(f"GRF shape: expected 1 or 2 axes of at least 2 points, got {shape}")
        lam = self.eigenvalues(shape)
        if self.boundary == "periodic":
            noise = rng.standard_normal(shape)
            return np.sqrt(noise.size) * np.fft.ifftn(np.sqrt(lam) * np.fft.fftn(noise)).real
        coeffs = np.sqrt(lam) * rng.standard_normal(shape)
        for axis, s in enumerate(shape):
            basis = _cosine_basis(self.grid(s))
            coeffs = np.moveaxis(np.tensordot(basis, coeffs, axes=(1, axis)), 0, axis)
        return coeffs


def sample_at_points(
    grf: GaussianRandomField, rng: np.random.Generator, points: np.ndarray, resolution: int = 128
) -> np.ndarray:
    """A GRF sample evaluated at scattered 2-D ``points`` (shape (2, n)), e.g. FE dof locations.

    The field is sampled on a ``resolution``² grid of the unit square, mapped onto the smallest
    square box containing the points (so lengths such as 1/τ are relative to the box side), and
    interpolated bilinearly at the points.
    """
    from scipy.interpolate import RegularGridInterpolator

    low = points.min(axis=1)
    side = float(np.max(points.max(axis=1) - low)) or 1.0
    grid = grf.grid(resolution)
    values = grf.sample(rng, (resolution, resolution))
    if grf.boundary == "periodic":  # close the periodic grid so the box [0, 1] is covered
        grid = np.append(grid, 1.0)
        values = np.pad(values, ((0, 1), (0, 1)), mode="wrap")
    interpolate = RegularGridInterpolator((grid, grid), values)
    # the box maps onto [0, 1]; a cell-centred grid stops half a cell short of its sides, where
    # the field is extended by its value at the nearest grid point
    unit = np.clip((points - low[:, None]) / side, grid[0], grid[-1])
    return interpolate(unit.T)


def _cosine_basis(x: np.ndarray) -> np.ndarray:
    """``B[j, k] = c_k cos(π k x_j)``, ``k < len(x)``: the L²(0,1)-orthonormal cosines
    (``c_0 = 1``, ``c_k = √2``) at the points ``x``."""
    basis = np.sqrt(2.0) * np.cos(np.pi * np.outer(x, np.arange(len(x))))
    basis[:, 0] = 1.0
    return basis
