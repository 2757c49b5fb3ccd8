r"""Pieces shared by the physics-informed models ``u: R^d -> R^c`` (PIG, MLP, LPINN).

``propagate`` pushes ``Fields`` (value, gradient, second-order term ``L_w = Σ_j w_j ∂²/∂x_j²``)
through the layers of an MLP in forward mode, exactly:

    linear  v -> W v + b:   ∇ -> W ∇,          L_w -> W L_w
    act     v -> σ(v):      ∇ -> σ'(v) ∇,      L_w -> σ'(v) L_w + σ''(v) Σ_j w_j (∂_j v)²

so a model whose first stage has closed-form derivatives (PIG's Gaussians) needs no double
backward at all.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from opl.physics.fields import Fields

ACTIVATIONS = ("tanh", "sin")


def activation_derivatives(
    name: str, v: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(σ(v), σ'(v), σ''(v))`` for the activation ``name``."""
    if name == "tanh":
        t = torch.tanh(v)
        d1 = 1.0 - t * t
        return t, d1, -2.0 * t * d1
    if name == "sin":
        s = torch.sin(v)
        return s, torch.cos(v), -s
    check_activation(name)
    raise AssertionError("unreachable")


def check_activation(name: str) -> None:
    """Refuse an activation ``activation_derivatives`` does not know."""
    if name not in ACTIVATIONS:
        raise ValueError(f"activation: expected one of {', '.join(ACTIVATIONS)}, got {name!r}")


def mlp_layers(sizes: Sequence[int]) -> nn.ModuleList:
    """Linear layers ``sizes[0] -> sizes[1] -> …``, Xavier-normal weights, zero biases."""
    layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True))
    for layer in layers:
        nn.init.xavier_normal_(layer.weight)
        nn.init.zeros_(layer.bias)
    return layers


def run_mlp(layers: nn.ModuleList, activation: str, v: torch.Tensor) -> torch.Tensor:
    """The MLP's value: the activation between layers, none after the last."""
    for i, layer in enumerate(layers):
        v = layer(v)
        if i < len(layers) - 1:
            v = activation_derivatives(activation, v)[0]
    return v


def propagate(
    layers: nn.ModuleList, activation: str, fields: Fields, weights: torch.Tensor
) -> Fields:
    """``fields`` of the MLP's input mapped to those of its output (module docstring)."""
    u, grad, second = fields.u, fields.grad, fields.second
    for i, layer in enumerate(layers):
        u = layer(u)
        grad = None if grad is None else torch.einsum("oi,nid->nod", layer.weight, grad)
        second = None if second is None else second @ layer.weight.T
        if i == len(layers) - 1:
            break
        u, d1, d2 = activation_derivatives(activation, u)
        if second is not None:
            second = d1 * second + d2 * (grad * grad * weights).sum(-1)
        if grad is not None:
            grad = d1[:, :, None] * grad
    return Fields(u, grad, second)
