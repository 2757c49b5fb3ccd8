"""Custom operations: a pure-torch reference of each (the specification and the CPU path)."""

from opl.ops.gaussian_features import cutoff_error_bound, gaussian_features

__all__ = ["cutoff_error_bound", "gaussian_features"]
from opl.ops import kernels  # noqa: E402, F401  (fills the ops' CUDA slots; builds nothing)
