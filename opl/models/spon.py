r"""Structure-preserving operator networks (SPON; Bouziani & Boullé, 2024) on FE spaces.

A SPON maps an input function, given by its dofs in a Lagrange space W_h (``input_element``), to an
output function in a Lagrange space V_h (``element``) on the same triangle mesh::

    S = D ∘ P_θ ∘ E.

* **Encoder** E: the L2 (Galerkin) projection onto V_h, a = M⁻¹ M^{VW} w, with M the mass matrix
  of V_h (factorised once) and M^{VW}_ij = ∫ φ_i ψ_j. It reproduces every function of V_h
  exactly (to round-off), is linear, and has no parameters.
* **Processor** P_θ: message passing on the dof graph of V_h (``opl.models.message_passing``);
  each dof starts from its encoded input values, its position and flags of the boundary parts it
  lies on. The only learned part.
* **Decoder** D: the output's dofs v, decoded to physical units by the training data's output
  statistics (the one output normaliser every field operator has: ``OperatorModule``'s, a
  bundle's), then put *into the homogeneous space plus a lifting* by ``impose``: with m the
  indicator of the Dirichlet dofs (the ``dirichlet`` boundary parts, output channels
  ``dirichlet_channels``) and g the prescribed values (``boundary_values``, default 0),
  u = (1 − m) v + m g -- u_0 = (1 − m) v lies in V_h,0 and m g is the discrete lifting of g (its
  interpolant at the boundary dofs, zero inside). It is computed as a selection
  (``torch.where``), not arithmetic, and after decoding, so the boundary values are g *bit for
  bit*, whatever the network does; it is the same as overwriting the boundary dofs, which we
  prefer to a smooth lifting because it needs no extra solve and is exact in float32 as well.
  ``forward`` returns v (normalised units, like every field operator); ``predict`` of
  ``opl.models.base`` (training, bundles, exports) decodes and imposes.

**Multigrid SPON** (``MultigridSPON``) works on a hierarchy of nested meshes, the finest being the
data's mesh and each coarser one the mesh it was refined from (``data_gen.fem.mesh.load_mesh``'s
``refine``). Features go down by the FE restriction R = M_c⁻¹ Pᵀ M_f (the L2 projection onto the
coarse space; R P = I) and up by the prolongation P (Lagrange interpolation of coarse functions,
exact as V_c ⊂ V_f), with ``fine_layers`` light message-passing layers before restriction and
after prolongation (plus a skip connection) on every finer level, and the large processor
(``coarse_depth`` layers) on the coarsest, where a hop spans 2^coarsening fine edges.

``MeshGNN`` (``opl.models.mesh_gnn``) is the baseline without the FE structure. The common
part of the three -- spaces, graphs, Dirichlet dofs, checks -- is ``opl.models.mesh_operator``.

Both take and return dof tensors ``(B, C, n_dofs)`` in the order of scikit-fem's basis on the
mesh ``load_mesh(mesh, level, refine)`` (the order of the dataset files of ``data_gen.fem``); use
``space`` (``opl.models.fe_space.FESpace``) to evaluate predictions as FE functions or to
transfer them to another mesh by interpolation.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from opl.models.fe_space import MassSolver, SparseMatrix
from opl.models.mesh_operator import MeshOperator, on_dofs
from opl.models.message_passing import MeshProcessor


class FEOperator(MeshOperator):
    """SPON's encoder and decoder, shared by the single-level and multigrid models."""

    def _build_fe(self) -> None:
        self.encoder_rhs = SparseMatrix(self.space.mixed_mass(self.input_space))
        self.mass_solvers = nn.ModuleList(MassSolver(space) for space in self.spaces)
        """The solve M a = b on each level, coarsest first."""

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """E: input dofs (B, C_in, n_in) on W_h -> their L2 projection (B, C_in, n) onto V_h."""
        self._check_input(x)
        rhs = on_dofs(self.encoder_rhs, x.transpose(1, 2))
        return on_dofs(self.mass_solvers[-1], rhs).transpose(1, 2)

    def decode(self, h: torch.Tensor) -> torch.Tensor:
        """Features (B, n, w) -> output dofs v (B, C_out, n), normalised units."""
        return self.head(h).transpose(1, 2)

    def impose(self, u: torch.Tensor, boundary_values: torch.Tensor | None = None) -> torch.Tensor:
        """Output dofs u (B, C_out, n) in physical units with the Dirichlet dofs set to
        ``boundary_values`` (default 0), bit for bit: u = (1 − m) u + m g as a selection."""
        if boundary_values is None:
            return u.masked_fill(self.dirichlet_mask, 0.0)
        if boundary_values.shape[-2:] != u.shape[-2:]:
            raise ValueError(
                f"boundary_values: expected dofs shaped (B, {u.shape[1]}, {u.shape[2]}), got "
                f"{tuple(boundary_values.shape)}"
            )
        return torch.where(self.dirichlet_mask, boundary_values.to(u.dtype), u)


