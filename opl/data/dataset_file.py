"""Reading an opl dataset file (docs/FORMAT.md) with h5py: metadata, fields and completed samples.

No torch here: ``opl info`` and other light tools use this module alone.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import h5py
import numpy as np
import yaml

from data_gen.writer import open_for_reading
from opl.errors import DatasetFileError
from opl.format import FORMAT_VERSION, GRID_CONVENTIONS, ROLES, SPATIAL_DIMS, convention_of

UNIFORM_TOLERANCE = 1e-6
"""Grid points may deviate from a uniform grid by this fraction of the spacing (float32 files)."""


@dataclass(frozen=True)
class GridAxis:
    """A spatial axis of a grid dataset: its points, their convention (``nodes``, ``cells`` or
    ``periodic``, see ``opl.format.GRID_CONVENTIONS``) and spacing."""

    name: str
    values: np.ndarray
    convention: str
    spacing: float


@dataclass(frozen=True)
class FieldInfo:
    """One field variable of a dataset file."""

    name: str
    role: str
    dims: tuple[str, ...]
    shape: tuple[int, ...]
    dtype: str
    units: str
    long_name: str
    element: str | None = None
    """The finite-element space of a field on a mesh (``P1``, ``P2``), else None."""


class DatasetFile:
    """An open opl dataset file; use as a context manager or call ``close``.

    Refuses files that are not HDF5, not opl datasets, or of a newer major format version, with a
    ``DatasetFileError`` naming the file. Files still being written (SWMR) can be read.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = os.fspath(path)
        if not os.path.exists(self.path):
            raise DatasetFileError(f"{self.path}: no such file")
        self._file = open_for_reading(self.path)
        try:
            self.attrs = {k: _plain(v) for k, v in self._file.attrs.items()}
            _check_format(self.path, self.attrs)
            if "complete" not in self._file:
                raise DatasetFileError(f"{self.path}: opl dataset without a 'complete' variable")
            self.fields = {
                name: _field_info(name, var)
                for name, var in self._file.items()
                if isinstance(var, h5py.Dataset) and "role" in var.attrs
            }
            for info in self.fields.values():
                _check_field(self.path, info, self._file)
        except BaseException:
            self._file.close()
            raise

    @property
    def n_samples(self) -> int:
        return int(self._file["complete"].shape[0])

    def complete(self) -> np.ndarray:
        """Boolean mask of the samples that are fully written."""
        flags = self._file["complete"]
        if self._file.swmr_mode:
            flags.refresh()  # see samples written since the file was opened
        return flags[:] == 1

    def coordinate(self, name: str) -> np.ndarray:
        """The values of coordinate variable ``name`` (e.g. ``x``, ``t``)."""
        if name not in self._file:
            raise DatasetFileError(f"{self.path}: no coordinate {name!r}")
        values = self._file[name][:]
        return values.astype(str) if values.dtype.kind in "OS" else values

    def dims(self) -> dict[str, int]:
        """Size of every dimension used by the fields, ``sample`` first."""
        out = {"sample": self.n_samples}
        for info in self.fields.values():
            out.update(zip(info.dims[1:], info.shape[1:], strict=True))
        return out

    def read(
        self, name: str, indices: slice | np.ndarray | list[int], stride: int = 1
    ) -> np.ndarray:
        """Samples ``indices`` of field ``name``; every requested sample must be complete.

        ``stride`` > 1 reads every ``stride``-th point along the spatial dimensions (``x``,
        ``y``, ``z``) only, straight from the file (no full-resolution copy in memory).
        """
        if name not in self.fields:
            known = ", ".join(self.fields)
            raise DatasetFileError(f"{self.path}: no field {name!r}; the file has: {known}")
        flags = self.complete()[indices]
        if not np.all(flags):
            missing = np.arange(self.n_samples)[indices][~flags]
            raise DatasetFileError(
                f"{self.path}: samples {_ranges(missing)} are not written yet "
                "(an interrupted run? rerun `opl generate` with the same config to finish it)"
            )
        region = tuple(
            slice(None, None, stride) if d in SPATIAL_DIMS else slice(None)
            for d in self.fields[name].dims[1:]
        )
        return self._file[name][(indices, *region)]

    def grid(self) -> list[GridAxis]:
        """The spatial axes (``x``, ``y``, ``z``) the fields use, in order, with the convention
        of each: its coordinate's ``grid`` attribute, or else read off its values, which must
        then span the unit interval as one of the conventions does."""
        used = [d for d in SPATIAL_DIMS if any(d in f.dims for f in self.fields.values())]
        return [self._axis(d) for d in used]

    def _axis(self, name: str) -> GridAxis:
        values = np.asarray(self._file[name][:], dtype=np.float64)
        where = f"{self.path}: coordinate {name!r}"
        if values.ndim != 1 or values.size < 2:
            raise DatasetFileError(f"{where}: expected at least 2 points, got shape {values.shape}")
        steps = np.diff(values)
        spacing = float(steps.mean())
        if spacing <= 0 or np.abs(steps - spacing).max() > UNIFORM_TOLERANCE * spacing:
            raise DatasetFileError(f"{where}: expected uniformly increasing points")
        declared = _plain(self._file[name].attrs.get("grid"))
        if declared is None:
            declared = convention_of(values)
            if declared is None:
                raise DatasetFileError(
                    f"{where}: points {values[0]:g} ... {values[-1]:g} (spacing {spacing:g}) do "
                    "not say which grid they are; set its attribute grid to one of "
                    + ", ".join(GRID_CONVENTIONS)
                )
        elif declared not in GRID_CONVENTIONS:
            raise DatasetFileError(
                f"{where}: grid {declared!r}; expected one of {', '.join(GRID_CONVENTIONS)}"
            )
        return GridAxis(name, values, declared, spacing)

    def has(self, name: str) -> bool:
        """Whether the file has a variable ``name``."""
        return name in self._file

    def variable(self, name: str) -> np.ndarray:
        """All values of a variable written once (a coordinate, the mesh, ...)."""
        if name not in self._file:
            raise DatasetFileError(f"{self.path}: no variable {name!r}")
        return self._file[name][()]

    def flag_meanings(self, name: str) -> list[str]:
        """The names of the flag values 0, 1, ... of a flag variable (e.g. boundary tags)."""
        return str(_plain(self._file[name].attrs["flag_meanings"])).split()

    def select_fields(self, names: Sequence[str] | None, role: str) -> list[FieldInfo]:
        """The fields ``names``, or by default every field whose role is ``role``."""
        if names is None:
            chosen = [f for f in self.fields.values() if f.role == role]
            if not chosen:
                raise DatasetFileError(f"{self.path}: no field has role {role!r}; name the fields")
            return chosen
        missing = [n for n in names if n not in self.fields]
        if missing:
            known = ", ".join(self.fields)
            raise DatasetFileError(f"{self.path}: no field {missing[0]!r}; the file has: {known}")
        return [self.fields[n] for n in names]

    def checked_indices(self, indices: Sequence[int] | range | None) -> np.ndarray:
        """``indices`` (default: all samples) as an array, each in range and complete."""
        chosen = (
            np.arange(self.n_samples) if indices is None else np.asarray(indices, dtype=np.int64)
        )
        if chosen.size and (chosen.min() < 0 or chosen.max() >= self.n_samples):
            raise DatasetFileError(
                f"{self.path}: sample indices must lie in [0, {self.n_samples}), got "
                f"{chosen.min()}..{chosen.max()}"
            )
        complete = self.complete()[chosen]
        if not np.all(complete):
            first = int(chosen[~complete][0])
            raise DatasetFileError(
                f"{self.path}: sample {first} (and {int((~complete).sum()) - 1} more of those "
                "requested) is not written yet; finish the file with `opl generate`"
            )
        return chosen

    def generator_config(self) -> dict[str, Any]:
        """The full config the file was generated with."""
        return yaml.safe_load(self.attrs.get("generator_config", "{}"))

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> DatasetFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _check_format(path: str, attrs: dict[str, Any]) -> None:
    version = attrs.get("opl_format")
    if version is None:
        raise DatasetFileError(
            f"{path}: not an opl dataset (no 'opl_format' attribute); "
            "expected a file written by `opl generate` (see docs/FORMAT.md)"
        )
    major = str(version).split(".")[0]
    if major != FORMAT_VERSION.split(".")[0]:
        raise DatasetFileError(
            f"{path}: dataset format {version} is not readable by this opl "
            f"(it reads format {FORMAT_VERSION.split('.')[0]}.x); upgrade opl"
        )


