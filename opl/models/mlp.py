"""A plain PINN: a fully connected network ``u: R^d -> R^c`` whose derivatives come from autograd
(Raissi, Perdikaris & Karniadakis 2019): the baseline physics-informed models are compared with.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from opl.models.base import PointwiseModel
from opl.models.pointwise import check_activation, mlp_layers, run_mlp
from opl.physics.fields import Fields, fields_by_autograd


class MLP(PointwiseModel):
    """``u(x) = W_L σ(… σ(W_1 x + b_1) …) + b_L`` with ``hidden`` widths and activation σ
    (``tanh`` or ``sin``), Xavier-normal initialisation.

    Args:
        in_dim: coordinates d.
        out_channels: components c of u.
        hidden: widths of the hidden layers.
        activation: ``tanh`` or ``sin``.
    """

    def __init__(
        self,
        in_dim: int = 2,
        out_channels: int = 1,
        hidden: Sequence[int] = (50, 50, 50, 50),
        activation: str = "tanh",
    ) -> None:
        super().__init__()
        check_activation(activation)
        self.in_dim, self.out_channels, self.activation = in_dim, out_channels, activation
        self.layers = mlp_layers([in_dim, *hidden, out_channels])

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        """``u`` (N, c) at ``points`` (N, d)."""
        return run_mlp(self.layers, self.activation, points)

    def fields(self, points: torch.Tensor, order: int, weights: Sequence[float]) -> Fields:
        """``Fields`` at ``points`` by autograd (double backward for order 2)."""
        return fields_by_autograd(self, points, order, weights)
