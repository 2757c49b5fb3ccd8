"""Graph view of a finite-element dataset: one ``torch_geometric.data.Data`` per sample.

The graph's nodes are the dofs of a Lagrange space of the file's mesh (``space="P1"``: the mesh
vertices; ``"P2"``: vertices and edge midpoints) and its edges join every two dofs of a triangle --
the sparsity pattern of the FE matrices (for P1, the mesh edges), both directions. Each ``Data``
holds

* ``pos`` (n, 2) dof coordinates, ``edge_index`` (2, E);
* ``x`` (n, C_in), ``y`` (n, C_out): the input / output fields at the dofs, any ``component`` or
  ``t`` dimension folded into channels; P1 fields are interpolated onto a P2 graph (exactly: a P1
  function is a P2 function) and P2 fields restricted to the vertices of a P1 graph; a named
  per-sample vector (e.g. the elasticity traction, role ``parameter``) becomes constant channels;
* ``boundary_mask`` (n, B) booleans, column b true on the dofs of boundary part
  ``boundary_names[b]`` (a dataset attribute);
* on request (``matrices=("mass", "stiffness")``) the FE matrices of the space as
  ``<name>_index`` (2, nnz) / ``<name>_weight`` (nnz,), assembled with scikit-fem on the stored
  mesh: mass ``M_ij = ∫ φ_i φ_j``, stiffness ``K_ij = ∫ ∇φ_i · ∇φ_j``. The ``_index`` suffix makes
  torch_geometric offset them correctly when samples are batched.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
import torch
from torch.utils.data import Dataset
from torch_geometric.data import Data

from opl.data.dataset_file import DatasetFile, FieldInfo, PerProcessFile
from opl.errors import DatasetFileError

MATRICES = ("mass", "stiffness")


class MeshGraphDataset(PerProcessFile, Dataset):
    """Samples ``indices`` of a finite-element dataset as graphs on the dofs of ``space``."""

    def __init__(
        self,
        path: str | os.PathLike,
        space: str = "P1",
        inputs: Sequence[str] | None = None,
        outputs: Sequence[str] | None = None,
        indices: Sequence[int] | range | None = None,
        matrices: Sequence[str] = (),
        dtype: torch.dtype = torch.float32,
    ) -> None:
        self.path = os.fspath(path)
        self.space = space
        self.dtype = dtype
        unknown = [m for m in matrices if m not in MATRICES]
        if unknown:
            raise ValueError(f"matrices: unknown {unknown[0]!r}; expected some of {MATRICES}")
        with DatasetFile(self.path) as ds:
            self.mesh = read_mesh(ds)
            if space not in ("P1", "P2") or (space == "P2" and "p2_face_dofs" not in self.mesh):
                have = "P1, P2" if "p2_face_dofs" in self.mesh else "P1"
                raise DatasetFileError(f"{self.path}: no space {space!r}; the file has: {have}")
            self.inputs = _select(ds, inputs, "input")
            self.outputs = _select(ds, outputs, "output")
            self.indices = ds.checked_indices(indices)
        self.boundary_names = [n for n in self.mesh["boundary_names"] if n != "untagged"]
        self._static = self._static_graph(matrices)
        self.n_dofs = len(self._static["pos"])

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, item: int) -> Data:
        ds = self._open()
        index = int(self.indices[item])
        x = self._channels(ds, self.inputs, index)
        y = self._channels(ds, self.outputs, index)
        return Data(x=x, y=y, sample=torch.tensor([index]), **self._static)

    def _channels(self, ds: DatasetFile, fields: list[FieldInfo], index: int) -> torch.Tensor:
        columns = []
        for f in fields:
            values = ds.read(f.name, [index])[0]
            if f.element is not None:
                values = values.reshape(-1, values.shape[-1])  # (channels, dofs of its space)
            columns.append(self._to_space(values, f).T)
        return torch.from_numpy(np.concatenate(columns, axis=1).astype(np.float64)).to(self.dtype)

    def _to_space(self, values: np.ndarray, info: FieldInfo) -> np.ndarray:
        """Values of a field on its own space -> values at the graph's dofs."""
        if info.element is None:  # a per-sample vector: constant functions, one per entry
            return np.repeat(values.reshape(-1, 1), self.n_dofs, axis=1)
        if info.element == self.space:
            return values
        if info.element == "P1":  # P1 -> P2: vertex values, then edge midpoints
            return values @ self.mesh["p1_to_p2"].T
        return values[:, : self.mesh["node_x"].size]  # P2 -> P1: the vertex dofs come first

    def _static_graph(self, matrices: Sequence[str]) -> dict[str, torch.Tensor]:
        mesh = self.mesh
        cells = mesh["face_nodes"] if self.space == "P1" else mesh["p2_face_dofs"]
        pos = dof_positions(mesh, self.space)
        local = [(a, b) for a in range(cells.shape[1]) for b in range(cells.shape[1]) if a != b]
        pairs = np.unique(np.concatenate([cells[:, [a, b]] for a, b in local]), axis=0)
        out = {
            "pos": torch.from_numpy(pos).to(self.dtype),
            "edge_index": torch.from_numpy(pairs.T.astype(np.int64)),
            "boundary_mask": torch.from_numpy(_boundary_mask(mesh, self.space, len(pos))),
        }
        for name in matrices:
            matrix = assemble(mesh, self.space, name).tocoo()
            out[f"{name}_index"] = torch.from_numpy(
                np.vstack([matrix.row, matrix.col]).astype(np.int64)
            )
            out[f"{name}_weight"] = torch.from_numpy(matrix.data).to(self.dtype)
        return out


