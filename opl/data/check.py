"""``opl info --check``: the checks a training run makes of a dataset file, made up front.

A file passes when opl's readers open it (``DatasetFile``: roles, named dimensions, spatial
dimensions last and in order, their coordinates), its grid conventions are known (grid files), the
training readers take it (``GridFieldDataset`` or ``MeshGraphDataset``: input and output fields on
one grid or mesh), and every chunk of every complete sample reads back with finite values. The first
failure raises ``DatasetFileError`` naming it; incomplete samples are reported, not refused (a run
may use the complete ones).
"""

from __future__ import annotations

import os

import numpy as np

from opl.data.dataset_file import DatasetFile
from opl.errors import DatasetFileError


def check_dataset(path: str | os.PathLike) -> list[str]:
    """Check ``path`` as above; the lines of its report (``DatasetFileError`` on a failure)."""
    path = os.fspath(path)
    with DatasetFile(path) as ds:
        mesh = ds.has("mesh_face_nodes")
        lines = []
        if not mesh:
            axes = ds.grid()
            lines.append(
                "grid         "
                + ", ".join(f"{a.name}: {a.convention}, {a.values.size} points" for a in axes)
            )
        complete = ds.complete()
        indices = np.flatnonzero(complete)
        for info in ds.fields.values():
            for i in indices:
                try:
                    values = ds.read(info.name, [int(i)])
                except (OSError, ValueError) as err:  # a damaged chunk (h5py's errors)
                    raise DatasetFileError(
                        f"{path}: field {info.name!r}, sample {i} cannot be read "
                        f"({' '.join(str(err).split())})"
                    ) from None
                if not np.isfinite(values).all():
                    raise DatasetFileError(
                        f"{path}: field {info.name!r}, sample {i} has non-finite values"
                    )
    _check_readers(path, mesh, indices)
    lines.append(f"read         every chunk of {indices.size} complete samples: finite")
    if indices.size < complete.size:
        lines.append(
            f"incomplete   {complete.size - indices.size} samples are not written yet; a split "
            "that includes them is refused (rerun `opl generate` to finish the file)"
        )
    return lines


def _check_readers(path: str, mesh: bool, indices: np.ndarray) -> None:
    """The training readers take the file: input and output fields on one grid or mesh."""
    if mesh:
        from opl.data.mesh_dataset import MeshGraphDataset

        MeshGraphDataset(path, indices=indices[:1])
    else:
        from opl.data.grid_dataset import GridFieldDataset

        GridFieldDataset(path, indices=indices[:1])
