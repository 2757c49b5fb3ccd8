"""What the operators on finite-element dofs share (SPON, multigrid SPON, the mesh GNN).

A mesh operator is built on a triangle mesh -- a mesh of meshes/, a mesh file, or a dataset's own
mesh (``data_gen.fem.mesh.load_mesh``) -- and one or more Lagrange spaces on it
(``opl.models.fe_space.FESpace``): its tensors are dof vectors ``(B, C, n_dofs)`` in the order of
scikit-fem's basis (the order of the dataset files of ``data_gen.fem``). ``MeshOperator`` holds
the spaces, the dof graph of each (edges, edge geometry, static dof features: centred position
and boundary-part flags), the Dirichlet dofs, the per-dof lift and head, and the checks of the
input and of a dataset's dof positions.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from data_gen.fem.mesh import load_mesh
from opl.models.base import FieldOperator
from opl.models.fe_space import POSITION_TOLERANCE, FESpace, SparseMatrix
from opl.models.message_passing import edge_geometry


class _Level(nn.Module):
    """The graph of one FE space as buffers: edges, edge geometry, static dof features."""

    def __init__(self, space: FESpace) -> None:
        super().__init__()
        positions = torch.from_numpy(space.positions)
        edges = torch.from_numpy(space.edges())
        low, high = positions.min(0).values, positions.max(0).values
        centred = 2 * (positions - (low + high) / 2) / (high - low).max()
        static = torch.cat([centred, torch.from_numpy(space.boundary_indicator())], dim=1)
        self.register_buffer("edges", edges, persistent=False)
        self.register_buffer("geometry", edge_geometry(positions, edges).float(), persistent=False)
        self.register_buffer("static", static.float(), persistent=False)


def on_dofs(operator: nn.Module, h: torch.Tensor) -> torch.Tensor:
    """``operator`` (a ``SparseMatrix`` or ``MassSolver``, (n, k) -> (m, k)) applied to the dof
    axis of ``h`` (B, n, w) -> (B, m, w)."""
    batch, n, width = h.shape
    flat = h.transpose(0, 1).reshape(n, batch * width)
    return operator(flat).reshape(-1, batch, width).transpose(0, 1)


class MeshOperator(FieldOperator):
    """What the mesh operators share: their FE spaces, graph and Dirichlet dofs. Tensors are
    ``(B, C, n_dofs)``: one "spatial" axis, the dofs (``n_dim = 1``)."""

    other_grids = "refuse"
    on_mesh = True
    n_dim = 1
    ARG_LIMITS = {
        "in_channels": 1024,
        "out_channels": 1024,
        "level": 16,
        "refine": 8,
        "width": 4096,
    }
    """Bounds of the arguments every mesh operator takes; a subclass adds its own."""

    def native_shape(self) -> list[int]:
        """The input dofs: the only shape a mesh operator takes."""
        return [self.input_space.n_dofs]

    def _build(
        self,
        in_channels: int,
        out_channels: int,
        mesh: str,
        level: int,
        refine: int,
        element: str,
        input_element: str | None,
        dirichlet: Sequence[str],
        dirichlet_channels: Sequence[int] | None,
        width: int,
        coarsening: int = 0,
    ) -> None:
        """The spaces, graphs and Dirichlet mask, and the per-dof ``lift`` / ``head`` MLPs."""
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: expected an integer >= 1, got {value!r}")
        if not isinstance(coarsening, int) or not 0 <= coarsening <= refine:
            raise ValueError(
                f"coarsening: expected an integer in [0, refine = {refine}] (the coarse levels "
                f"are the meshes the data's mesh was refined from), got {coarsening!r}"
            )
        self.in_channels, self.out_channels = in_channels, out_channels
        self.base_mesh = load_mesh(mesh, level)
        """The mesh as named (before ``refine``): what a bundle carries."""
        meshes = [self.base_mesh.refined(refine - coarsening)]
        for _ in range(coarsening):
            meshes.append(meshes[-1].refined())
        self.spaces = [FESpace(m, element) for m in meshes]
        """The FE spaces of the hierarchy, coarsest first; ``space`` is the finest."""
        self.space = self.spaces[-1]
        self.input_space = (
            self.space
            if input_element in (None, element)
            else FESpace(self.space.mesh, input_element)
        )
        self.mesh_sha256 = self.space.fingerprint()
        channels = list(range(out_channels)) if dirichlet_channels is None else dirichlet_channels
        bad = [c for c in channels if not isinstance(c, int) or not 0 <= c < out_channels]
        if bad:
            raise ValueError(
                f"dirichlet_channels: expected output channels in [0, {out_channels}), "
                f"got {bad[0]!r}"
            )
        mask = torch.zeros(out_channels, self.space.n_dofs, dtype=torch.bool)
        mask[np.ix_(channels, self.space.boundary_dofs(dirichlet))] = True
        self.register_buffer("dirichlet_mask", mask, persistent=False)
        self.mass = SparseMatrix(self.space.mass)
        self.levels = nn.ModuleList(_Level(s) for s in self.spaces)
        n_static = 2 + len(self.space.boundary_names)  # position, boundary-part flags
        self.lift = nn.Sequential(
            nn.Linear(in_channels + n_static, width), nn.GELU(), nn.Linear(width, width)
        )
        self.head = nn.Sequential(
            nn.Linear(width, width), nn.GELU(), nn.Linear(width, out_channels)
        )

    def _check_input(self, x: torch.Tensor) -> None:
        expected = (self.in_channels, self.input_space.n_dofs)
        if x.dim() != 3 or tuple(x.shape[1:]) != expected:
            raise ValueError(
                f"input: expected dofs shaped (B, {expected[0]}, {expected[1]}) on the "
                f"{self.input_space.element} space of the model's mesh, got {tuple(x.shape)}"
            )

    def _lift_input(self, values: torch.Tensor) -> torch.Tensor:
        """Per-dof features (B, n, C_in + static) from dof values (B, C_in, n) on ``space``."""
        static = self.levels[-1].static.to(values.dtype)
        return torch.cat([values.transpose(1, 2), static.expand(values.shape[0], -1, -1)], dim=2)

    def check_mesh(self, input_positions: np.ndarray, output_positions: np.ndarray) -> None:
        """Raise ValueError unless the data's dofs (input, output) are the model's."""
        for what, space, positions in (
            ("input", self.input_space, input_positions),
            ("output", self.space, output_positions),
        ):
            if positions.shape != space.positions.shape or not np.allclose(
                positions, space.positions, atol=POSITION_TOLERANCE, rtol=0
            ):
                raise ValueError(
                    f"the data's {what} dofs ({positions.shape[0]}) are not those of the model's "
                    f"{space.element} space on its mesh ({space.n_dofs} dofs): set mesh, level, "
                    "refine and element to the dataset's"
                )

    def boundary_error(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """max |pred − target| over the Dirichlet dofs (0 if there are none)."""
        mask = self.dirichlet_mask.expand_as(pred)
        if not mask.any():
            return pred.new_zeros(())
        return (pred - target)[mask].abs().max()

    def fe_relative_l2(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """mean over samples of ‖u_pred − u‖_{L2(Ω)} / ‖u‖_{L2(Ω)}, norms summed over channels,
        ‖u_h‖² = uᵀ M u with the mass matrix of the output space (exact for FE functions)."""

        def squared_norm(u: torch.Tensor) -> torch.Tensor:  # (B, C, n) -> (B,)
            flat = u.reshape(-1, u.shape[-1]).T.double()
            return (flat * self.mass(flat)).sum(0).reshape(u.shape[0], -1).sum(1)

        return (squared_norm(pred - target) / squared_norm(target)).sqrt().mean()
