"""Loading the triangle meshes of meshes/ (or a user's file) as scikit-fem meshes, checked.

A mesh is named ``<name>`` with a refinement ``level`` (the file ``meshes/<name>_<level>.msh``,
made by meshes/make_meshes.py), given as a path to any file meshio reads, or given as the path of
an opl finite-element dataset (``.h5``, ``.hdf5``, ``.nc``), whose UGRID variables hold the mesh
it was solved on (``data_gen.fem.ugrid``). Named gmsh physical groups (a dataset's boundary and
subdomain flags) become ``mesh.boundaries`` (facet sets) and ``mesh.subdomains`` (element
sets). Loading needs meshio and scikit-fem only, never gmsh. Meshes are checked: no degenerate
triangles (area below 1e-12 of the mean) and a consistent orientation (no inverted triangles).
"""

from __future__ import annotations

import contextlib
import importlib.resources
import os
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path

import meshio
import numpy as np
import skfem
from skfem.io.meshio import from_meshio

from opl.errors import OplInputError

MESH_DIR = Path(
    os.environ.get("OPL_MESH_DIR") or str(importlib.resources.files("data_gen._meshes"))
)
"""Where named meshes live: ``meshes/`` of a source checkout, installed as package data
(``data_gen._meshes``) by a wheel (override with ``OPL_MESH_DIR``)."""
DATASET_SUFFIXES = (".h5", ".hdf5", ".nc")
"""A mesh given as a file with one of these suffixes is read from an opl dataset's variables."""
DEGENERATE_AREA = 1e-12
"""A triangle whose area is below this fraction of the mean area is degenerate."""


class MeshError(OplInputError):
    """A mesh file that is missing, unreadable, or not a valid triangulation."""


_PROVIDED: dict[tuple[str, int], skfem.MeshTri] = {}


@contextlib.contextmanager
def provided_meshes(meshes: dict[tuple[str, int], skfem.MeshTri]) -> Iterator[None]:
    """Within the block, ``load_mesh(name, level)`` takes ``meshes[(name, level)]`` instead of
    reading a file: how a bundle builds its mesh operator on the mesh it carries."""
    saved = dict(_PROVIDED)
    _PROVIDED.update(meshes)
    try:
        yield
    finally:
        _PROVIDED.clear()
        _PROVIDED.update(saved)


def mesh_arrays(mesh: skfem.MeshTri) -> dict[str, np.ndarray]:
    """The arrays that make ``mesh`` again (``mesh_from_arrays``): ``points`` (2, n) float64,
    ``cells`` (3, m) int64, and ``boundary/<name>`` facet / ``subdomain/<name>`` element indices."""
    arrays = {"points": np.asarray(mesh.p, np.float64), "cells": np.asarray(mesh.t, np.int64)}
    for kind, groups in (("boundary", mesh.boundaries), ("subdomain", mesh.subdomains)):
        arrays.update(
            {f"{kind}/{name}": np.asarray(v, np.int64) for name, v in (groups or {}).items()}
        )
    return arrays


def mesh_from_arrays(arrays: dict[str, np.ndarray], where: str) -> skfem.MeshTri:
    """The checked mesh of ``mesh_arrays``' output (``where`` names the source in errors)."""
    if "points" not in arrays or "cells" not in arrays:
        raise MeshError(f"{where}: no mesh arrays (expected 'points' and 'cells')")
    points, cells = np.asarray(arrays["points"], float), np.asarray(arrays["cells"], np.int64)
    if points.ndim != 2 or points.shape[0] != 2 or cells.ndim != 2 or cells.shape[0] != 3:
        raise MeshError(
            f"{where}: expected points (2, n) and cells (3, m), got {points.shape} and "
            f"{cells.shape}"
        )
    if cells.size and (cells.min() < 0 or cells.max() >= points.shape[1]):
        raise MeshError(f"{where}: cells refer to points outside [0, {points.shape[1]})")
    check_triangles(points.T, cells.T, where, oriented=False)  # scikit-fem's order
    groups = {
        kind: {k.split("/", 1)[1]: v for k, v in arrays.items() if k.startswith(f"{kind}/")}
        for kind in ("boundary", "subdomain")
    }
    return skfem.MeshTri(
        points,
        cells,
        _boundaries=groups["boundary"] or None,
        _subdomains=groups["subdomain"] or None,
    )


