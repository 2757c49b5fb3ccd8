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
* **Decoder** D: the output's dofs, scaled by the output statistics of the training data
  (``output_normalizer``, physical units), *into the homogeneous space plus a lifting*: with m the
  indicator of the Dirichlet dofs (the ``dirichlet`` boundary parts, output channels
  ``dirichlet_channels``) and g the prescribed values (``boundary_values``, default 0),
  u = (1 − m) v + m g -- u_0 = (1 − m) v lies in V_h,0 and m g is the discrete lifting of g (its
  interpolant at the boundary dofs, zero inside). It is computed as a selection
  (``torch.where``), not arithmetic, so the boundary values are g *bit for bit*, whatever the
  network does; it is the same as overwriting the boundary dofs, which we prefer to a smooth
  lifting because it needs no extra solve and is exact in float32 as well.

**Multigrid SPON** (``MultigridSPON``) works on a hierarchy of nested meshes, the finest being the
data's mesh and each coarser one the mesh it was refined from (``data_gen.fem.mesh.load_mesh``'s
``refine``). Features go down by the FE restriction R = M_c⁻¹ Pᵀ M_f (the L2 projection onto the
coarse space; R P = I) and up by the prolongation P (Lagrange interpolation of coarse functions,
exact as V_c ⊂ V_f), with ``fine_layers`` light message-passing layers before restriction and
after prolongation (plus a skip connection) on every finer level, and the large processor
(``coarse_depth`` layers) on the coarsest, where a hop spans 2^coarsening fine edges.

``MeshGNN`` is the baseline without the FE structure: the same processor fed the raw input dofs
(Lagrange interpolation if the spaces differ), decoding with a plain linear head, boundary values
not imposed.

All three take and return dof tensors ``(B, C, n_dofs)`` in the order of scikit-fem's basis on the
mesh ``load_mesh(mesh, level, refine)`` (the order of the dataset files of ``data_gen.fem``); use
``space`` (``opl.models.fe_space.FESpace``) to evaluate predictions as FE functions or to
transfer them to another mesh by interpolation.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from data_gen.fem.mesh import load_mesh
from opl.data.normalize import ChannelNormalizer
from opl.models.base import FieldOperator
from opl.models.fe_space import FESpace, MassSolver, SparseMatrix
from opl.models.message_passing import MeshProcessor, edge_geometry

POSITION_TOLERANCE = 1e-9
"""Dof coordinates of the model's mesh and a dataset's may differ by this much (file round-off)."""


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


def _on_dofs(operator: nn.Module, h: torch.Tensor) -> torch.Tensor:
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


class _FEOperator(MeshOperator):
    """SPON's encoder and decoder, shared by the single-level and multigrid models."""

    decodes_output = True

    def _build_fe(self) -> None:
        self.encoder_rhs = SparseMatrix(self.space.mixed_mass(self.input_space))
        self.mass_solvers = nn.ModuleList(MassSolver(space) for space in self.spaces)
        """The solve M a = b on each level, coarsest first."""
        self.output_normalizer = ChannelNormalizer(self.out_channels)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """E: input dofs (B, C_in, n_in) on W_h -> their L2 projection (B, C_in, n) onto V_h."""
        self._check_input(x)
        rhs = _on_dofs(self.encoder_rhs, x.transpose(1, 2))
        return _on_dofs(self.mass_solvers[-1], rhs).transpose(1, 2)

    def decode(self, h: torch.Tensor, boundary_values: torch.Tensor | None = None) -> torch.Tensor:
        """D: features (B, n, w) -> output dofs (B, C_out, n) with the Dirichlet values exact."""
        v = self.output_normalizer.decode(self.head(h).transpose(1, 2))
        if boundary_values is None:
            return v.masked_fill(self.dirichlet_mask, 0.0)
        if boundary_values.shape[-2:] != v.shape[-2:]:
            raise ValueError(
                f"boundary_values: expected dofs shaped (B, {v.shape[1]}, {v.shape[2]}), got "
                f"{tuple(boundary_values.shape)}"
            )
        return torch.where(self.dirichlet_mask, boundary_values.to(v.dtype), v)


class SPON(_FEOperator):
    """SPON on one FE space: projection encoder, ``depth`` message-passing layers of width
    ``width`` on the dof graph, decoder with exact Dirichlet values (see the module docstring).

    ``mesh``/``level``/``refine`` name the mesh as ``data_gen.fem.mesh.load_mesh`` does (a mesh
    of meshes/ or a file path; the dataset's own generator options), ``element`` the output
    space V_h, ``input_element`` the input's space W_h (default: V_h), ``dirichlet`` the boundary
    parts where the output is prescribed and ``dirichlet_channels`` which output channels
    (default: all).
    """

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

    def forward(self, x: torch.Tensor, boundary_values: torch.Tensor | None = None) -> torch.Tensor:
        """Input dofs (B, C_in, n_in) (normalised) -> output dofs (B, C_out, n), physical units."""
        level = self.levels[-1]
        h = self.lift(self._lift_input(self.encode(x)))
        return self.decode(self.processor(h, level.edges, level.geometry), boundary_values)


class MultigridSPON(_FEOperator):
    """SPON on a hierarchy of nested FE spaces (see the module docstring).

    The finest mesh is ``load_mesh(mesh, level, refine)`` (the data's), the coarsest
    ``load_mesh(mesh, level, refine - coarsening)``. ``coarse_depth`` layers run on the coarsest
    level, ``fine_layers`` before restriction and after prolongation on each finer one. The other
    arguments are SPON's.
    """

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
        return _on_dofs(self.prolongations[k], h)

    def restrict(self, k: int, h: torch.Tensor) -> torch.Tensor:
        """R = M_k⁻¹ Pᵀ M_{k+1}: features on level k + 1 -> their L2 projection onto level k."""
        return _on_dofs(self.mass_solvers[k], _on_dofs(self.restriction_rhs[k], h))

    def forward(self, x: torch.Tensor, boundary_values: torch.Tensor | None = None) -> torch.Tensor:
        """Input dofs (B, C_in, n_in) (normalised) -> output dofs (B, C_out, n), physical units."""
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
        return self.decode(h, boundary_values)


class MeshGNN(MeshOperator):
    """The plain-GNN baseline: SPON's processor without its encoder and decoder.

    Takes the raw input dofs (interpolated onto ``element``'s dofs when ``input_element``
    differs), returns normalised output dofs like the grid operators (decoded by the training
    module), and does not impose boundary values; ``dirichlet`` only says where
    ``boundary_error`` measures them. Arguments as SPON's.
    """

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
            values = _on_dofs(self.interpolation, x.transpose(1, 2)).transpose(1, 2)
        level = self.levels[-1]
        h = self.processor(self.lift(self._lift_input(values)), level.edges, level.geometry)
        return self.head(h).transpose(1, 2)
