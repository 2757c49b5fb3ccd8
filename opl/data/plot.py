"""PNG pictures of dataset samples (``opl plot``): each field of one sample, side by side.

2-D fields are drawn as images over (x, y); a field with a ``t`` or ``component`` dimension shows
its first and last slices; 1-D fields are drawn as curves (one per slice).
"""

from __future__ import annotations

import os

import numpy as np

from data_gen.errors import DatasetFileError
from opl.data.dataset_file import DatasetFile, FieldInfo
from opl.data.grid_dataset import SPATIAL_DIMS


def plot_sample(path: str | os.PathLike, index: int, output: str | os.PathLike) -> str:
    """Draw sample ``index`` of the dataset ``path`` into the PNG ``output``; return its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with DatasetFile(path) as ds:
        if not 0 <= index < ds.n_samples:
            raise DatasetFileError(
                f"{ds.path}: --sample must lie in [0, {ds.n_samples}), got {index}"
            )
        panels = []
        for info in ds.fields.values():
            values = ds.read(info.name, [index])[0]
            panels += _panels(ds, info, values)
        title = f"{os.path.basename(ds.path)}: {ds.attrs.get('pde', '')}, sample {index}"
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.4), squeeze=False)
    for ax, (label, coords, values) in zip(axes[0], panels, strict=True):
        if values.ndim == 2:
            x, y = coords
            image = ax.pcolormesh(x, y, values.T, shading="auto", cmap="viridis")
            fig.colorbar(image, ax=ax, shrink=0.8)
            ax.set_aspect("equal")
            ax.set_xlabel("x")
            ax.set_ylabel("y")
        else:
            ax.plot(coords[0], values.T)
            ax.set_xlabel("x")
        ax.set_title(label, fontsize=9)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(output, dpi=110)
    plt.close(fig)
    return os.fspath(output)


def _panels(ds: DatasetFile, info: FieldInfo, values: np.ndarray) -> list:
    """(label, spatial coordinates, values) for each picture of one field of one sample."""
    dims = info.dims[1:]
    spatial = [d for d in dims if d in SPATIAL_DIMS]
    coords = [ds.coordinate(d) for d in spatial]
    label = f"{info.name} ({info.role})"
    extra = [d for d in dims if d not in SPATIAL_DIMS]
    if not extra:
        return [(label, coords, values)]
    if len(spatial) == 1:  # curves: every slice in one panel
        return [(label, coords, values.reshape(-1, values.shape[-1]))]
    slices = values.reshape(-1, *values.shape[-len(spatial) :])
    names = _slice_names(ds, extra)
    picks = sorted({0, len(slices) - 1})
    return [(f"{label}, {names[i]}", coords, slices[i]) for i in picks]


def _slice_names(ds: DatasetFile, extra: list[str]) -> list[str]:
    """``t=0.5``, ``component=real``, ... for every slice of the non-spatial dimensions."""
    grids = np.meshgrid(*[ds.coordinate(d) for d in extra], indexing="ij")
    flat = [g.ravel() for g in grids]
    return [
        ", ".join(f"{d}={_short(col[i])}" for d, col in zip(extra, flat, strict=True))
        for i in range(flat[0].size)
    ]


def _short(value) -> str:
    return f"{value:.4g}" if isinstance(value, (float, np.floating)) else str(value)
