"""The one writer of the opl dataset format (specified in docs/FORMAT.md).

A file is created whole -- every variable at its final size, nothing written yet -- under a
temporary name and renamed into place, so it either exists with its full layout or not at all.
Samples are then written in HDF5's single-writer/multiple-reader (SWMR) mode: each sample's
variables are written and flushed, and only then its ``complete`` flag is set and flushed, so a
reader never sees a half-written sample and a writer killed at any instant leaves a consistent
file. Reopening such a file resumes it: the run's config must be the one stored in the file, every
sample marked complete is read back (a sample that does not read, or reads non-finite values --
the writer stores finite values only -- lost its data to a crash or a full disk, and is computed
again), and only samples whose flag is unset are computed. A write that fails (a full disk, an
I/O error) stops the run with one ``DatasetFileError``, the sample unmarked and the ones before
it intact; so does too little free space for the next sample, checked before writing it. A hidden
lock file (``.<name>.lock`` beside it) keeps two writers off the same file.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import platform
import shutil
from typing import Any

import h5netcdf
import h5py
import numpy as np
import yaml

from data_gen.generator import Layout
from data_gen.superblock import clear_write_flags
from opl.errors import DatasetFileError, SolverError
from opl.format import FORMAT_VERSION

COMPRESSION_LEVEL = 4
"""gzip level of every field (with the shuffle filter): a good size/speed balance for floats."""


def software_versions() -> dict[str, str]:
    """Versions of the software that wrote a file, stored with it for provenance."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for package in ("opl", "numpy", "scipy", "h5py", "h5netcdf"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = "unknown"
    out["hdf5"] = h5py.version.hdf5_version
    return out


class DatasetWriter:
    """Writes the samples of one dataset file, creating or resuming it.

    ``run_config`` is the canonical run configuration (generator section, ``n_samples``, ``seed``,
    ``precision``); a file that exists must hold exactly this config, else nothing is touched and
    ``DatasetFileError`` says what differs.
    """

    def __init__(self, path: str, layout: Layout, run_config: dict[str, Any], pde: str) -> None:
        self.path = os.fspath(path)
        self.layout = layout
        directory = os.path.dirname(os.path.abspath(self.path))
        try:
            os.makedirs(directory, exist_ok=True)
        except OSError as err:
            raise DatasetFileError(f"{self.path}: cannot create its folder ({err})") from None
        self._lock = _acquire_lock(self.path)
        try:
            resuming = os.path.exists(self.path)
            if resuming:
                _check_resumable(self.path, run_config)
                clear_write_flags(self.path)
            else:
                _create(self.path, layout, run_config, pde)
            self._file = h5py.File(self.path, "r+", libver="latest")
            self._complete = self._file["complete"]
            if resuming:
                self.recomputed = self._unmark_suspect_samples()
            self._file.swmr_mode = True
        except BaseException:
            self._release_lock()
            raise

    recomputed: dict[int, str] = {}
    """Samples marked complete that did not read back finite when the file was reopened; their
    flags were cleared, so they are computed again."""

    def _unmark_suspect_samples(self) -> dict[int, str]:
        done = np.flatnonzero(self._complete[:] == 1)
        names = [spec.name for spec in self.layout.fields]
        suspect = suspect_samples(self._file, names, done)
        for index in suspect:
            self._complete[index] = 0
        self._file.flush()
        return suspect

    def pending(self) -> list[int]:
        """Indices of the samples not written yet, in increasing order."""
        return np.flatnonzero(self._complete[:] == 0).tolist()

    def write(self, index: int, sample: dict[str, np.ndarray]) -> None:
        """Write sample ``index`` (one array per field of the layout), then mark it complete."""
        arrays = []
        for spec in self.layout.fields:
            if spec.name not in sample:
                raise ValueError(f"sample {index}: the generator returned no field {spec.name!r}")
            values = np.asarray(sample[spec.name])
            expected = self.layout.shape(spec)
            if values.shape != expected:
                raise ValueError(
                    f"sample {index}: field {spec.name!r} has shape {values.shape}, "
                    f"expected {expected}"
                )
            if not np.all(np.isfinite(values)):
                raise SolverError(
                    f"sample {index}: field {spec.name!r} has non-finite values (the solver "
                    "diverged; try a smaller time step or a finer grid)"
                )
            arrays.append((spec.name, values))
        needed = 2 * sum(values.nbytes for _, values in arrays) + 2**20
        free = shutil.disk_usage(os.path.dirname(os.path.abspath(self.path))).free
        if free < needed:
            raise DatasetFileError(
                f"{self.path}: {free:,} bytes free, sample {index} needs up to {needed:,}; the "
                f"{int(self._complete[:].sum())} samples written are intact: free space and run "
                "again to resume"
            )
        try:
            for name, values in arrays:
                self._file[name][index] = values
            self._file.flush()
            self._complete[index] = 1
            self._file.flush()
        except (OSError, RuntimeError) as err:  # h5py's write errors (a full disk, I/O)
            raise DatasetFileError(
                f"{self.path}: writing sample {index} failed ({' '.join(str(err).split())}); the "
                "samples marked complete before it are intact: fix the cause and run again to "
                "resume"
            ) from None

    def close(self) -> None:
        """Close the file (clearing its open-for-write flags) and release the lock."""
        if self._file.id.valid:
            self._file.close()
        self._release_lock()

    def __enter__(self) -> DatasetWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _release_lock(self) -> None:
        if not self._lock.closed:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()


