"""Neural operator models (plain torch modules, configured by JSON-friendly hyperparameters).

``MODELS`` is the allow-list of classes a bundle may name (``opl.export``).
"""

from opl.models.base import Operator
from opl.models.lpinn import LPINN
from opl.models.mgno import MgNO
from opl.models.mlp import MLP
from opl.models.pig import PIG
from opl.models.tno import TNO, PatchTNO

MODELS: dict[str, type[Operator]] = {
    "LPINN": LPINN,
    "MgNO": MgNO,
    "MLP": MLP,
    "PIG": PIG,
    "PatchTNO": PatchTNO,
    "TNO": TNO,
}
"""Model classes by the name bundles store; nothing else is ever built from a bundle."""

__all__ = ["LPINN", "MLP", "MODELS", "PIG", "MgNO", "Operator", "PatchTNO", "TNO"]