def _check_field(path: str, info: FieldInfo, file: h5py.File) -> None:
    """Refuse a field training would trip over: an unknown role, a dimension without a name (no
    dimension scale), ``sample`` not first, spatial dimensions out of order or not last, or one
    without its coordinate variable."""
    where = f"{path}: field {info.name!r}"
    if info.role not in ROLES:
        raise DatasetFileError(
            f"{where}: role {info.role!r}; expected one of {', '.join(ROLES)} (docs/FORMAT.md)"
        )
    unnamed = [i for i, d in enumerate(info.dims) if d.startswith("dim") and d not in file]
    if unnamed:
        raise DatasetFileError(
            f"{where}: dimension {unnamed[0]} has no name (no HDF5 dimension scale); write the "
            "file with opl.data.write_dataset, xarray or h5netcdf (docs/FORMAT.md)"
        )
    if info.dims[:1] != ("sample",):
        raise DatasetFileError(f"{where}: dims {info.dims}; expected 'sample' first")
    spatial = [d for d in info.dims if d in SPATIAL_DIMS]
    if spatial != [d for d in SPATIAL_DIMS if d in spatial] or (
        spatial and list(info.dims[-len(spatial) :]) != spatial
    ):
        raise DatasetFileError(
            f"{where}: dims {info.dims}; expected the spatial dims last and in the order "
            f"{', '.join(d for d in SPATIAL_DIMS if d in spatial)} (transpose the array)"
        )
    for dim in spatial:
        if not _is_coordinate(file, dim):
            raise DatasetFileError(
                f"{where}: no coordinate variable {dim!r} (the positions of its grid points)"
            )


