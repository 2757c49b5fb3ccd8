"""The plain message-passing baseline of the mesh operators (``MeshGNN``): SPON's processor on
the dof graph without its FE encoder and decoder (``opl.models.spon``)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from opl.models.fe_space import SparseMatrix
from opl.models.mesh_operator import MeshOperator, on_dofs
from opl.models.message_passing import MeshProcessor


class MeshGNN(MeshOperator):
    """The plain-GNN baseline: SPON's processor without its encoder and decoder.

    Takes the raw input dofs (interpolated onto ``element``'s dofs when ``input_element``
    differs), returns normalised output dofs like the grid operators (decoded by the training
    module), and does not impose boundary values; ``dirichlet`` only says where
    ``boundary_error`` measures them. Arguments as SPON's.
    """

    ARG_LIMITS = {**MeshOperator.ARG_LIMITS, "depth": 256}

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        mesh: str = "lshape",
        level: int = 0,
        refine: int = 0,
        element: str = "P1",
        input_element: str | None = None,
        dirichlet: Sequence[str] = (),
        dirichlet_channels: Sequence[int] | None = None,
        width: int = 64,
        depth: int = 8,
    ) -> None:
        super().__init__()
        self._build(
            in_channels, out_channels, mesh, level, refine, element, input_element,
            dirichlet, dirichlet_channels, width,
        )  # fmt: skip
        self.interpolation = SparseMatrix(self.input_space.evaluation_matrix(self.space.positions))
        self.processor = MeshProcessor(width, depth)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Input dofs (B, C_in, n_in) -> output dofs (B, C_out, n), both normalised."""
        self._check_input(x)
        values = x
        if self.input_space is not self.space:
            values = on_dofs(self.interpolation, x.transpose(1, 2)).transpose(1, 2)
        level = self.levels[-1]
        h = self.processor(self.lift(self._lift_input(values)), level.edges, level.geometry)
        return self.head(h).transpose(1, 2)
