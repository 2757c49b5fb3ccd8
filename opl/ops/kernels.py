r"""The CUDA kernels of the opl ops: where they are, how they are built, and the ops' CUDA slots.

Every op of ``opl.ops`` is a ``torch.library.custom_op`` whose default implementation is its
pure-torch reference (the specification, and what runs on the CPU). Importing this module
registers a CUDA implementation of each op (``torch.library.register_kernel(op, "cuda")``,
which leaves every other device on the reference) that calls a compiled kernel:

* ``kernels/*.cu`` at the repository root (next to ``opl/``) hold plain CUDA (no torch headers)
  behind ``extern "C"`` launchers; ``kernels/opl_kernels.cpp`` is the one torch binding, which
  checks the tensors, allocates the outputs and launches on the current CUDA stream.
* They are compiled into the module ``opl_kernels`` by ``torch.utils.cpp_extension.load`` on the
  first call of an op on CUDA tensors (torch caches the build in ``TORCH_EXTENSIONS_DIR``, by
  default ``~/.cache/torch_extensions``, and rebuilds when a source changes), never at import:
  installing or importing opl needs neither nvcc nor a GPU. The kernels need a source checkout
  (an installed wheel has no ``kernels/``).
* The environment variable ``OPL_KERNELS``, read at every CUDA call, chooses: ``auto`` (the
  default) uses the kernels when they build, and otherwise warns once and uses the reference;
  ``off`` always uses the reference; ``on`` or ``require`` raises ``KernelBuildError`` when they
  cannot be built.

``torch.ops.opl.gaussian_features`` and its backward run ``kernels/gaussian_features.cu``
(whose header gives the maths and the design) for float32 and float64 points of d = 1, 2 or 3
dimensions (other points are refused with a ValueError naming the limit; ``OPL_KERNELS=off``
runs the reference for them) and up to 262,140 channels (the binding's RuntimeError beyond).
The kernel takes differences directly, so float32 keeps its precision, and needs no chunking
(memory O(N c d + K (c + d))), so ``max_elements`` is ignored; its backward adds partial sums
with atomics, so the last bits of the gradients vary from run to run.

``torch.ops.opl.mg_smooth`` runs ``kernels/mg_smooth.cu`` (one fused launch per smoothing step,
the residual kept in shared memory) for float32 and float64, any grid and the three padding
modes, while a block's tiles fit in the device's shared memory (Cu = Cf = 64 needs 62.5 KB in
float32; beyond, the reference runs). Its backward runs the same kernel on the adjoint weights
for the gradients of u and f (zeros and circular padding; reflect padding differentiates the
reference) and cuDNN's weight gradients. The kernel's results are deterministic.
"""

from __future__ import annotations

import importlib.resources
import os
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import torch

from opl.ops.gaussian_features import reference_backward, reference_forward
from opl.ops.mg_smooth import PADDING_MODES, adjoint_weight, weight_gradients
from opl.ops.mg_smooth import reference_backward as smooth_reference_backward
from opl.ops.mg_smooth import reference_forward as smooth_reference_forward

ENVIRONMENT_VARIABLE = "OPL_KERNELS"
MODES = ("auto", "off", "on", "require")

KERNEL_DIR = Path(str(importlib.resources.files("opl._kernels")))
"""The CUDA sources: ``kernels/`` of a source checkout, installed as package data
(``opl._kernels``) by a wheel."""

BINDING = KERNEL_DIR / "opl_kernels.cpp"

NVCC_FLAGS = ("-O3", "-std=c++17")
"""nvcc flags of the build (no fast math: the kernels keep the precision of their dtype)."""

NVCC_WARNING_FLAGS = ("--Werror", "all-warnings", "-Xcompiler", "-Wall,-Wextra,-Werror")
"""Added by the compile check of the tests (not by the build, which a new compiler's new warning
should not turn off)."""

CHECKED_ARCHITECTURES = ("sm_80", "sm_90")
"""GPU architectures every ``.cu`` file is compile-checked for (A100, H100/H200)."""


class KernelBuildError(RuntimeError):
    """The CUDA kernels could not be built (the cause is chained)."""


def mode() -> str:
    """``OPL_KERNELS`` (case and surrounding blanks ignored; ``auto`` when unset)."""
    value = os.environ.get(ENVIRONMENT_VARIABLE, "auto").strip().lower()
    if value not in MODES:
        raise ValueError(
            f"{ENVIRONMENT_VARIABLE}={os.environ[ENVIRONMENT_VARIABLE]!r}: expected one of "
            f"{', '.join(MODES)}"
        )
    return value


def cuda_sources() -> list[Path]:
    """Every ``kernels/*.cu`` file, sorted."""
    return sorted(KERNEL_DIR.glob("*.cu"))


def _build() -> ModuleType:
    """Compile (or load torch's cached build of) the binding and every ``.cu`` file."""
    from torch.utils.cpp_extension import load

    sources = cuda_sources()
    if not BINDING.is_file() or not sources:
        raise FileNotFoundError(
            f"no CUDA kernel sources at {KERNEL_DIR} (an installation of opl without its "
            "package data? reinstall opl)"
        )
    return load(
        name="opl_kernels",
        sources=[str(BINDING), *map(str, sources)],
        extra_cflags=["-O3"],
        extra_cuda_cflags=list(NVCC_FLAGS),
    )


