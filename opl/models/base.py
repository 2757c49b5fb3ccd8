"""What every model of ``opl.models`` shares: it remembers the arguments it was built with.

``Operator`` subclasses record their constructor's keyword arguments (defaults filled in) in
``init_args``, JSON-ready, so that a trained model can be written as weights plus JSON and built
again without pickles (``opl.export``).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from torch import nn


class Operator(nn.Module):
    """Base class of ``opl.models``: ``init_args`` holds the arguments of ``__init__``.

    ``other_grids`` says what a trained model does on a grid other than its training grid:
    ``accept`` (discretisation-invariant: the same operator at any resolution), ``warn`` (it
    runs, but its learned stencils are tied to the training spacing, so it is another operator)
    or ``refuse`` (it is built on one grid or mesh). A bundle's ``LoadedOperator`` acts on it.
    """

    init_args: dict[str, Any]
    other_grids: ClassVar[str] = "warn"

    def adopt_grid(self, conventions: list[str]) -> None:
        """Take the training data's grid convention, one per spatial axis (``nodes``,
        ``cells``, ``periodic``); models whose arithmetic does not depend on it ignore it."""

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


def _plain(value: Any) -> Any:
    """Tuples (and other sequences) as lists, so ``init_args`` round-trips through JSON."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [_plain(v) for v in value]
    return value


def predict(model: nn.Module, in_normalizer: nn.Module, out_normalizer: nn.Module, x: torch.Tensor):
    """``decode(model(encode(x)))``: a prediction in physical units from inputs in physical units.

    A model with ``decodes_output = True`` (SPON: its decoder imposes boundary values exactly,
    which decoding afterwards would spoil) returns physical units itself and is not decoded.
    """
    out = model(in_normalizer.encode(x))
    return out if getattr(model, "decodes_output", False) else out_normalizer.decode(out)