def suspect_samples(file: h5py.File, names: list[str], indices: np.ndarray) -> dict[int, str]:
    """The samples of ``indices`` whose variables ``names`` do not read back (a damaged or
    missing chunk) or hold non-finite values (never written: HDF5's fill value is NaN), each
    with what is wrong with it (``field 'u', sample 3 has non-finite values``)."""
    suspect = {}
    for index in map(int, indices):
        for name in names:
            try:
                values = file[name][index]
            except (OSError, ValueError, RuntimeError) as err:
                detail = " ".join(str(err).split())
                suspect[index] = f"field {name!r}, sample {index} cannot be read ({detail})"
                break
            if np.issubdtype(values.dtype, np.inexact) and not np.isfinite(values).all():
                suspect[index] = f"field {name!r}, sample {index} has non-finite values"
                break
    return suspect


def canonical_yaml(run_config: dict[str, Any]) -> str:
    """The YAML text under which a run config is stored (keys in a fixed order)."""
    return yaml.safe_dump(run_config, sort_keys=False, default_flow_style=False)


def config_differences(old: Any, new: Any, where: str = "") -> list[str]:
    """Human-readable list of the keys whose values differ between two plain config mappings."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in list(old) + [k for k in new if k not in old]:
            sub = f"{where}.{key}" if where else str(key)
            out += config_differences(old.get(key), new.get(key), sub)
        return out
    return [] if old == new else [f"{where or 'config'}: file has {old!r}, this run has {new!r}"]


def lock_path(path: str) -> str:
    """The hidden lock file beside a dataset: ``dir/.name.h5.lock``."""
    directory, name = os.path.split(path)
    return os.path.join(directory, f".{name}.lock")


def _acquire_lock(path: str):
    """An exclusive ``flock`` on the lock file of ``path`` (released when the writer closes or
    its process dies). The lock file stays: removing it would let a writer that opened it just
    before the removal lock a file no other writer sees."""
    try:
        lock = open(lock_path(path), "a")  # noqa: SIM115 - held open for the writer's lifetime
    except OSError as err:
        raise DatasetFileError(
            f"{path}: cannot write in its folder ({err.strerror}: {lock_path(path)}); choose a "
            "writable output folder"
        ) from None
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        raise DatasetFileError(
            f"{path}: another process is writing this file (lock {lock_path(path)} is held)"
        ) from None
    return lock


def open_for_reading(path: str) -> h5py.File:
    """Open a dataset file read-only, also while a writer is at it or after one was killed.

    Files written in SWMR mode are opened as an SWMR reader (which a killed writer's leftover
    "open for write" flags do not block); other HDF5 files plainly. Anything else raises
    ``DatasetFileError`` naming the file.
    """
    try:
        return h5py.File(path, "r", swmr=True)
    except OSError:
        pass
    try:
        return h5py.File(path, "r")
    except OSError as err:
        reason = " ".join(str(err).split())
        if "already open for write" in reason:
            reason = "a writer has it open, or was killed; rerun `opl generate` to resume it"
        raise DatasetFileError(f"{path}: not a readable HDF5 file ({reason})") from None


def _check_resumable(path: str, run_config: dict[str, Any]) -> None:
    """Refuse to touch ``path`` unless it is an opl dataset made by exactly ``run_config``."""
    try:
        with open_for_reading(path) as f:
            attrs = dict(f.attrs)
    except DatasetFileError as err:
        raise DatasetFileError(f"{err}; choose another output path or remove it") from None
    if "opl_format" not in attrs:
        raise DatasetFileError(
            f"{path}: exists and is not an opl dataset (no 'opl_format' attribute); "
            "choose another output path"
        )
    stored = yaml.safe_load(_text(attrs.get("generator_config", "")))
    wanted = yaml.safe_load(canonical_yaml(run_config))
    differences = config_differences(stored, wanted)
    if differences:
        raise DatasetFileError(
            f"{path}: exists and was made by a different config ({'; '.join(differences)}); "
            "choose another output path, or rerun with the file's config to resume it"
        )


def _create(path: str, layout: Layout, run_config: dict[str, Any], pde: str) -> None:
    n = int(run_config["n_samples"])
    dtype = np.dtype(run_config["precision"])
    tmp = path + ".tmp"
    with h5netcdf.File(tmp, "w", libver="latest") as f:
        f.dimensions = {"sample": n, **layout.sizes()}
        sample = f.create_variable("sample", ("sample",), np.int64, data=np.arange(n))
        sample.attrs["long_name"] = "sample index"
        for coord in layout.coordinates:
            values = np.asarray(coord.values)
            if values.dtype.kind in "US":  # labels, stored as variable-length UTF-8 strings
                var = f.create_variable(
                    coord.name, (coord.name,), h5py.string_dtype(), data=values.astype(object)
                )
            else:
                var = f.create_variable(coord.name, (coord.name,), values.dtype, data=values)
            var.attrs["long_name"] = coord.long_name
            var.attrs["units"] = coord.units
            if coord.grid is not None:
                var.attrs["grid"] = coord.grid
        for static in layout.variables:
            values = np.asarray(static.values)
            var = f.create_variable(static.name, static.dims, values.dtype, data=values)
            for key, value in static.attrs.items():
                var.attrs[key] = value
        for spec in layout.fields:
            shape = layout.shape(spec)
            var = f.create_variable(
                spec.name,
                ("sample", *spec.dims),
                dtype,
                chunks=(1, *shape),
                compression="gzip",
                compression_opts=COMPRESSION_LEVEL,
                shuffle=True,
                fillvalue=np.nan,
            )
            var.attrs["role"] = spec.role
            var.attrs["long_name"] = spec.long_name
            var.attrs["units"] = spec.units
            for key, value in spec.attrs.items():
                var.attrs[key] = value
        done = f.create_variable("complete", ("sample",), np.uint8, chunks=(n,))
        done.attrs["long_name"] = "1 once the sample is fully written and flushed, else 0"
        done.attrs["flag_values"] = np.array([0, 1], dtype=np.uint8)
        done.attrs["flag_meanings"] = "pending complete"
        _write_global_attrs(f.attrs, layout, run_config, pde)
    os.replace(tmp, path)


def _write_global_attrs(attrs: Any, layout: Layout, run_config: dict[str, Any], pde: str) -> None:
    attrs["Conventions"] = "CF-1.8"
    attrs["opl_format"] = FORMAT_VERSION
    attrs["pde"] = pde
    attrs["generator"] = run_config["generator"]["class_path"]
    attrs["generator_config"] = canonical_yaml(run_config)
    if "seed" in run_config:  # generated files; imported ones have no seed of opl's
        attrs["seed"] = int(run_config["seed"])
    attrs["n_samples"] = int(run_config["n_samples"])
    for key, value in layout.attrs.items():
        attrs[key] = value
    attrs["software_versions"] = yaml.safe_dump(software_versions(), sort_keys=False)
    attrs["created"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