class Loader:
    """Builds the kernel module once, on first use, and remembers the module or the failure."""

    def __init__(self, build: Callable[[], ModuleType]) -> None:
        self._build = build
        self._lock = threading.Lock()
        self._module: ModuleType | None = None
        self._error: Exception | None = None
        self._warned = False

    def module(self) -> ModuleType:
        """The compiled module; ``KernelBuildError`` if it did not build (tried once)."""
        with self._lock:
            if self._module is None and self._error is None:
                try:
                    self._module = self._build()
                except Exception as error:  # any failure of the build means no kernels
                    self._error = error
        if self._error is not None:
            raise KernelBuildError(
                f"the opl CUDA kernels could not be built: {self._error}"
            ) from self._error
        return self._module

    def active(self) -> ModuleType | None:
        """The module a CUDA call should use under ``OPL_KERNELS``, None for the reference."""
        chosen = mode()
        if chosen == "off":
            return None
        try:
            return self.module()
        except KernelBuildError as error:
            if chosen != "auto":
                raise
            if not self._warned:
                self._warned = True
                warnings.warn(
                    f"{error}; using the pure-torch reference on CUDA ({ENVIRONMENT_VARIABLE}=off "
                    "says so without this warning, =on makes it an error)",
                    RuntimeWarning,
                    stacklevel=2,
                )
            return None


LOADER = Loader(_build)


def _check_gaussian_features_supported(x: torch.Tensor) -> None:
    """ValueError naming the limit unless the kernel supports x's dtype and dimension."""
    hint = f"({ENVIRONMENT_VARIABLE}=off runs the pure-torch reference instead)"
    if x.dtype not in (torch.float32, torch.float64):
        raise ValueError(f"x: the CUDA kernel supports float32 and float64, got {x.dtype} {hint}")
    if x.dim() != 2 or not 1 <= x.shape[1] <= 3:
        raise ValueError(
            f"x: the CUDA kernel supports (N, d) points with d = 1, 2 or 3, got shape "
            f"{tuple(x.shape)} {hint}"
        )


@torch.library.register_kernel("opl::gaussian_features", "cuda")
def _gaussian_features_cuda(
    x: torch.Tensor,
    means: torch.Tensor,
    scales: torch.Tensor,
    features: torch.Tensor,
    weights: torch.Tensor,
    cutoff: float,
    max_elements: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    module = LOADER.active()
    if module is None:
        return reference_forward(x, means, scales, features, weights, cutoff, max_elements)
    _check_gaussian_features_supported(x)
    inputs = (t.contiguous() for t in (x, means, scales, features, weights))
    return tuple(module.gaussian_features_forward(*inputs, cutoff))


@torch.library.register_kernel("opl::gaussian_features_backward", "cuda")
def _gaussian_features_backward_cuda(
    grad_values: torch.Tensor,
    grad_gradients: torch.Tensor,
    grad_curvatures: torch.Tensor,
    x: torch.Tensor,
    means: torch.Tensor,
    scales: torch.Tensor,
    features: torch.Tensor,
    weights: torch.Tensor,
    cutoff: float,
    max_elements: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    module = LOADER.active()
    tensors = (grad_values, grad_gradients, grad_curvatures, x, means, scales, features, weights)
    if module is None:
        return reference_backward(*tensors, cutoff, max_elements)
    _check_gaussian_features_supported(x)
    return tuple(module.gaussian_features_backward(*(t.contiguous() for t in tensors), cutoff))


def _smooth_kernel_fits(module: ModuleType, u: torch.Tensor, cf: int) -> bool:
    """Whether the fused smoothing kernel can run on ``u``: float32/64, a batch that fits the
    grid (65,535) and tiles of Cu + Cf channels that fit the device's shared memory."""
    if u.dtype not in (torch.float32, torch.float64) or u.shape[0] > 65535:
        return False
    need = module.mg_smooth_shared_bytes(u.shape[1], cf, u.element_size())
    return need <= torch.cuda.get_device_properties(u.device).shared_memory_per_block_optin


@torch.library.register_kernel("opl::mg_smooth", "cuda")
def _mg_smooth_cuda(
    u: torch.Tensor,
    f: torch.Tensor,
    stiffness: torch.Tensor,
    smoother: torch.Tensor,
    padding: str,
) -> torch.Tensor:
    module = LOADER.active()
    if module is None or not _smooth_kernel_fits(module, u, f.shape[1]):
        return smooth_reference_forward(u, f, stiffness, smoother, padding)
    tensors = (t.contiguous() for t in (u, f, stiffness, smoother))
    return module.mg_smooth(*tensors, PADDING_MODES.index(padding))


@torch.library.register_kernel("opl::mg_smooth_backward", "cuda")
def _mg_smooth_backward_cuda(
    grad: torch.Tensor,
    u: torch.Tensor,
    f: torch.Tensor,
    stiffness: torch.Tensor,
    smoother: torch.Tensor,
    padding: str,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    module = LOADER.active()
    if module is None or padding == "reflect" or not _smooth_kernel_fits(module, u, f.shape[1]):
        return smooth_reference_backward(grad, u, f, stiffness, smoother, padding)
    grad_u, q = module.mg_smooth_adjoint(
        grad.contiguous(),
        -adjoint_weight(smoother).contiguous(),
        -adjoint_weight(stiffness).contiguous(),
        PADDING_MODES.index(padding),
    )
    grad_stiffness, grad_smoother = weight_gradients(grad, q, u, f, stiffness, smoother, padding)
    return grad_u, q, grad_stiffness, grad_smoother