def dataset_mesh_arrays(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The mesh an opl finite-element dataset was solved on, as ``mesh_arrays`` gives it: the
    UGRID variables ``mesh_node_x/y``, ``mesh_face_nodes`` (scikit-fem's order, so dofs are
    numbered as in the file), and the boundary edges and triangles by their flag names
    (``mesh_boundary_tag``, ``mesh_face_subdomain``; the default flags ``untagged`` and
    ``domain`` name no group)."""
    import h5py

    needed = ("mesh_node_x", "mesh_node_y", "mesh_face_nodes", "mesh_boundary_nodes")
    try:
        with h5py.File(path, "r") as f:
            missing = [name for name in needed if name not in f]
            if missing:
                raise MeshError(
                    f"{path}: not a finite-element dataset (no variable {missing[0]!r}; expected "
                    "the UGRID mesh variables of docs/FORMAT.md)"
                )
            points = np.vstack([f["mesh_node_x"][...], f["mesh_node_y"][...]]).astype(float)
            cells = f["mesh_face_nodes"][...].T.astype(np.int64)
            edges = np.sort(f["mesh_boundary_nodes"][...].astype(np.int64), axis=1)
            flags = {
                name: (f[name][...], _flag_names(f[name]))
                for name in ("mesh_boundary_tag", "mesh_face_subdomain")
                if name in f
            }
    except OSError as err:
        raise MeshError(f"{path}: not a readable HDF5 dataset ({err})") from None
    arrays = {"points": points, "cells": cells}
    if "mesh_boundary_tag" in flags:
        facets = skfem.MeshTri(points, cells).facets  # sorted node pairs, scikit-fem's numbering
        key = facets[0] * points.shape[1] + facets[1]
        order = np.argsort(key)
        wanted = edges[:, 0] * points.shape[1] + edges[:, 1]
        found = order[np.searchsorted(key, wanted, sorter=order)]
        tags, names = flags["mesh_boundary_tag"]
        for value, name in enumerate(names):
            if name != "untagged":
                arrays[f"boundary/{name}"] = found[tags == value]
    if "mesh_face_subdomain" in flags:
        tags, names = flags["mesh_face_subdomain"]
        for value, name in enumerate(names):
            if name != "domain":
                arrays[f"subdomain/{name}"] = np.flatnonzero(tags == value)
    return arrays


def _flag_names(variable) -> list[str]:
    """The names of the flag values 0, 1, ... of a flag variable."""
    meanings = variable.attrs["flag_meanings"]
    return (meanings.decode() if isinstance(meanings, bytes) else str(meanings)).split()


def mesh_file(mesh: str, level: int = 0) -> Path:
    """The file of mesh ``mesh``: a path to a mesh file, or a name in ``MESH_DIR`` at ``level``."""
    if mesh.endswith((".msh", ".vtk", ".vtu", ".xdmf", ".med", ".mesh")) or os.sep in mesh:
        path = Path(mesh)
    else:
        path = MESH_DIR / f"{mesh}_{level}.msh"
    if not path.exists():
        known = sorted({p.stem.rsplit("_", 1)[0] for p in MESH_DIR.glob("*_*.msh")})
        raise MeshError(
            f"{path}: no such mesh file; name a mesh of {MESH_DIR} ({', '.join(known)}) with a "
            "level, or give the path of a file meshio reads"
        )
    return path


def load_mesh(mesh: str, level: int = 0, refine: int = 0) -> skfem.MeshTri:
    """The checked scikit-fem triangle mesh of ``mesh_file(mesh, level)``, refined uniformly
    ``refine`` times (each triangle split into four at its edge midpoints, boundary names kept).

    A refined mesh is nested in the one it came from -- every coarse Lagrange function is a fine
    one -- which is what the multigrid hierarchies of ``opl.models.spon`` need; the levels of
    meshes/ are meshed independently and are not nested.
    """
    if not isinstance(refine, int) or refine < 0:
        raise MeshError(f"refine: expected an integer >= 0, got {refine!r}")
    if (mesh, level) in _PROVIDED:
        loaded = _PROVIDED[(mesh, level)]
        return loaded.refined(refine) if refine else loaded
    if mesh.endswith(DATASET_SUFFIXES):
        if level != 0:
            raise MeshError(f"level: a dataset holds one mesh, use level 0 (got {level})")
        loaded = mesh_from_arrays(dataset_mesh_arrays(mesh), f"{mesh}: its mesh")
        return loaded.refined(refine) if refine else loaded
    path = mesh_file(mesh, level)
    try:
        raw = meshio.read(path)
    except Exception as err:  # meshio raises many types for unreadable files
        raise MeshError(
            f"{path}: not a readable mesh file ({' '.join(str(err).split())})"
        ) from None
    triangles = [block.data for block in raw.cells if block.type == "triangle"]
    if not triangles:
        kinds = ", ".join(sorted({block.type for block in raw.cells})) or "none"
        raise MeshError(f"{path}: expected a 2-D triangle mesh, found cells of type {kinds}")
    check_triangles(raw.points[:, :2], np.concatenate(triangles), str(path))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # skfem warns about cell types it does not keep
        loaded = from_meshio(raw)
    return loaded.refined(refine) if refine else loaded


def check_triangles(
    points: np.ndarray, triangles: np.ndarray, where: str, oriented: bool = True
) -> None:
    """Raise ``MeshError`` if a triangle is degenerate or (``oriented``: for a mesh file's own
    triangles, which scikit-fem later reorders) oriented against the others."""
    a, b, c = (points[triangles[:, i]] for i in range(3))
    area = 0.5 * (
        (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
    )
    scale = np.mean(np.abs(area))
    degenerate = np.flatnonzero(np.abs(area) <= DEGENERATE_AREA * scale)
    if degenerate.size:
        raise MeshError(
            f"{where}: {degenerate.size} degenerate triangle(s) (zero area), first at element "
            f"{degenerate[0]} with nodes {triangles[degenerate[0]].tolist()}"
        )
    minority = np.flatnonzero(np.sign(area) != np.sign(np.sum(np.sign(area))))
    if oriented and minority.size:
        raise MeshError(
            f"{where}: {minority.size} inverted triangle(s) (orientation opposite to the rest), "
            f"first at element {minority[0]} with nodes {triangles[minority[0]].tolist()}"
        )


def require_boundaries(mesh: skfem.MeshTri, names: Iterable[str], where: str) -> None:
    """Raise ``MeshError`` naming ``where`` if a boundary name is not one of the mesh's."""
    known = sorted(mesh.boundaries or {})
    for name in names:
        if name not in known:
            raise MeshError(
                f"{where}: unknown boundary {name!r}; the mesh has: {', '.join(known) or 'none'}"
            )
