"""Writing data made elsewhere in opl's dataset format (docs/FORMAT.md): ``write_dataset``.

The file is written by the one writer of the format (``data_gen.writer``), so it is exactly what
``opl generate`` writes: named dimensions with coordinates, one chunk per sample, roles and units,
``complete`` flags, and the global attribute ``generator = imported`` with a ``generator_config``
that records the source. Grid fields need coordinates for their spatial dimensions (``x``, ``y``,
``z``) and a grid convention (``nodes``, ``cells`` or ``periodic``), given or read off the
coordinates; mesh fields need the mesh (a scikit-fem ``MeshTri``) and their Lagrange space.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from data_gen.generator import Coordinate, FieldSpec, Layout
from data_gen.writer import DatasetWriter
from opl.errors import DatasetFileError, OplInputError
from opl.format import GRID_CONVENTIONS, MESH_DIMS, ROLES, SPATIAL_DIMS, convention_of, unit_grid

if TYPE_CHECKING:
    import skfem


@dataclass(frozen=True)
class Field:
    """One field to write: ``values`` of shape ``(n_samples, *shape of dims)``, its ``dims``
    (after ``sample``; spatial ones last, in the order x, y, z; ``node`` / ``p2_dof`` for P1 /
    P2 fields on a mesh), ``role`` (input, output, parameter, reference, prediction), and
    metadata."""

    values: np.ndarray
    dims: tuple[str, ...]
    role: str
    long_name: str = ""
    units: str = "1"


def write_dataset(
    path: str | os.PathLike,
    fields: Mapping[str, Field],
    coords: Mapping[str, np.ndarray] | None = None,
    grid: str | Mapping[str, str] | None = None,
    mesh: skfem.MeshTri | None = None,
    pde: str = "unknown",
    attrs: Mapping[str, str | float | int] | None = None,
    source: str = "",
    precision: str = "float32",
) -> str:
    """Write ``fields`` as a new opl dataset at ``path``; return the path.

    ``coords``: coordinate values by dimension name; spatial dimensions need them unless
    ``grid`` names their convention, and then get the points of that convention on [0, 1].
    ``grid``: the convention of every spatial axis, or one per axis name; without it each axis's
    convention is read off its coordinates (``nodes``: 0 ... 1, ``cells``: h/2 ... 1 - h/2,
    ``periodic``: 0 ... 1 - h), and an axis that fits none is refused. ``mesh``: the
    ``skfem.MeshTri`` of fields on ``node`` (P1) or ``p2_dof`` (P2). ``pde``, ``attrs`` (e.g.
    ``equation``, ``domain``, ``boundary_conditions``) and ``source`` (where the data came from)
    are recorded as global attributes. Every value must be finite. An existing file is refused.
    """
    path = os.fspath(path)
    if os.path.exists(path):
        raise DatasetFileError(f"{path}: exists; choose another output path or remove it")
    if not fields:
        raise OplInputError("fields: expected at least one field")
    if precision not in ("float32", "float64"):
        raise OplInputError(f"precision: {precision!r}; expected float32 or float64")
    arrays = {name: _checked(name, field) for name, field in fields.items()}
    counts = {name: values.shape[0] for name, values in arrays.items()}
    if len(set(counts.values())) != 1:
        raise OplInputError(f"fields: expected the same number of samples, got {counts}")
    n_samples = next(iter(counts.values()))
    sizes = _dimension_sizes(fields, arrays)
    coordinates = _coordinates(sizes, dict(coords or {}), grid)
    variables: tuple = ()
    specs = []
    for name, field in fields.items():
        element = next((MESH_DIMS[d] for d in field.dims if d in MESH_DIMS), None)
        extra = {}
        if element is not None:
            from data_gen.fem.ugrid import field_attrs

            if mesh is None:
                raise OplInputError(f"fields.{name}: on a mesh ({element}); pass mesh=")
            extra = field_attrs(element)
        specs.append(FieldSpec(name, field.dims, field.role, field.long_name or name,
                               field.units, extra))  # fmt: skip
    if mesh is not None:
        from data_gen.fem.ugrid import mesh_variables

        elements = tuple(sorted({s.attrs["element"] for s in specs if "element" in s.attrs}))
        variables = mesh_variables(mesh, elements or ("P1",))
    layout = Layout(tuple(coordinates), tuple(specs), dict(attrs or {}), variables)
    for spec in specs:
        if layout.shape(spec) != arrays[spec.name].shape[1:]:
            raise OplInputError(
                f"fields.{spec.name}: shape {arrays[spec.name].shape[1:]} per sample does not fit "
                f"its dims {spec.dims} on the mesh ({layout.shape(spec)})"
            )
    run_config = {
        "generator": {"class_path": "imported", "init_args": {"source": source or "python"}},
        "n_samples": n_samples,
        "precision": precision,
    }
    with DatasetWriter(path, layout, run_config, pde) as writer:
        for i in range(n_samples):
            writer.write(i, {name: values[i] for name, values in arrays.items()})
    return path


def _checked(name: str, field: Field) -> np.ndarray:
    values = np.asarray(field.values)
    where = f"fields.{name}"
    if field.role not in ROLES:
        raise OplInputError(f"{where}.role: {field.role!r}; expected one of {', '.join(ROLES)}")
    if np.iscomplexobj(values):
        raise OplInputError(
            f"{where}: complex values; store real and imaginary parts as a 'component' dimension"
        )
    if not np.issubdtype(values.dtype, np.number):
        raise OplInputError(f"{where}: expected numbers, got dtype {values.dtype}")
    if values.ndim != len(field.dims) + 1:
        raise OplInputError(
            f"{where}: {values.ndim} axes, expected 1 + {len(field.dims)} (sample, "
            + ", ".join(field.dims)
            + ")"
        )
    if len(set(field.dims)) != len(field.dims) or "sample" in field.dims:
        raise OplInputError(f"{where}.dims: {field.dims}; expected distinct names, not 'sample'")
    spatial = [d for d in field.dims if d in SPATIAL_DIMS]
    if spatial != [d for d in SPATIAL_DIMS if d in spatial] or (
        spatial and list(field.dims[-len(spatial) :]) != spatial
    ):
        raise OplInputError(
            f"{where}.dims: {field.dims}; expected the spatial dims last and in the order x, y, z "
            "(transpose the array)"
        )
    if not np.isfinite(values).all():
        raise OplInputError(f"{where}: non-finite values")
    return values


def _dimension_sizes(fields: Mapping[str, Field], arrays: dict) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for name, field in fields.items():
        for dim, size in zip(field.dims, arrays[name].shape[1:], strict=True):
            if dim in MESH_DIMS:
                continue  # sized by the mesh
            if sizes.setdefault(dim, size) != size:
                raise OplInputError(
                    f"fields.{name}: dimension {dim!r} has {size} points here and {sizes[dim]} "
                    "in another field"
                )
    return sizes


def _coordinates(
    sizes: dict[str, int], coords: dict[str, np.ndarray], grid: str | Mapping[str, str] | None
) -> list[Coordinate]:
    out = []
    for dim, size in sizes.items():
        values = coords.pop(dim, None)
        if dim in SPATIAL_DIMS:
            convention = grid.get(dim) if isinstance(grid, Mapping) else grid
            if values is None:
                if convention is None:
                    raise OplInputError(
                        f"coords.{dim}: missing; give the grid positions, or grid= one of "
                        + ", ".join(GRID_CONVENTIONS)
                    )
                values = unit_grid(size, convention)
            values = np.asarray(values, dtype=np.float64)
            convention = convention or convention_of(values)
            if convention is None:
                raise OplInputError(
                    f"coords.{dim}: points {values[0]:g} ... {values[-1]:g} are none of the "
                    f"grids on [0, 1]; pass grid= one of {', '.join(GRID_CONVENTIONS)}"
                )
            out.append(Coordinate(dim, values, f"{dim} coordinate", grid=convention))
        elif dim == "component":
            labels = np.asarray(values if values is not None else [str(i) for i in range(size)])
            out.append(Coordinate(dim, labels.astype(str), "component"))
        else:
            values = np.arange(size, dtype=np.float64) if values is None else np.asarray(values)
            out.append(Coordinate(dim, values, "time" if dim == "t" else dim))
        if len(out[-1].values) != size:
            raise OplInputError(
                f"coords.{dim}: {len(out[-1].values)} values for a dimension of {size}"
            )
    if coords:
        raise OplInputError(f"coords.{next(iter(coords))}: no field has that dimension")
    return out
