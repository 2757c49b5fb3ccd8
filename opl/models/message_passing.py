r"""Message passing on the dof graph of a finite-element space (torch_geometric).

One layer updates the features h_i ∈ R^w of every dof i from its graph neighbours N(i) (the dofs
that share a triangle with it) and the geometry of each edge, e_ij = ((x_j − x_i)/ℓ, |x_j − x_i|/ℓ)
with ℓ the mean edge length (so the features do not depend on the mesh size)::

    z = LayerNorm(h),
    m_ij = GELU(A z_i + B z_j + C e_ij + c),           (a message per edge)
    h_i <- h_i + ψ([z_i, mean_{j ∈ N(i)} m_ij]),       ψ a two-layer GELU MLP.

The message is affine in (z_i, z_j, e_ij) before its activation, so A z and B z are computed once
per dof rather than once per edge: a layer costs O(n w² + E w) for n dofs and E edges.
"""

from __future__ import annotations

import torch
from torch import nn
from torch_geometric.nn import MessagePassing

EDGE_FEATURES = 3
"""Per-edge geometry: the scaled offset (2) and the scaled length (1)."""


def edge_geometry(positions: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
    """e_ij = ((x_j − x_i)/ℓ, |x_j − x_i|/ℓ) for edges (2, E) = (j, i), ℓ the mean length."""
    offset = positions[edges[0]] - positions[edges[1]]
    length = offset.norm(dim=1, keepdim=True)
    return torch.cat([offset, length], dim=1) / length.mean()


class MeshMessagePassing(MessagePassing):
    """One residual message-passing layer of width ``width`` (see the module docstring)."""

    def __init__(self, width: int) -> None:
        super().__init__(aggr="mean", node_dim=-2)
        self.norm = nn.LayerNorm(width)
        self.receiver = nn.Linear(width, width)
        self.sender = nn.Linear(width, width, bias=False)
        self.geometry = nn.Linear(EDGE_FEATURES, width, bias=False)
        self.update_mlp = nn.Sequential(
            nn.Linear(2 * width, width), nn.GELU(), nn.Linear(width, width)
        )

    def forward(self, h: torch.Tensor, edges: torch.Tensor, geometry: torch.Tensor) -> torch.Tensor:
        """``h`` (B, n, w), ``edges`` (2, E) (sender, receiver), ``geometry`` (E, 3)."""
        z = self.norm(h)
        mean = self.propagate(
            edges, receiver=self.receiver(z), sender=self.sender(z), edge=self.geometry(geometry)
        )
        return h + self.update_mlp(torch.cat([z, mean], dim=-1))

    def message(
        self, receiver_i: torch.Tensor, sender_j: torch.Tensor, edge: torch.Tensor
    ) -> torch.Tensor:
        return nn.functional.gelu(receiver_i + sender_j + edge)


class MeshProcessor(nn.Module):
    """``depth`` message-passing layers of width ``width`` on one graph."""

    def __init__(self, width: int, depth: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(MeshMessagePassing(width) for _ in range(depth))

    def forward(self, h: torch.Tensor, edges: torch.Tensor, geometry: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            h = layer(h, edges, geometry)
        return h
