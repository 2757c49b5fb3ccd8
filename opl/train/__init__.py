"""Training with PyTorch Lightning: LightningModules and the CLI glue (imports lightning)."""

from opl.train.operator_module import OneCycle, OperatorModule, TrainingDiverged

__all__ = ["OneCycle", "OperatorModule", "TrainingDiverged"]
