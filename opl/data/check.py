"""``opl info --check``: the checks a training run makes of a dataset file, made up front.

A file passes when opl's readers open it (``DatasetFile``: roles, named dimensions, spatial
dimensions last and in order, their coordinates), its grid conventions are known (grid files), the
training readers take it (``GridFieldDataset`` or ``MeshGraphDataset``: input and output fields on
one grid or mesh), and every chunk of every complete sample reads back with finite values (the
samples that do not are listed: ``opl generate`` with the same config recomputes them). A
failure raises ``DatasetFileError`` naming it; incomplete samples are reported, not refused (a run
may use the complete ones).
"""

from __future__ import annotations

import os

import numpy as np

from data_gen.writer import open_for_reading, suspect_samples
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
        names = list(ds.fields)
    with open_for_reading(path) as file:
        suspect = suspect_samples(file, names, indices)
    if suspect:
        shown = ", ".join(map(str, list(suspect)[:10])) + (", ..." if len(suspect) > 10 else "")
        raise DatasetFileError(
            f"{path}: {len(suspect)} of {indices.size} samples marked complete do not read back "
            f"finite (damaged or never written: samples {shown}; {next(iter(suspect.values()))}"
            "); `opl generate` with the same config recomputes them"
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
