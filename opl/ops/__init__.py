"""Custom operations: a pure-torch reference of each (the specification and the CPU path)."""

from opl.ops.gaussian_features import gaussian_features

__all__ = ["gaussian_features"]
