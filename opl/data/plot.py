"""PNG pictures of dataset samples (``opl plot``): each field of one sample, side by side.

Grid fields over (x, y) are drawn as images, 1-D fields as curves, and fields on a finite-element
mesh with ``tripcolor`` on its triangles (P2 fields at their vertex dofs). A field with a ``t`` or
``component`` dimension shows its first and last slices; per-sample parameters are not drawn.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from opl.data.dataset_file import DatasetFile, FieldInfo
from opl.errors import DatasetFileError, require_extra
from opl.format import SPATIAL_DIMS


@dataclass(frozen=True)
class Panel:
    """One picture: ``kind`` is ``grid`` (coords x, y), ``curve`` (coords x) or ``mesh``
    (coords a matplotlib Triangulation)."""

    kind: str
    label: str
    coords: Any
    values: np.ndarray
    signed: bool = False
    """A signed quantity (an error): a diverging colour map centred on 0."""
    limits: tuple[float, float] | None = None
    """Colour limits shared with another panel (a prediction takes its truth's)."""


def plot_sample(path: str | os.PathLike, index: int, output: str | os.PathLike) -> str:
    """Draw sample ``index`` of the dataset ``path`` into the PNG ``output``; return its path.

    Every field gets its panels; a prediction ``<name>_prediction`` (``opl predict``'s files)
    is followed by its error against the truth ``<name>``, so that truth, prediction and error
    stand side by side."""
    matplotlib = require_extra("matplotlib", "plot", "opl plot")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.tri import Triangulation

    with DatasetFile(path) as ds:
        if not 0 <= index < ds.n_samples:
            raise DatasetFileError(
                f"{ds.path}: --sample must lie in [0, {ds.n_samples}), got {index}"
            )
        mesh = None
        if ds.has("mesh_face_nodes"):
            mesh = Triangulation(
                ds.variable("mesh_node_x"),
                ds.variable("mesh_node_y"),
                ds.variable("mesh_face_nodes"),
            )
        panels = []
        for info in ds.fields.values():
            values = ds.read(info.name, [index])[0]
            panels += _panels(ds, info, values, mesh)
            truth = info.name.removesuffix("_prediction")
            if info.role == "prediction" and truth in ds.fields:
                true_values = ds.read(truth, [index])[0]
                if info.element is not None:  # compare at the vertices (P2's first dofs)
                    vertices = slice(0, mesh.x.size)
                    values, true_values = values[..., vertices], true_values[..., vertices]
                limits = (float(true_values.min()), float(true_values.max()))
                own = len(_panels(ds, info, values, mesh))
                panels[-own:] = [dataclasses.replace(p, limits=limits) for p in panels[-own:]]
                error = values - true_values
                panels += [
                    Panel(p.kind, p.label.replace(f"{info.name} (prediction)", f"{truth} error"),
                          p.coords, p.values, signed=True)
                    for p in _panels(ds, info, error, mesh)
                ]  # fmt: skip
        title = f"{os.path.basename(ds.path)}: {ds.attrs.get('pde', '')}, sample {index}"
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.4), squeeze=False)
    for ax, panel in zip(axes[0], panels, strict=True):
        if panel.kind == "curve":
            ax.plot(panel.coords[0], panel.values.T)
        else:
            bound = float(np.abs(panel.values).max()) or 1.0
            colours: dict[str, Any] = (
                {"cmap": "RdBu_r", "vmin": -bound, "vmax": bound}
                if panel.signed
                else {"cmap": "viridis"}
            )
            if panel.limits is not None:
                colours["vmin"], colours["vmax"] = panel.limits
            if panel.kind == "grid":
                x, y = panel.coords
                image = ax.pcolormesh(x, y, panel.values.T, shading="auto", **colours)
            else:
                image = ax.tripcolor(panel.coords, panel.values, shading="gouraud", **colours)
            fig.colorbar(image, ax=ax, shrink=0.8)
            ax.set_aspect("equal")
            ax.set_ylabel("y")
        ax.set_xlabel("x")
        ax.set_title(panel.label, fontsize=9)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(output, dpi=110)
    plt.close(fig)
    return os.fspath(output)


def _panels(ds: DatasetFile, info: FieldInfo, values: np.ndarray, mesh: Any) -> list[Panel]:
    """The pictures of one field of one sample."""
    dims = info.dims[1:]
    label = f"{info.name} ({info.role})"
    if info.element is not None:  # on the mesh: the last dimension holds the dofs
        slices = values.reshape(-1, values.shape[-1])[:, : mesh.x.size]
        return _first_and_last(
            ds, dims[:-1], slices, lambda name, v: Panel("mesh", name, mesh, v), label
        )
    spatial = [d for d in dims if d in SPATIAL_DIMS]
    if not spatial:
        return []
    coords = [ds.coordinate(d) for d in spatial]
    extra = [d for d in dims if d not in SPATIAL_DIMS]
    if len(spatial) == 1:  # curves: every slice in one panel
        return [Panel("curve", label, coords, values.reshape(-1, values.shape[-1]))]
    slices = values.reshape(-1, *values.shape[-len(spatial) :])
    return _first_and_last(ds, extra, slices, lambda name, v: Panel("grid", name, coords, v), label)


def _first_and_last(ds: DatasetFile, extra: tuple | list, slices: np.ndarray, make, label: str):
    """Panels of the first and last slice along the non-spatial dimensions ``extra``."""
    if not extra:
        return [make(label, slices[0])]
    names = _slice_names(ds, list(extra))
    return [make(f"{label}, {names[i]}", slices[i]) for i in sorted({0, len(slices) - 1})]


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
