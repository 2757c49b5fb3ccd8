"""Neural operator models (plain torch modules, configured by JSON-friendly hyperparameters).

``MODELS`` is the allow-list of classes a bundle may name (``opl.export``).
"""

from opl.models.base import Operator
from opl.models.lpinn import LPINN
from opl.models.mgno import MgNO
from opl.models.mlp import MLP
from opl.models.pig import PIG
from opl.models.spon import SPON, MeshGNN, MultigridSPON
from opl.models.tno import TNO, PatchTNO

MODELS: dict[str, type[Operator]] = {
    "LPINN": LPINN,
    "MgNO": MgNO,
    "MeshGNN": MeshGNN,
    "MLP": MLP,
    "MultigridSPON": MultigridSPON,
    "PIG": PIG,
    "PatchTNO": PatchTNO,
    "SPON": SPON,
    "TNO": TNO,
}
"""Model classes by the name bundles store; nothing else is ever built from a bundle."""

__all__ = [
    "LPINN",
    "MLP",
    "MODELS",
    "PIG",
    "SPON",
    "MeshGNN",
    "MgNO",
    "MultigridSPON",
    "Operator",
    "PatchTNO",
    "TNO",
]
