"""``opl import``: datasets of other tools in opl's format (``data_gen.imported.write_dataset``).

Sources, by file type (``--format`` overrides the guess):

* ``npz`` (numpy) and ``pt`` (torch, read with ``weights_only=True``): a mapping of arrays, one per
  field, each ``(n_samples, *dims)``; ``--input-fields`` / ``--output-fields`` name the fields
  of each role,
  ``--dims`` names the dimensions after ``sample`` (default: the last 1-3 are ``x``, ``y``,
  ``z``), and 1-D arrays named ``x``, ``y``, ``z`` (or ``t``) are taken as coordinates.
* ``netcdf`` (anything xarray opens): variables with named dimensions; the first dimension of
  the chosen fields is the sample one; ``--rename old=new`` maps other dimension names onto opl's
  (``x``, ``y``, ``z``, ``t``, ``component``); coordinates come along.
* ``pdebench`` (PDEBench's HDF5 layouts): ``tensor`` (N, T, *spatial) with ``x-coordinate``
  (``y-coordinate``) and ``t-coordinate``: the input is the first snapshot, the output the
  others; Darcy's ``nu`` (N, *spatial) -> ``tensor`` (N, 1, *spatial); or one group per sample
  (``0000``, ``0001``, ...) holding ``data`` (T, *spatial, C) and ``grid/{x,y,z,t}`` (the 2-D
  diffusion-reaction, shallow-water and Navier-Stokes sets): the C variables become a
  ``component`` dimension, the first snapshot the input, the others the output.
* ``well`` (The Well's HDF5 layout): the fields of ``t0_fields`` (scalars, (N, T, *spatial)) and
  ``t1_fields`` (vectors, (N, T, *spatial, d)) with ``dimensions/{x,y,time}``: the input is each
  field at the first time, the output the later times.

Every spatial axis needs a grid convention: given with ``--grid`` or read off the coordinates
(``nodes`` 0 ... 1, ``cells`` h/2 ... 1 - h/2, ``periodic`` 0 ... 1 - h).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from data_gen.imported import Field, write_dataset
from opl.errors import DatasetFileError, OplInputError
from opl.format import SPATIAL_DIMS

FORMATS = ("npz", "pt", "netcdf", "pdebench", "well")
EXTENSIONS = {".npz": "npz", ".pt": "pt", ".pth": "pt", ".nc": "netcdf", ".nc4": "netcdf"}


@dataclass
class Source:
    """What a reader found: fields, coordinates and attributes to write."""

    fields: dict[str, Field]
    coords: dict[str, np.ndarray] = field(default_factory=dict)
    pde: str = "unknown"


@dataclass(frozen=True)
class ImportOptions:
    """The user's choices (``opl import`` flags)."""

    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    dims: tuple[str, ...] | None = None
    rename: dict[str, str] = field(default_factory=dict)
    grid: str | None = None
    pde: str | None = None


def import_dataset(
    source: str, output: str, fmt: str | None = None, options: ImportOptions | None = None
) -> str:
    """Write the dataset file ``output`` from ``source`` (see the module docstring)."""
    options = options or ImportOptions()
    if not os.path.exists(source):
        raise DatasetFileError(f"{source}: no such file")
    fmt = fmt or guess_format(source)
    readers = {
        "npz": _read_arrays,
        "pt": _read_arrays,
        "netcdf": _read_netcdf,
        "pdebench": _read_pdebench,
        "well": _read_well,
    }
    found = readers[fmt](source, fmt, options)
    return write_dataset(
        output,
        found.fields,
        found.coords,
        grid=options.grid,
        pde=options.pde or found.pde,
        source=f"{fmt}: {os.path.abspath(source)}",
    )


def guess_format(path: str) -> str:
    """The format of ``path`` from its extension, or, for HDF5, from its layout."""
    extension = os.path.splitext(path)[1].lower()
    if extension in EXTENSIONS:
        return EXTENSIONS[extension]
    import h5py

    try:
        with h5py.File(path, "r") as f:
            if "tensor" in f or _sample_groups(f):
                return "pdebench"
            if "t0_fields" in f and "dimensions" in f:
                return "well"
            if "opl_format" in f.attrs:
                raise DatasetFileError(f"{path}: an opl dataset already; nothing to import")
    except OSError:
        pass
    return "netcdf"


