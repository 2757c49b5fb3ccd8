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
  ``<name>_index`` (2, nnz) / ``<name>_weight`` (nnz,) of ``opl.models.fe_space.FESpace`` on
  the stored mesh: mass ``M_ij = ∫ φ_i φ_j``, stiffness ``K_ij = ∫ ∇φ_i · ∇φ_j``. The
  ``_index`` suffix makes torch_geometric offset them correctly when samples are batched.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset
from torch_geometric.data import Data

from data_gen.fem.mesh import load_mesh
from opl.data.dataset_file import DatasetFile, FieldInfo, PerProcessFile
from opl.errors import DatasetFileError
from opl.models.fe_space import POSITION_TOLERANCE, FESpace

MATRICES = ("mass", "stiffness")


class MeshGraphDataset(PerProcessFile, Dataset):
    """Samples ``indices`` of a finite-element dataset as graphs on the dofs of ``space``.

    ``fe`` is the space (``opl.models.fe_space.FESpace``) on the mesh the file stores, the one
    the mesh operators build (``data_gen.fem.mesh.load_mesh`` of the file); its dofs are checked
    to be the file's, in the file's order.
    """

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
            stored = {"P1": ("mesh_node_x", "mesh_node_y"), "P2": ("p2_dof_x", "p2_dof_y")}
            have = [name for name, (x, _) in stored.items() if ds.has(x)]
            if space not in have:
                raise DatasetFileError(
                    f"{self.path}: no space {space!r}; the file has: {', '.join(have) or 'none'}"
                )
            positions = np.column_stack([ds.variable(v) for v in stored[space]])
            self.inputs = _select(ds, inputs, "input")
            self.outputs = _select(ds, outputs, "output")
            self.indices = ds.checked_indices(indices)
        mesh = load_mesh(self.path)
        self.fe = FESpace(mesh, space)
        if not np.allclose(self.fe.positions, positions, rtol=0, atol=POSITION_TOLERANCE):
            raise DatasetFileError(
                f"{self.path}: the file's {space} dofs are not numbered as this scikit-fem "
                "numbers them on the stored mesh; cannot use its FE spaces"
            )
        self.boundary_names = self.fe.boundary_names
        self.n_vertices = mesh.p.shape[1]
        self.p1_to_p2 = FESpace(mesh, "P1").evaluation_matrix(positions) if space == "P2" else None
        """P1 values at the vertices -> the P2 function at every P2 dof (exact interpolation)."""
        self._static = self._static_graph(matrices)
        self.n_dofs = self.fe.n_dofs

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
            return (self.p1_to_p2 @ values.T).T
        return values[:, : self.n_vertices]  # P2 -> P1: the vertex dofs come first

    def _static_graph(self, matrices: Sequence[str]) -> dict[str, torch.Tensor]:
        out = {
            "pos": torch.from_numpy(self.fe.positions).to(self.dtype),
            "edge_index": torch.from_numpy(self.fe.edges()),
            "boundary_mask": torch.from_numpy(self.fe.boundary_indicator() > 0),
        }
        for name in matrices:
            matrix = (self.fe.mass if name == "mass" else self.fe.stiffness).tocoo()
            out[f"{name}_index"] = torch.from_numpy(
                np.vstack([matrix.row, matrix.col]).astype(np.int64)
            )
            out[f"{name}_weight"] = torch.from_numpy(matrix.data).to(self.dtype)
        return out


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