def read_mesh(ds: DatasetFile) -> dict:
    """The mesh arrays of a dataset file (UGRID variables, see docs/FORMAT.md)."""
    names = (
        "mesh_node_x",
        "mesh_node_y",
        "mesh_face_nodes",
        "mesh_boundary_nodes",
        "mesh_boundary_tag",
    )
    missing = [n for n in names if not ds.has(n)]
    if missing:
        raise DatasetFileError(f"{ds.path}: not a mesh dataset (no variable {missing[0]!r})")
    mesh = {
        "node_x": ds.variable("mesh_node_x"),
        "node_y": ds.variable("mesh_node_y"),
        "face_nodes": ds.variable("mesh_face_nodes").astype(np.int64),
        "boundary_nodes": ds.variable("mesh_boundary_nodes").astype(np.int64),
        "boundary_tag": ds.variable("mesh_boundary_tag"),
        "boundary_names": ds.flag_meanings("mesh_boundary_tag"),
    }
    if ds.has("p2_face_dofs"):
        mesh["p2_face_dofs"] = ds.variable("p2_face_dofs").astype(np.int64)
        mesh["p2_x"] = ds.variable("p2_dof_x")
        mesh["p2_y"] = ds.variable("p2_dof_y")
        mesh["p1_to_p2"] = _p1_to_p2(mesh)
    return mesh


def assemble(mesh: dict, space: str, name: str) -> sp.csr_matrix:
    """The mass or stiffness matrix of ``space`` on the stored mesh (scikit-fem)."""
    import skfem
    from skfem.helpers import dot, grad

    grid = skfem.MeshTri(np.vstack([mesh["node_x"], mesh["node_y"]]), mesh["face_nodes"].T)
    element = skfem.ElementTriP1() if space == "P1" else skfem.ElementTriP2()
    basis = skfem.Basis(grid, element)
    if not np.allclose(basis.doflocs.T, dof_positions(mesh, space)):
        raise DatasetFileError(
            "the file's dof numbering differs from this scikit-fem's; cannot assemble matrices"
        )

    @skfem.BilinearForm
    def mass(u, v, w):
        return u * v

    @skfem.BilinearForm
    def stiffness(u, v, w):
        return dot(grad(u), grad(v))

    return {"mass": mass, "stiffness": stiffness}[name].assemble(basis).tocsr()


def dof_positions(mesh: dict, space: str) -> np.ndarray:
    """The (n, 2) float64 coordinates of the dofs of ``space`` (P1: vertices; P2: vertices,
    then edge midpoints)."""
    if space == "P1":
        return np.column_stack([mesh["node_x"], mesh["node_y"]])
    return np.column_stack([mesh["p2_x"], mesh["p2_y"]])


def _p1_to_p2(mesh: dict) -> sp.csr_matrix:
    """The matrix interpolating P1 nodal values to P2 dofs (edge dofs: mean of the endpoints)."""
    n_nodes, n_p2 = mesh["node_x"].size, mesh["p2_x"].size
    pairs, edge_dofs = _edge_table(mesh)
    rows = np.concatenate([np.arange(n_nodes), edge_dofs, edge_dofs])
    cols = np.concatenate([np.arange(n_nodes), pairs[:, 0], pairs[:, 1]])
    vals = np.concatenate([np.ones(n_nodes), np.full(2 * len(edge_dofs), 0.5)])
    return sp.csr_matrix((vals, (rows, cols)), shape=(n_p2, n_nodes))


def _boundary_mask(mesh: dict, space: str, n: int) -> np.ndarray:
    names = [name for name in mesh["boundary_names"] if name != "untagged"]
    mask = np.zeros((n, len(names)), dtype=bool)
    if space == "P2":
        pairs, edge_dofs = _edge_table(mesh)
        keys = _edge_keys(pairs, mesh)
    for column, name in enumerate(names):
        edges = mesh["boundary_nodes"][mesh["boundary_tag"] == mesh["boundary_names"].index(name)]
        mask[edges.ravel(), column] = True
        if space == "P2":
            where = np.searchsorted(keys, _edge_keys(np.sort(edges, axis=1), mesh))
            mask[edge_dofs[where], column] = True
    return mask


def _edge_table(mesh: dict) -> tuple[np.ndarray, np.ndarray]:
    """Every mesh edge once, as a sorted node pair (in increasing key order), and its P2 dof."""
    faces, dofs = mesh["face_nodes"], mesh["p2_face_dofs"]
    local = ((0, 1), (1, 2), (0, 2))  # the edges of p2_face_dofs columns 3, 4, 5
    pairs = np.concatenate([np.sort(faces[:, list(ends)], axis=1) for ends in local])
    edge_dofs = np.concatenate([dofs[:, 3 + k] for k in range(3)])
    _, first = np.unique(_edge_keys(pairs, mesh), return_index=True)
    return pairs[first], edge_dofs[first]


def _edge_keys(pairs: np.ndarray, mesh: dict) -> np.ndarray:
    """One integer per sorted node pair, increasing with the pair's lexicographic order."""
    return pairs[:, 0] * mesh["node_x"].size + pairs[:, 1]


def _select(ds: DatasetFile, names: Sequence[str] | None, role: str) -> list[FieldInfo]:
    """The fields on the mesh, and per-sample vectors (dims ``sample`` and ``component`` only,
    e.g. a traction), which become constant channels."""
    chosen = ds.select_fields(names, role)
    off_mesh = [
        f.name
        for f in chosen
        if f.element not in ("P1", "P2") and not set(f.dims[1:]) <= {"component"}
    ]
    if off_mesh:
        raise DatasetFileError(
            f"{ds.path}: field {off_mesh[0]!r} does not live on the mesh and is not a "
            "per-sample vector"
        )
    return chosen