def _roles(names: list[str], options: ImportOptions, where: str) -> dict[str, str]:
    """Field name -> role, from ``--input`` / ``--output``, which must name existing arrays."""
    if not options.inputs or not options.outputs:
        raise OplInputError(
            f"{where}: name the fields with --input-fields NAME and --output-fields NAME (it has: "
            f"{', '.join(names)})"
        )
    roles = {**{n: "input" for n in options.inputs}, **{n: "output" for n in options.outputs}}
    missing = [n for n in roles if n not in names]
    if missing:
        raise OplInputError(f"{where}: no array {missing[0]!r}; it has: {', '.join(names)}")
    return roles


def _read_arrays(path: str, fmt: str, options: ImportOptions) -> Source:
    if fmt == "npz":
        try:
            with np.load(path, allow_pickle=False) as archive:
                arrays = {k: archive[k] for k in archive.files}
        except (ValueError, OSError) as err:
            raise DatasetFileError(f"{path}: not a readable .npz file ({err})") from None
    else:
        import torch

        try:
            loaded = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # torch raises many types for other files
            raise DatasetFileError(
                f"{path}: not a .pt file of tensors ({' '.join(str(err).split())[:200]})"
            ) from None
        if not isinstance(loaded, dict):
            raise DatasetFileError(
                f"{path}: expected a dict of tensors, got {type(loaded).__name__}"
            )
        arrays = {k: np.asarray(v.detach().cpu().numpy() if hasattr(v, "numpy") else v)
                  for k, v in loaded.items()}  # fmt: skip
    coords = {
        k: np.asarray(v, dtype=np.float64)
        for k, v in arrays.items()
        if k in (*SPATIAL_DIMS, "t") and np.ndim(v) == 1
    }
    roles = _roles([k for k in arrays if k not in coords], options, path)
    fields = {}
    for name, role in roles.items():
        values = arrays[name]
        dims = options.dims or _default_dims(values.ndim - 1, f"{path}: array {name!r}")
        if len(dims) != values.ndim - 1:
            raise OplInputError(
                f"--dims: {len(dims)} names for array {name!r} of shape {values.shape} (expected "
                f"{values.ndim - 1} after the sample axis)"
            )
        fields[name] = Field(values, tuple(dims), role)
    return Source(fields, coords)


def _default_dims(count: int, where: str) -> tuple[str, ...]:
    if not 1 <= count <= 3:
        raise OplInputError(
            f"{where}: {count} axes after the sample axis; name them with --dims (e.g. t x y)"
        )
    return SPATIAL_DIMS[:count]


def _read_netcdf(path: str, fmt: str, options: ImportOptions) -> Source:
    import xarray as xr

    try:
        dataset = xr.open_dataset(path)
    except Exception as err:  # xarray raises many types for unreadable files
        raise DatasetFileError(
            f"{path}: not a file xarray opens ({' '.join(str(err).split())[:200]})"
        ) from None
    with dataset:
        roles = _roles(list(dataset.data_vars), options, path)
        fields, coords = {}, {}
        for name, role in roles.items():
            var = dataset[name]
            sample, *rest = var.dims
            dims = tuple(options.rename.get(d, d) for d in rest)
            fields[name] = Field(var.values, dims, role, var.attrs.get("long_name", ""),
                                 str(var.attrs.get("units", "1")))  # fmt: skip
            for original, renamed in zip(rest, dims, strict=True):
                if original in dataset.coords and renamed not in coords:
                    coords[renamed] = dataset.coords[original].values
        return Source(fields, coords, str(dataset.attrs.get("pde", "unknown")))


def _sample_groups(f) -> list[str]:
    """The names of PDEBench's per-sample groups (``0000``, ...) of an open HDF5 file, sorted."""
    import h5py

    names = sorted(k for k in f if k.isdigit() and isinstance(f[k], h5py.Group))
    return names if names and "data" in f[names[0]] else []


