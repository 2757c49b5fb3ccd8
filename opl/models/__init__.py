"""Neural operator models (plain torch modules, configured by JSON-friendly hyperparameters),
in two families (``opl.models.base``): field operators, trained on data and written as bundles,
and pointwise models, trained against a PDE's residual.

``MODELS`` is the allow-list of classes a bundle may name (``opl.export``): the field operators.
"""

from opl.models.base import FieldOperator, Operator, PointwiseModel
from opl.models.lpinn import LPINN
from opl.models.mesh_gnn import MeshGNN
from opl.models.mgno import MgNO
from opl.models.mlp import MLP
from opl.models.pig import PIG
from opl.models.spon import SPON, MultigridSPON
from opl.models.tno import TNO, PatchTNO

MODELS: dict[str, type[FieldOperator]] = {
    "MgNO": MgNO,
    "MeshGNN": MeshGNN,
    "MultigridSPON": MultigridSPON,
    "PatchTNO": PatchTNO,
    "SPON": SPON,
    "TNO": TNO,
}
"""Field operator classes by the name bundles store; nothing else is ever built from a bundle."""

__all__ = [
    "LPINN",
    "MLP",
    "MODELS",
    "PIG",
    "SPON",
    "FieldOperator",
    "MeshGNN",
    "MgNO",
    "MultigridSPON",
    "Operator",
    "PatchTNO",
    "PointwiseModel",
    "TNO",
]