def _is_coordinate(file: h5py.File, name: str) -> bool:
    """Whether ``name`` is a 1-D variable with values: not missing, not a netCDF dimension
    without a variable (h5netcdf's marker), not a dataset whose values were never written."""
    var = file.get(name)
    if not isinstance(var, h5py.Dataset) or var.ndim != 1:
        return False
    if str(_plain(var.attrs.get("NAME", ""))).startswith("This is a netCDF dimension but not"):
        return False
    return var.id.get_storage_size() > 0


def _field_info(name: str, var: h5py.Dataset) -> FieldInfo:
    dims = tuple(d[0].name.lstrip("/") if len(d) else f"dim{i}" for i, d in enumerate(var.dims))
    return FieldInfo(
        name=name,
        role=_plain(var.attrs["role"]),
        dims=dims,
        shape=tuple(var.shape),
        dtype=str(var.dtype),
        units=_plain(var.attrs.get("units", "1")),
        long_name=_plain(var.attrs.get("long_name", name)),
        element=_plain(var.attrs["element"]) if "element" in var.attrs else None,
    )


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray) and value.size == 1:
        return _plain(value.reshape(()).item())
    if isinstance(value, np.generic):
        return value.item()
    return value


def _ranges(indices: np.ndarray) -> str:
    """``[0, 1, 2, 5]`` -> ``"0-2, 5"`` (at most five ranges shown)."""
    parts: list[str] = []
    start = prev = None
    for i in list(indices) + [None]:
        if start is not None and (i is None or i != prev + 1):
            parts.append(str(start) if start == prev else f"{start}-{prev}")
            start = None
        if i is not None and start is None:
            start = i
        prev = i
    return ", ".join(parts[:5]) + (", ..." if len(parts) > 5 else "")


class PerProcessFile:
    """Mixin of datasets that read ``self.path`` lazily: one ``DatasetFile`` per process, so
    DataLoader workers (forked or spawned) each open their own h5py handle."""

    path: str
    _file: DatasetFile | None = None
    _pid: int | None = None

    def _open(self) -> DatasetFile:
        if self._file is None or self._pid != os.getpid():
            self._file = DatasetFile(self.path)
            self._pid = os.getpid()
        return self._file

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_file"] = None  # h5py handles do not cross process boundaries
        return state