def _read_pdebench_groups(path: str, f) -> Source:
    """One group per sample: ``data`` (T, *spatial, C), ``grid/{x,y,z}`` and ``grid/t``."""
    names = _sample_groups(f)
    first = f[names[0]]
    spatial = tuple(axis for axis in SPATIAL_DIMS if f"grid/{axis}" in first)
    shape = first["data"].shape
    if len(shape) != 2 + len(spatial) or shape[0] < 2:
        raise DatasetFileError(
            f"{path}: {names[0]}/data of shape {shape}; expected (T >= 2, "
            + ", ".join(spatial)
            + ", C) for the grid axes its grid/ names"
        )
    data = np.empty((len(names), *shape), dtype=first["data"].dtype)
    for i, name in enumerate(names):
        if f[name]["data"].shape != shape:
            raise DatasetFileError(
                f"{path}: {name}/data has shape {f[name]['data'].shape}, {names[0]}/data {shape}"
            )
        data[i] = f[name]["data"][()]
    coords = {axis: first[f"grid/{axis}"][()] for axis in spatial}
    times = first["grid/t"][()] if "grid/t" in first else np.arange(shape[0])
    channels_first = np.moveaxis(data, -1, 2)  # (N, T, C, *spatial)
    fields = {
        "initial": Field(channels_first[:, 0], ("component", *spatial), "input", "initial state"),
        "solution": Field(
            channels_first[:, 1:], ("t", "component", *spatial), "output", "later snapshots"
        ),
    }
    return Source(fields, {**coords, "t": np.asarray(times[1 : shape[0]], float)})


def _read_pdebench(path: str, fmt: str, options: ImportOptions) -> Source:
    import h5py

    with h5py.File(path, "r") as f:
        if _sample_groups(f):
            return _read_pdebench_groups(path, f)
        if "tensor" not in f:
            raise DatasetFileError(
                f"{path}: not a PDEBench file (no 'tensor' dataset and no per-sample groups "
                "'0000', ... holding 'data')"
            )
        tensor = f["tensor"][()]
        coords = {
            axis: f[f"{axis}-coordinate"][()] for axis in SPATIAL_DIMS if f"{axis}-coordinate" in f
        }
        spatial = tuple(coords)
        if tensor.ndim != 2 + len(spatial):
            raise DatasetFileError(
                f"{path}: tensor of shape {tensor.shape}; expected (N, T, "
                + ", ".join(spatial)
                + ")"
            )
        if "nu" in f:  # Darcy: coefficient -> steady solution
            fields = {
                "nu": Field(f["nu"][()], spatial, "input", "diffusion coefficient"),
                "solution": Field(tensor[:, 0], spatial, "output", "solution"),
            }
            return Source(fields, coords, "darcy")
        if tensor.shape[1] < 2:
            raise DatasetFileError(f"{path}: tensor has {tensor.shape[1]} snapshot; expected >= 2")
        times = f["t-coordinate"][()] if "t-coordinate" in f else np.arange(tensor.shape[1])
    fields = {
        "initial": Field(tensor[:, 0], spatial, "input", "initial condition"),
        "solution": Field(tensor[:, 1:], ("t", *spatial), "output", "later snapshots"),
    }
    return Source(fields, {**coords, "t": np.asarray(times[1 : tensor.shape[1]], float)})


def _read_well(path: str, fmt: str, options: ImportOptions) -> Source:
    import h5py

    with h5py.File(path, "r") as f:
        names = [str(n) for n in np.atleast_1d(f["dimensions"].attrs.get("spatial_dims", []))]
        spatial = tuple(n.decode() if isinstance(n, bytes) else n for n in names)
        if not spatial or any(axis not in SPATIAL_DIMS for axis in spatial):
            raise DatasetFileError(
                f"{path}: dimensions.spatial_dims {spatial}; expected some of x, y, z"
            )
        coords = {axis: f["dimensions"][axis][()] for axis in spatial}
        times = f["dimensions"]["time"][()]
        fields = {}
        for group, vector in (("t0_fields", False), ("t1_fields", True)):
            for name, var in f.get(group, {}).items():
                values = var[()]
                if vector:  # (N, T, *spatial, d) -> (N, T, d, *spatial)
                    values = np.moveaxis(values, -1, 2)
                dims = ("component", *spatial) if vector else spatial
                fields[f"{name}_0"] = Field(values[:, 0], dims, "input", f"{name} at t0")
                fields[name] = Field(values[:, 1:], ("t", *dims), "output", name)
        if not fields:
            raise DatasetFileError(f"{path}: no fields in t0_fields or t1_fields")
        pde = f.attrs.get("dataset_name", "unknown")
    pde = pde.decode() if isinstance(pde, bytes) else str(pde)
    return Source(fields, {**coords, "t": np.asarray(times[1:], float)}, pde)
