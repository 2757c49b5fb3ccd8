r"""Boxes in space (and time) and collocation points in them.

A ``Box`` is ``[lower_1, upper_1] × … × [lower_d, upper_d]``, coordinates in the problem's units;
for a time-dependent problem the last coordinate is time. Points are drawn in the box or on a
set of its faces (face ``(j, side)``: coordinate j fixed at its lower (side 0) or upper (side 1)
bound) by one of three samplers:

* ``uniform``: independent uniform points;
* ``sobol``: a scrambled Sobol sequence (``torch.quasirandom.SobolEngine``), lower discrepancy;
* ``lhs``: Latin hypercube: each coordinate's n values fall one in each of n equal strata.

Face points are spread over the faces in proportion to their areas (lengths in 2-D), at least one
each; the number of points is exactly the one asked for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch

Sampler = Literal["uniform", "sobol", "lhs"]
SAMPLERS: tuple[str, ...] = ("uniform", "sobol", "lhs")
Face = tuple[int, int]


@dataclass(frozen=True)
class Box:
    """The box ``Π_j [lower_j, upper_j]``."""

    lower: tuple[float, ...]
    upper: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.lower) != len(self.upper) or not self.lower:
            raise ValueError(f"box: lower {self.lower} and upper {self.upper} differ in length")
        for j, (lo, hi) in enumerate(zip(self.lower, self.upper, strict=True)):
            if not lo < hi:
                raise ValueError(f"box: coordinate {j} needs lower < upper, got [{lo}, {hi}]")

    @property
    def dim(self) -> int:
        return len(self.lower)

    def all_faces(self, dims: Sequence[int] | None = None) -> list[Face]:
        """Both faces of each coordinate in ``dims`` (default: every coordinate)."""
        return [(j, side) for j in (range(self.dim) if dims is None else dims) for side in (0, 1)]

    def sample(
        self,
        n: int,
        generator: torch.Generator,
        sampler: Sampler = "uniform",
        dtype: torch.dtype = torch.float64,
    ) -> torch.Tensor:
        """``n`` points (n, d) in the box."""
        unit = unit_points(n, self.dim, generator, sampler)
        lower = torch.tensor(self.lower, dtype=torch.float64)
        upper = torch.tensor(self.upper, dtype=torch.float64)
        return (lower + unit * (upper - lower)).to(dtype)

    def sample_faces(
        self,
        n: int,
        faces: Sequence[Face],
        generator: torch.Generator,
        sampler: Sampler = "uniform",
        dtype: torch.dtype = torch.float64,
    ) -> torch.Tensor:
        """``n`` points (n, d) on ``faces``, spread in proportion to the faces' areas."""
        for j, side in faces:
            if not (0 <= j < self.dim and side in (0, 1)):
                raise ValueError(f"face ({j}, {side}): expected (coordinate < {self.dim}, 0 | 1)")
        if n < len(faces):
            raise ValueError(f"{n} points cannot cover {len(faces)} faces: ask for more")
        areas = torch.tensor([self._face_area(j) for j, _ in faces])
        counts = _apportion(n, areas)
        parts = []
        for (j, side), count in zip(faces, counts, strict=True):
            points = self.sample(count, generator, sampler, dtype)
            points[:, j] = (self.lower, self.upper)[side][j]
            parts.append(points)
        return torch.cat(parts)

    def grid(
        self, resolution: int | Sequence[int], dtype: torch.dtype = torch.float64
    ) -> tuple[torch.Tensor, tuple[int, ...]]:
        """Node grid with ``resolution`` points per axis, both ends included: returns the points
        (Π n_j, d) in C order (last coordinate fastest) and the shape."""
        shape = [resolution] * self.dim if isinstance(resolution, int) else list(resolution)
        axes = [
            torch.linspace(lo, hi, n, dtype=dtype)
            for lo, hi, n in zip(self.lower, self.upper, shape, strict=True)
        ]
        mesh = torch.meshgrid(*axes, indexing="ij")
        return torch.stack([m.reshape(-1) for m in mesh], 1), tuple(shape)

    def _face_area(self, j: int) -> float:
        area = 1.0
        for i, (lo, hi) in enumerate(zip(self.lower, self.upper, strict=True)):
            if i != j:
                area *= hi - lo
        return area


def unit_points(n: int, d: int, generator: torch.Generator, sampler: Sampler) -> torch.Tensor:
    """``n`` points (n, d) in the unit cube, float64, drawn by ``sampler``."""
    if sampler == "uniform":
        return torch.rand(n, d, generator=generator, dtype=torch.float64)
    if sampler == "sobol":
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
        engine = torch.quasirandom.SobolEngine(d, scramble=True, seed=seed)
        return engine.draw(n, dtype=torch.float64)
    if sampler == "lhs":
        strata = torch.stack([torch.randperm(n, generator=generator) for _ in range(d)], 1)
        jitter = torch.rand(n, d, generator=generator, dtype=torch.float64)
        return (strata + jitter) / n
    raise ValueError(f"sampler: expected one of {', '.join(SAMPLERS)}, got {sampler!r}")


def _apportion(n: int, weights: torch.Tensor) -> list[int]:
    """``n`` split in proportion to ``weights``, at least 1 each, summing to ``n`` exactly."""
    extra = n - len(weights)
    share = weights / weights.sum() * extra
    counts = share.floor().long()
    order = torch.argsort(share - counts, descending=True)
    counts[order[: extra - int(counts.sum())]] += 1
    return [int(c) + 1 for c in counts]
