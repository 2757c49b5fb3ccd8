"""The model families of ``opl.models`` and what they share.

Every model is an ``Operator``: it records its constructor's keyword arguments (defaults filled
in) in ``init_args``, JSON-ready, so that a trained model can be written as weights plus JSON and
built again without pickles (``opl.export``). Two families build on it:

* ``FieldOperator``: maps input fields ``(B, in_channels, *spatial)`` to output fields
  ``(B, out_channels, *spatial)`` in normalised units, ``n_dim`` spatial axes (grid axes, or
  one axis of FE dofs). Trained by ``opl.train.OperatorModule`` and written as bundles (MgNO,
  TNO, PatchTNO, SPON, MultigridSPON, MeshGNN; a model from elsewhere joins by subclassing it).
* ``PointwiseModel``: a function of the coordinates with ``fields(points, order, weights)``
  returning its values and derivatives there; trained by ``opl.train.PhysicsModule`` against a
  PDE's residual (PIG, MLP, LPINN).

The training module and the bundles read the family's attributes; they never probe a model for
what it might have.
"""

from __future__ import annotations

import functools
import inspect
import warnings
from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from torch import nn


class Operator(nn.Module):
    """Base class of ``opl.models``: ``init_args`` holds the arguments of ``__init__``."""

    init_args: dict[str, Any]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        init = cls.__init__
        signature = inspect.signature(init)

        @functools.wraps(init)
        def recording_init(self, *args: Any, **kw: Any) -> None:
            init(self, *args, **kw)
            if type(self) is cls:  # the most derived class records its own arguments
                bound = signature.bind(self, *args, **kw)
                bound.apply_defaults()
                self.init_args = {
                    name: _plain(value) for name, value in bound.arguments.items() if name != "self"
                }

        cls.__init__ = recording_init


class FieldOperator(Operator):
    """Fields to fields: ``forward(x)`` maps ``(B, in_channels, *spatial)`` (normalised inputs)
    to ``(B, out_channels, *spatial)`` with ``n_dim`` spatial axes.

    What every member declares, and the training module and bundles read:

    * ``in_channels``, ``out_channels``, ``n_dim``: set in ``__init__``.
    * ``other_grids``: what a trained model does on a grid other than its training grid --
      ``accept`` (discretisation-invariant: the same operator at any resolution), ``warn`` (it
      runs, but its learned stencils are tied to the training spacing, so it is another
      operator) or ``refuse`` (it is built on one grid or mesh). ``check_grid`` acts on it,
      for bundles (``LoadedOperator``) and in validation, test and predict (``OperatorModule``).
    * ``impose(u)``: the model's constraint on its prediction in physical units, after
      decoding (SPON: the Dirichlet values, exactly); the identity for most models.
    * ``on_mesh``: True for operators on FE dofs, which check the data's dof positions
      (``check_mesh``) and are trained with a loss that needs no grid (``rel_l2``).
    * ``base_mesh``, ``mesh_sha256``: the FE mesh the model is built on (carried by its bundle)
      and the fingerprint of its finest FE space; None for grid operators.
    """

    in_channels: int
    out_channels: int
    n_dim: int
    other_grids: ClassVar[str] = "warn"
    on_mesh: ClassVar[bool] = False
    ARG_LIMITS: ClassVar[dict[str, int]] = {}
    """The largest value of each integer argument that sizes the network (an entry of a list
    argument counts as the argument); ``check_args`` enforces them before anything is built."""
    base_mesh: Any = None
    mesh_sha256: str | None = None

    @classmethod
    def check_args(cls, args: dict[str, Any]) -> None:
        """ValueError naming the first argument of ``args`` (constructor keyword arguments, e.g.
        a bundle's ``init_args``) that exceeds ``ARG_LIMITS``: a bound checked before building,
        so an absurd size fails at once instead of allocating until the machine runs out."""
        for name, limit in cls.ARG_LIMITS.items():
            value = args.get(name)
            values = value if isinstance(value, list) else [value]
            for v in values:
                if isinstance(v, int) and not isinstance(v, bool) and v > limit:
                    raise ValueError(f"{name}: {v} exceeds {cls.__name__}'s limit of {limit}")

    def adopt_grid(self, conventions: list[str]) -> None:
        """Take the training data's grid convention, one per spatial axis (``nodes``,
        ``cells``, ``periodic``); models whose arithmetic does not depend on it ignore it."""

    def impose(self, u: torch.Tensor) -> torch.Tensor:
        """The prediction ``u`` (physical units) under the model's constraints: here none."""
        return u

    def check_mesh(self, input_positions: Any, output_positions: Any) -> None:
        """Refuse data whose dof positions are not those of the model's FE spaces (operators
        ``on_mesh``; a grid operator has no dofs to check)."""

    def native_shape(self) -> list[int] | None:
        """The spatial shape the model is built for (a mesh operator: its input dofs), or None
        for a grid operator, which takes any grid."""
        return None


class PointwiseModel(Operator):
    """A function of the coordinates: ``fields(points, order, weights)`` returns its values and
    derivatives up to ``order`` at ``points`` (``opl.physics.Fields``), what a PDE residual
    needs; trained by ``opl.train.PhysicsModule``."""

    def fields(self, points: torch.Tensor, order: int, weights: Sequence[float]) -> Any:
        raise NotImplementedError


def _plain(value: Any) -> Any:
    """Tuples (and other sequences) as lists, so ``init_args`` round-trips through JSON."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [_plain(v) for v in value]
    return value


class GridWarning(UserWarning):
    """A trained operator run on a grid other than its training grid, which it runs on but was
    not trained for (``FieldOperator.other_grids == "warn"``)."""


def check_grid(
    model: FieldOperator,
    trained: Sequence[int] | None,
    shape: Sequence[int],
    warned: set[tuple[int, ...]],
    stacklevel: int = 2,
) -> None:
    """Act on the input grid ``shape`` of a model trained on ``trained`` as
    ``model.other_grids`` says: accept it, warn once per grid (``GridWarning``; ``warned`` holds
    the grids warned about already) or refuse it (``ValueError``). Nothing happens when the
    training grid is unknown (``None`` or empty) or the same."""
    trained, shape = tuple(trained or ()), tuple(shape)
    if not trained or shape == trained or shape in warned:
        return
    name, policy = type(model).__name__, type(model).other_grids
    grids = f"{'x'.join(map(str, trained))}, not {'x'.join(map(str, shape))}"
    if policy == "refuse":
        raise ValueError(f"input: {name} works on its training grid only ({grids})")
    if policy == "warn":
        warned.add(shape)
        warnings.warn(
            f"{name} was trained on {grids}: its learned stencils are tied to the training "
            "spacing, so on this grid it is a different operator (expect larger errors)",
            GridWarning,
            stacklevel=stacklevel + 1,
        )


def predict(
    model: FieldOperator, in_normalizer: nn.Module, out_normalizer: nn.Module, x: torch.Tensor
) -> torch.Tensor:
    """``impose(decode(model(encode(x))))``: a prediction in physical units from inputs in
    physical units, under the model's constraints (``FieldOperator.impose``)."""
    return model.impose(out_normalizer.decode(model(in_normalizer.encode(x))))
