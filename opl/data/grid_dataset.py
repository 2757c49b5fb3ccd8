"""Torch view of a grid dataset file: (input, output) tensors shaped ``(channels, *spatial)``.

Spatial dimensions are ``x``, ``y`` and ``z``; every other dimension of a field (``t``,
``component``) is folded into channels, in the field's dimension order, and the fields of a group
are concatenated along channels. Samples are read lazily, one at a time, from a file handle opened
in each process that reads (so DataLoader workers work), and only complete samples may be used.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from opl.data.dataset_file import DatasetFile, FieldInfo, PerProcessFile
from opl.errors import DatasetFileError
from opl.format import SPATIAL_DIMS


class GridFieldDataset(PerProcessFile, Dataset):
    """Samples ``indices`` of a grid dataset as ``(input, output)`` float tensors.

    ``inputs`` / ``outputs`` name the fields of each group (default: the fields whose role is
    ``input`` / ``output``). ``indices`` default to all samples; each must be complete.
    ``stride`` > 1 serves every ``stride``-th grid point (read so from the file).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        inputs: Sequence[str] | None = None,
        outputs: Sequence[str] | None = None,
        indices: Sequence[int] | range | None = None,
        dtype: torch.dtype = torch.float32,
        stride: int = 1,
    ) -> None:
        self.path = os.fspath(path)
        self.dtype = dtype
        self.stride = stride
        with DatasetFile(self.path) as ds:
            self.inputs = ds.select_fields(inputs, "input")
            self.outputs = ds.select_fields(outputs, "output")
            self.indices = ds.checked_indices(indices)
            full = _spatial_shape(self.path, self.inputs + self.outputs)
        self.spatial_shape = tuple(len(range(0, n, stride)) for n in full)
        points = int(np.prod(full))
        self.in_channels = sum(int(np.prod(f.shape[1:])) // points for f in self.inputs)
        self.out_channels = sum(int(np.prod(f.shape[1:])) // points for f in self.outputs)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, item: int) -> tuple[torch.Tensor, torch.Tensor]:
        ds = self._open()
        index = int(self.indices[item])
        return self._stack(ds, self.inputs, index), self._stack(ds, self.outputs, index)

    def _stack(self, ds: DatasetFile, fields: list[FieldInfo], index: int) -> torch.Tensor:
        parts = [
            ds.read(f.name, [index], self.stride)[0].reshape(-1, *self.spatial_shape)
            for f in fields
        ]
        return torch.from_numpy(np.concatenate(parts).astype(np.float64)).to(self.dtype)


def _spatial_shape(path: str, fields: list[FieldInfo]) -> tuple[int, ...]:
    """The common spatial shape of ``fields`` (their trailing spatial dims, as ``DatasetFile``
    checks)."""
    shapes = set()
    for f in fields:
        spatial = [d for d in f.dims if d in SPATIAL_DIMS]
        if not spatial:
            raise DatasetFileError(
                f"{path}: field {f.name!r} has dims {f.dims}; expected grid dims (x, y, z)"
            )
        shapes.add(f.shape[-len(spatial) :])
    if len(shapes) != 1:
        raise DatasetFileError(
            f"{path}: the chosen fields live on different grids {sorted(shapes)}"
        )
    return shapes.pop()