class SPON(FEOperator):
    """SPON on one FE space: projection encoder, ``depth`` message-passing layers of width
    ``width`` on the dof graph, decoder with exact Dirichlet values (see the module docstring).

    ``mesh``/``level``/``refine`` name the mesh as ``data_gen.fem.mesh.load_mesh`` does (a mesh
    of meshes/ or a file path; the dataset's own generator options), ``element`` the output
    space V_h, ``input_element`` the input's space W_h (default: V_h), ``dirichlet`` the boundary
    parts where the output is prescribed and ``dirichlet_channels`` which output channels
    (default: all).
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
        self._build_fe()
        self.processor = MeshProcessor(width, depth)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Input dofs (B, C_in, n_in) -> output dofs (B, C_out, n), both normalised."""
        level = self.levels[-1]
        h = self.lift(self._lift_input(self.encode(x)))
        return self.decode(self.processor(h, level.edges, level.geometry))


class MultigridSPON(FEOperator):
    """SPON on a hierarchy of nested FE spaces (see the module docstring).

    The finest mesh is ``load_mesh(mesh, level, refine)`` (the data's), the coarsest
    ``load_mesh(mesh, level, refine - coarsening)``. ``coarse_depth`` layers run on the coarsest
    level, ``fine_layers`` before restriction and after prolongation on each finer one. The other
    arguments are SPON's.
    """

    ARG_LIMITS = {
        **MeshOperator.ARG_LIMITS,
        "coarsening": 8,
        "coarse_depth": 256,
        "fine_layers": 64,
    }

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        mesh: str = "lshape",
        level: int = 0,
        refine: int = 1,
        coarsening: int = 1,
        element: str = "P1",
        input_element: str | None = None,
        dirichlet: Sequence[str] = (),
        dirichlet_channels: Sequence[int] | None = None,
        width: int = 64,
        coarse_depth: int = 8,
        fine_layers: int = 1,
    ) -> None:
        super().__init__()
        if not isinstance(coarsening, int) or coarsening < 1:
            raise ValueError(f"coarsening: expected an integer >= 1 (levels), got {coarsening!r}")
        self._build(
            in_channels, out_channels, mesh, level, refine, element, input_element,
            dirichlet, dirichlet_channels, width, coarsening,
        )  # fmt: skip
        self._build_fe()
        self.prolongations, self.restriction_rhs = nn.ModuleList(), nn.ModuleList()
        for coarse, fine in zip(self.spaces, self.spaces[1:], strict=False):
            prolongation = coarse.evaluation_matrix(fine.positions)
            self.prolongations.append(SparseMatrix(prolongation))
            self.restriction_rhs.append(SparseMatrix((prolongation.T @ fine.mass).tocsr()))
        self.pre = nn.ModuleList(MeshProcessor(width, fine_layers) for _ in range(coarsening))
        self.post = nn.ModuleList(MeshProcessor(width, fine_layers) for _ in range(coarsening))
        self.coarse = MeshProcessor(width, coarse_depth)

    def prolong(self, k: int, h: torch.Tensor) -> torch.Tensor:
        """P: features (B, n_k, w) on level k -> (B, n_{k+1}, w) on level k + 1 (interpolation)."""
        return on_dofs(self.prolongations[k], h)

    def restrict(self, k: int, h: torch.Tensor) -> torch.Tensor:
        """R = M_k⁻¹ Pᵀ M_{k+1}: features on level k + 1 -> their L2 projection onto level k."""
        return on_dofs(self.mass_solvers[k], on_dofs(self.restriction_rhs[k], h))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Input dofs (B, C_in, n_in) -> output dofs (B, C_out, n), both normalised."""
        h = self.lift(self._lift_input(self.encode(x)))
        skips = []
        for k in reversed(range(len(self.spaces) - 1)):  # down: finest -> coarsest
            fine = self.levels[k + 1]
            h = self.pre[k](h, fine.edges, fine.geometry)
            skips.append(h)
            h = self.restrict(k, h)
        coarse = self.levels[0]
        h = self.coarse(h, coarse.edges, coarse.geometry)
        for k in range(len(self.spaces) - 1):  # up: coarsest -> finest
            fine = self.levels[k + 1]
            h = self.post[k](self.prolong(k, h) + skips.pop(), fine.edges, fine.geometry)
        return self.decode(h)
