"""Neural operator models (plain torch modules, configured by JSON-friendly hyperparameters)."""

from opl.models.mgno import MgNO

__all__ = ["MgNO"]
