"""The dataset format's vocabulary, shared by the writers (``data_gen``) and the readers
(``opl.data``): its version, the roles of fields, the spatial dimensions and the grid
conventions of their coordinates (docs/FORMAT.md). Needs numpy only.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from opl.errors import ConfigError

FORMAT_VERSION = "1.0"
"""Version of the dataset format (the root attribute ``opl_format``); readers refuse files of a
newer major version."""
SPATIAL_DIMS: tuple[str, ...] = ("x", "y", "z")
"""The names of spatial dimensions, in the order they are stored (last)."""
Role = Literal["input", "output", "parameter", "reference", "prediction"]
ROLES: tuple[str, ...] = ("input", "output", "parameter", "reference", "prediction")
"""What a field is to a model: ``prediction`` marks a model's output written by ``opl predict``."""
DOF_DIMS: dict[str, str] = {"P1": "node", "P2": "p2_dof"}
"""The dimension that holds the dofs of a field on a mesh, by its Lagrange space."""
MESH_DIMS: dict[str, str] = {dim: element for element, dim in DOF_DIMS.items()}
"""The inverse of ``DOF_DIMS``: the dimensions of fields on a mesh, and the Lagrange space each
one holds the dofs of."""
GridConvention = Literal["nodes", "cells", "periodic"]
GRID_CONVENTIONS: tuple[str, ...] = ("nodes", "cells", "periodic")
"""Where the points of a grid axis of [lo, hi] lie: ``nodes`` lo + i h with both ends (h = (hi -
lo)/(n - 1)), ``cells`` the cell centres lo + (i + ½) h (h = (hi - lo)/n), ``periodic`` lo + i h
without the end point hi ≡ lo (h = (hi - lo)/n)."""


def unit_grid(n: int, convention: str) -> np.ndarray:
    """The ``n`` points of ``convention`` (``GRID_CONVENTIONS``) on [0, 1]."""
    if convention == "nodes":
        return np.linspace(0.0, 1.0, n)
    if convention == "cells":
        return (np.arange(n) + 0.5) / n
    if convention == "periodic":
        return np.arange(n) / n
    raise ConfigError(f"grid: {convention!r}; expected one of {', '.join(GRID_CONVENTIONS)}")


def convention_of(values: np.ndarray) -> str | None:
    """The convention whose points on [0, 1] ``values`` are (to 1e-6 of the spacing), if any."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or values.size < 2:
        return None
    h = abs(values[1] - values[0])
    for convention in GRID_CONVENTIONS:
        if np.allclose(values, unit_grid(values.size, convention), rtol=0, atol=1e-6 * h):
            return convention
    return None
