"""The tensor files of ``opl_infer`` (main.cpp): int64 rank, int64 sizes[rank], float32 values in
C order, little-endian. ``write(path, array)`` and ``read(path) -> array``."""

from __future__ import annotations

import numpy as np


def write(path: str, array: np.ndarray) -> None:
    """Write ``array`` (cast to float32) as a tensor file."""
    values = np.ascontiguousarray(array, dtype="<f4")
    with open(path, "wb") as f:
        f.write(np.array([values.ndim, *values.shape], dtype="<i8").tobytes())
        f.write(values.tobytes())


def read(path: str) -> np.ndarray:
    """The float32 array of a tensor file."""
    with open(path, "rb") as f:
        rank = int(np.frombuffer(f.read(8), dtype="<i8")[0])
        shape = tuple(np.frombuffer(f.read(8 * rank), dtype="<i8"))
        return np.frombuffer(f.read(), dtype="<f4").reshape(shape)
