"""Custom operations: a pure-torch reference of each (the specification and the CPU path), and
their CUDA kernels (``opl.ops.kernels``, imported here to fill the ops' CUDA slots; it builds
nothing until an op runs on CUDA)."""

from opl.ops import kernels
from opl.ops.gaussian_features import cutoff_error_bound, gaussian_features, gaussian_values
from opl.ops.mg_smooth import mg_smooth

__all__ = ["cutoff_error_bound", "gaussian_features", "gaussian_values", "kernels", "mg_smooth"]
