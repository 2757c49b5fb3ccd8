"""Neural operator models (plain torch modules, configured by JSON-friendly hyperparameters).

``MODELS`` is the allow-list of classes a bundle may name (``opl.export``).
"""

from opl.models.base import Operator
from opl.models.mgno import MgNO

MODELS: dict[str, type[Operator]] = {"MgNO": MgNO}
"""Model classes by the name bundles store; nothing else is ever built from a bundle."""

__all__ = ["MODELS", "MgNO", "Operator"]
