"""Training with PyTorch Lightning: LightningModules and the CLI glue (imports lightning)."""

from opl.train.operator_module import OneCycle, OperatorModule, TrainingDiverged
from opl.train.physics_module import LBFGS, PhysicsModule

__all__ = ["LBFGS", "OneCycle", "OperatorModule", "PhysicsModule", "TrainingDiverged"]
