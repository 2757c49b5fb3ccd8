"""The CUDA kernels (``kernels/``, ``opl.ops.kernels``): every ``.cu`` compiles with nvcc and the
binding with g++ against the installed torch headers, warnings as errors; the formulas the
Gaussian-feature kernel implements, in direct form, equal the reference and its autograd; the
loader and ``OPL_KERNELS``; and, on a GPU, the kernel against the float64 reference."""

from __future__ import annotations

import ctypes
import math
import shutil
import subprocess
import sys
import sysconfig
import warnings
from pathlib import Path

import pytest
import torch

from opl.ops import gaussian_features, kernels

requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

MAX_ELEMENTS = 1 << 22
OUTPUTS = ("values", "gradients", "curvatures", "grad_x", "grad_means", "grad_scales", "grad_f")


def find_nvcc() -> str | None:
    """nvcc on the PATH, or in ``$CUDA_HOME/bin`` as torch finds it."""
    from torch.utils.cpp_extension import CUDA_HOME

    if found := shutil.which("nvcc"):
        return found
    candidate = Path(CUDA_HOME or "/usr/local/cuda") / "bin" / "nvcc"
    return str(candidate) if candidate.is_file() else None


def cuda_include_dir(nvcc: str) -> str:
    """The include directory of nvcc's toolkit (``TOP`` of ``nvcc --dryrun``: nvcc may be a
    wrapper script outside the toolkit)."""
    dryrun = subprocess.run(
        [nvcc, "--dryrun", "-x", "cu", "-c", "/dev/null", "-o", "/dev/null"],
        capture_output=True,
        text=True,
    )
    for line in dryrun.stderr.splitlines():
        if line.startswith("#$ TOP="):
            return str(Path(line.removeprefix("#$ TOP=").strip()).resolve() / "include")
    raise AssertionError(f"no TOP= in the output of nvcc --dryrun:\n{dryrun.stderr}")


# ---- compile checks ----------------------------------------------------------------------------


def test_the_kernel_sources_are_found():
    assert kernels.BINDING.is_file()
    assert kernels.KERNEL_DIR / "gaussian_features.cu" in kernels.cuda_sources()


@pytest.mark.parametrize("arch", kernels.CHECKED_ARCHITECTURES)
@pytest.mark.parametrize("source", kernels.cuda_sources(), ids=lambda path: path.name)
def test_every_cu_file_compiles_with_nvcc_without_warnings(source, arch, tmp_path):
    nvcc = find_nvcc()
    if nvcc is None:
        pytest.skip("nvcc not found (PATH, CUDA_HOME): the .cu compile check needs the toolkit")
    command = [
        nvcc,
        f"-arch={arch}",
        "-cubin",
        *kernels.NVCC_FLAGS,
        *kernels.NVCC_WARNING_FLAGS,
        "-o",
        str(tmp_path / f"{source.stem}.cubin"),
        str(source),
    ]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, f"{' '.join(command)}\n{result.stderr}"


def test_the_binding_compiles_against_the_installed_torch_headers():
    from torch.utils.cpp_extension import include_paths

    compiler, nvcc = shutil.which("g++"), find_nvcc()
    if compiler is None or nvcc is None:
        pytest.skip("g++ or nvcc not found: the binding check needs g++ and the CUDA headers")
    # torch's headers as system headers: they trip -Wextra (unused parameters), and -isystem
    # silences warnings inside them only, so the binding itself is held to -Wall -Wextra -Werror.
    # C10_CUDA_NO_CMAKE_CONFIGURE_FILE: the CPU wheel lacks c10/cuda/impl/cuda_cmake_macros.h.
    headers = [*include_paths(), sysconfig.get_paths()["include"], cuda_include_dir(nvcc)]
    command = [
        compiler,
        "-std=c++17",
        "-fsyntax-only",
        "-Wall",
        "-Wextra",
        "-Werror",
        *(flag for path in headers for flag in ("-isystem", path)),
        "-DC10_CUDA_NO_CMAKE_CONFIGURE_FILE",
        "-DTORCH_EXTENSION_NAME=opl_kernels",
        str(kernels.BINDING),
    ]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, f"{' '.join(command)}\n{result.stderr}"


# ---- the kernel's formulas, in direct form -----------------------------------------------------


def random_inputs(n, k, d, c, seed=0):
    """float64 (x, means, scales, features, weights) and upstream gradients (of values,
    gradients, curvatures) for points and Gaussians in [-1, 1]^d, scales in [0.1, 0.4]."""
    gen = torch.Generator().manual_seed(seed)

    def uniform(*shape):
        return torch.rand(*shape, generator=gen, dtype=torch.float64)

    def normal(*shape):
        return torch.randn(*shape, generator=gen, dtype=torch.float64)

    inputs = (
        uniform(n, d) * 2 - 1,
        uniform(k, d) * 2 - 1,
        0.1 + 0.3 * uniform(k, d),
        normal(k, c),
        torch.linspace(-1.0, 2.0, d, dtype=torch.float64),
    )
    return inputs, (normal(n, c), normal(n, c, d), normal(n, c))


def _pairs(x, means, scales, weights, cutoff):
    """u (N, K, d), a = 1/s² (K, d), u a, g (N, K) with the cutoff, q (N, K)."""
    u = x[:, None, :] - means[None]
    a = 1.0 / (scales * scales)
    ua = u * a
    energy = (u * ua).sum(-1)
    g = torch.where(energy <= cutoff * cutoff, torch.exp(-0.5 * energy), 0.0)
    q = (weights * (ua * ua - a)).sum(-1)
    return u, a, ua, g, q


def direct_forward(x, means, scales, features, weights, cutoff):
    """What the forward kernel computes, by broadcasting over (point, Gaussian) pairs."""
    _, _, ua, g, q = _pairs(x, means, scales, weights, cutoff)
    values = g @ features
    gradients = -torch.einsum("nk,kc,nkj->ncj", g, features, ua)
    return values, gradients, (g * q) @ features


def direct_backward(
    grad_values, grad_gradients, grad_curvatures, x, means, scales, features, weights, cutoff
):
    """What the backward kernels compute: with α = Σ_c gV_c f_kc, β_j = Σ_c gG_cj f_kc,
    ρ = Σ_c gL_c f_kc and h = α - Σ_j β_j u_j a_j + ρ q, per pair
    ∂ℓ/∂f_kc = g (gV_c - Σ_j gG_cj u_j a_j + gL_c q),
    ∂ℓ/∂u_j = g (-u_j a_j h - β_j a_j + 2 ρ w_j u_j a_j²) (+ to x, - to μ),
    ∂ℓ/∂a_j = g (-½ u_j² h - β_j u_j + ρ w_j (2 u_j² a_j - 1)), and ∂a/∂s = -2 a / s."""
    u, a, ua, g, q = _pairs(x, means, scales, weights, cutoff)
    alpha = grad_values @ features.T
    beta = torch.einsum("ncj,kc->nkj", grad_gradients, features)
    rho = grad_curvatures @ features.T
    h = alpha - (beta * ua).sum(-1) + rho * q
    grad_features = (
        g.T @ grad_values
        - torch.einsum("nk,ncj,nkj->kc", g, grad_gradients, ua)
        + (g * q).T @ grad_curvatures
    )
    h, rho = h[..., None], rho[..., None]
    du = g[..., None] * (-ua * h - beta * a + 2.0 * rho * weights * ua * a)
    da = g[..., None] * (-0.5 * u * u * h - beta * u + rho * weights * (2.0 * u * ua - 1.0))
    return du.sum(1), -du.sum(0), da.sum(0) * (-2.0 * a / scales), grad_features


@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("cutoff", [math.inf, 2.0])
def test_the_kernel_formulas_equal_the_reference_and_its_autograd(d, cutoff):
    inputs, upstream = random_inputs(n=30, k=20, d=d, c=3, seed=d)
    expected = torch.ops.opl.gaussian_features(*inputs, cutoff, MAX_ELEMENTS)
    for got, want in zip(direct_forward(*inputs, cutoff), expected, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-11, atol=1e-11)
    # the reference's backward is torch.func.vjp of its forward: autograd of the reference
    expected = torch.ops.opl.gaussian_features_backward(*upstream, *inputs, cutoff, MAX_ELEMENTS)
    for got, want in zip(direct_backward(*upstream, *inputs, cutoff), expected, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-9)


# ---- the Gaussian-feature kernel's code, run on the CPU -----------------------------------------


@pytest.fixture(scope="module")
def emulated_kernel(emulate):
    """kernels/gaussian_features.cu compiled for the CPU (``conftest.emulate``), its launchers'
    argument types declared."""
    lib = emulate("gaussian_features")
    pointer, size = ctypes.c_void_p, ctypes.c_int64
    for dtype in ("f32", "f64"):
        forward = getattr(lib, f"opl_gaussian_features_forward_{dtype}")
        forward.argtypes = [pointer] * 5 + [size] * 4 + [ctypes.c_double] + [pointer] * 4
        backward = getattr(lib, f"opl_gaussian_features_backward_{dtype}")
        backward.argtypes = [pointer] * 8 + [size] * 4 + [ctypes.c_double] + [pointer] * 5
    return lib


def relative_error(got: torch.Tensor, want: torch.Tensor) -> float:
    """max |got - want| / max |want| (0 for empty tensors; NaN in got gives NaN)."""
    if want.numel() == 0:
        return 0.0
    return ((got.double() - want).abs().max() / want.abs().max().clamp_min(1e-300)).item()


def comparable_inputs(n, k, d, c, cutoff, dtype, seed):
    """``random_inputs`` for comparing a kernel in ``dtype`` with a float64 computation: rounded
    to ``dtype`` (so that both see the same numbers), and without the points having a pair with
    E within 1e-3 cutoff² of cutoff² (there, rounding decides whether the pair is kept, and one
    pair kept or dropped moves the outputs by e^{-cutoff²/2} |f|, far beyond any tolerance)."""
    inputs, upstream = (
        tuple(t.to(dtype).double() for t in ts) for ts in random_inputs(n, k, d, c, seed)
    )
    if math.isfinite(cutoff):
        x, means, scales = inputs[:3]
        energy = (((x[:, None] - means[None]) / scales[None]) ** 2).sum(-1)
        keep = ((energy / cutoff**2 - 1.0).abs() > 1e-3).all(1)
        inputs, upstream = (x[keep], *inputs[1:]), tuple(g[keep] for g in upstream)
    return inputs, upstream


@pytest.mark.parametrize(
    "n, k, d, c, cutoff, dtype, multiprocessors",
    [
        (300, 200, 1, 1, math.inf, torch.float64, 1),
        (300, 200, 2, 5, 2.5, torch.float32, 1),  # two channel groups, the second partial
        (300, 200, 3, 16, math.inf, torch.float64, 132),  # four groups, one tile per split
        (1000, 130, 2, 4, 2.0, torch.float64, 1),  # splits of two tiles each
        (1, 129, 1, 9, 3.0, torch.float32, 4),
        (7, 0, 2, 3, math.inf, torch.float64, 1),  # no Gaussians: zero outputs
        (0, 5, 2, 3, math.inf, torch.float64, 1),  # no points
        (4, 5, 2, 0, math.inf, torch.float64, 1),  # no channels
    ],
)
def test_the_kernel_code_run_on_the_cpu_equals_the_direct_form(
    emulated_kernel, n, k, d, c, cutoff, dtype, multiprocessors
):
    emulated_kernel.emulation_set_multiprocessors(multiprocessors)
    inputs, upstream = comparable_inputs(n, k, d, c, cutoff, dtype, seed=n + k + d + c)
    n = inputs[0].shape[0]
    expected = (*direct_forward(*inputs, cutoff), *direct_backward(*upstream, *inputs, cutoff))
    inputs, upstream = ([t.to(dtype) for t in ts] for ts in (inputs, upstream))
    # NaN-filled outputs: an element the kernel does not write shows as NaN
    outputs = [torch.full(t.shape, math.nan, dtype=dtype) for t in expected]
    suffix = "f32" if dtype == torch.float32 else "f64"
    status = getattr(emulated_kernel, f"opl_gaussian_features_forward_{suffix}")(
        *(t.data_ptr() for t in inputs),
        n,
        k,
        d,
        c,
        cutoff,
        *(t.data_ptr() for t in outputs[:3]),
        None,
    )
    assert status == 0
    status = getattr(emulated_kernel, f"opl_gaussian_features_backward_{suffix}")(
        *(t.data_ptr() for t in (*upstream, *inputs)),
        n,
        k,
        d,
        c,
        cutoff,
        *(t.data_ptr() for t in outputs[3:]),
        None,
    )
    assert status == 0
    tolerance = 2e-5 if dtype == torch.float32 else 1e-13
    for name, got, want in zip(OUTPUTS, outputs, expected, strict=True):
        assert relative_error(got, want) < tolerance, name


def test_the_launchers_refuse_an_unsupported_dimension(emulated_kernel):
    inputs, _ = random_inputs(3, 2, 4, 1)
    outputs = [torch.empty(shape, dtype=torch.float64) for shape in ((3, 1), (3, 1, 4), (3, 1))]
    status = emulated_kernel.opl_gaussian_features_forward_f64(
        *(t.data_ptr() for t in inputs),
        3,
        2,
        4,
        1,
        math.inf,
        *(t.data_ptr() for t in outputs),
        None,
    )
    assert status == 1  # cudaErrorInvalidValue


# ---- the loader and OPL_KERNELS ----------------------------------------------------------------


class FailingBuild:
    """A build that fails (no nvcc), counting its calls."""

    def __init__(self):
        self.calls = 0

    def __call__(self):
        self.calls += 1
        raise OSError("no nvcc")


def test_opl_kernels_defaults_to_auto_and_ignores_case(monkeypatch):
    monkeypatch.delenv("OPL_KERNELS", raising=False)
    assert kernels.mode() == "auto"
    monkeypatch.setenv("OPL_KERNELS", " Off ")
    assert kernels.mode() == "off"


def test_an_unknown_opl_kernels_value_is_refused_naming_the_variable_and_the_values(monkeypatch):
    monkeypatch.setenv("OPL_KERNELS", "fast")
    with pytest.raises(ValueError, match=r"OPL_KERNELS='fast': expected one of auto, off, on"):
        kernels.mode()
    with pytest.raises(ValueError, match="OPL_KERNELS"):
        kernels.Loader(FailingBuild()).active()


def test_off_uses_the_reference_without_building(monkeypatch):
    monkeypatch.setenv("OPL_KERNELS", "off")
    build = FailingBuild()
    assert kernels.Loader(build).active() is None
    assert build.calls == 0


def test_auto_warns_once_and_falls_back_when_the_build_fails(monkeypatch):
    monkeypatch.setenv("OPL_KERNELS", "auto")
    build = FailingBuild()
    loader = kernels.Loader(build)
    with pytest.warns(RuntimeWarning, match="could not be built: no nvcc; using the pure-torch"):
        assert loader.active() is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert loader.active() is None
    assert build.calls == 1


@pytest.mark.parametrize("value", ["on", "require"])
def test_on_and_require_fail_loudly_when_the_build_fails(monkeypatch, value):
    monkeypatch.setenv("OPL_KERNELS", value)
    with pytest.raises(kernels.KernelBuildError, match="could not be built: no nvcc"):
        kernels.Loader(FailingBuild()).active()


def test_the_cuda_slots_run_the_reference_when_kernels_are_off(monkeypatch):
    # the reference is device-agnostic, so the CUDA slot's fallback can run on CPU tensors
    monkeypatch.setenv("OPL_KERNELS", "off")
    inputs, upstream = random_inputs(n=20, k=7, d=2, c=2)
    outputs = kernels._gaussian_features_cuda(*inputs, 3.0, MAX_ELEMENTS)
    expected = torch.ops.opl.gaussian_features(*inputs, 3.0, MAX_ELEMENTS)
    for got, want in zip(outputs, expected, strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=0)
    grads = kernels._gaussian_features_backward_cuda(*upstream, *inputs, 3.0, MAX_ELEMENTS)
    expected = torch.ops.opl.gaussian_features_backward(*upstream, *inputs, 3.0, MAX_ELEMENTS)
    for got, want in zip(grads, expected, strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=0)


def test_the_cpu_path_never_consults_opl_kernels(monkeypatch):
    monkeypatch.setenv("OPL_KERNELS", "not-a-mode")  # would raise if the CUDA slot ran
    inputs, _ = random_inputs(n=5, k=3, d=2, c=1)
    gaussian_features(*inputs[:4])


def test_unsupported_inputs_are_refused_naming_the_limit():
    with pytest.raises(ValueError, match=r"d = 1, 2 or 3, got shape \(5, 4\).*OPL_KERNELS=off"):
        kernels._check_gaussian_features_supported(torch.zeros(5, 4))
    with pytest.raises(ValueError, match="float32 and float64, got torch.float16"):
        kernels._check_gaussian_features_supported(torch.zeros(5, 2, dtype=torch.float16))


def test_importing_opl_builds_nothing():
    code = (
        "import sys, opl, opl.ops\n"
        "from opl.ops import kernels\n"
        "assert 'torch.utils.cpp_extension' not in sys.modules\n"
        "assert kernels.LOADER._module is None and kernels.LOADER._error is None\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ---- on a GPU: the kernel against the float64 reference ----------------------------------------

# Error of the kernel relative to the largest magnitude of each output (the reference in float64
# on the CPU). float32: the kernel's CPU emulation (kernels/gaussian_features.cu compiled as C++
# with its threads as std::threads) gave at most 1e-6 on these inputs, ~17 ε for sums of a few
# hundred terms; 2e-5 leaves a factor 20 for the GPU's fused multiply-adds, expf and atomics.
# float64: the reference's GEMM expansion is good to ~1e-12 here (opl.ops.gaussian_features).
TOLERANCE = {torch.float32: 2e-5, torch.float64: 1e-10}


def poison_allocator(shapes, dtype):
    """Leave NaN-filled blocks of the outputs' sizes in the CUDA caching allocator, which the
    next allocations of those sizes reuse: an output element the kernel does not write shows."""
    blocks = [torch.full(shape, math.nan, dtype=dtype, device="cuda") for shape in shapes]
    del blocks


def kernel_against_reference(n, k, d, c, cutoff, dtype, seed=0):
    inputs, upstream = comparable_inputs(n, k, d, c, cutoff, dtype, seed)
    expected = (
        *torch.ops.opl.gaussian_features(*inputs, cutoff, MAX_ELEMENTS),
        *torch.ops.opl.gaussian_features_backward(*upstream, *inputs, cutoff, MAX_ELEMENTS),
    )
    inputs, upstream = ([t.to("cuda", dtype) for t in ts] for ts in (inputs, upstream))
    poison_allocator([t.shape for t in expected[:3]], dtype)
    outputs = torch.ops.opl.gaussian_features(*inputs, cutoff, MAX_ELEMENTS)
    poison_allocator([t.shape for t in expected[3:]], dtype)
    grads = torch.ops.opl.gaussian_features_backward(*upstream, *inputs, cutoff, MAX_ELEMENTS)
    for name, got, want in zip(OUTPUTS, (*outputs, *grads), expected, strict=True):
        assert got.dtype == dtype and got.device.type == "cuda" and got.shape == want.shape
        error = relative_error(got.cpu(), want)  # NaN if an element was not written
        assert error < TOLERANCE[dtype], (name, error)


@requires_cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("cutoff", [math.inf, 2.5])
@pytest.mark.parametrize("c", [1, 3, 4, 5, 16])
@pytest.mark.parametrize("d", [1, 2, 3])
def test_the_kernel_equals_the_float64_reference(monkeypatch, d, c, cutoff, dtype):
    monkeypatch.setenv("OPL_KERNELS", "require")
    # N and K not multiples of the kernel's block and tile (128)
    kernel_against_reference(n=300, k=200, d=d, c=c, cutoff=cutoff, dtype=dtype, seed=d + c)


@requires_cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_the_kernel_splits_long_point_ranges_correctly(monkeypatch, dtype):
    monkeypatch.setenv("OPL_KERNELS", "require")
    # 16 Gaussian blocks x 4 channel groups: point splits of several tiles, the last one partial
    kernel_against_reference(n=5000, k=2000, d=2, c=16, cutoff=math.inf, dtype=dtype)


@requires_cuda
def test_autograd_through_the_op_uses_the_kernel_and_matches_the_reference(monkeypatch):
    monkeypatch.setenv("OPL_KERNELS", "require")
    inputs, _ = random_inputs(n=257, k=131, d=3, c=5)
    grads = []
    for device in ("cpu", "cuda"):
        leaves = [t.to(device).requires_grad_(True) for t in inputs[:4]]
        values, gradients, curvatures = gaussian_features(*leaves, inputs[4].to(device), 3.0)
        (values.sum() + gradients.square().sum() + curvatures.sin().sum()).backward()
        grads.append([t.grad.cpu() for t in leaves])
    for name, cpu, cuda in zip(OUTPUTS[3:], *grads, strict=True):
        assert relative_error(cuda, cpu) < TOLERANCE[torch.float64], name


@requires_cuda
def test_off_runs_the_reference_on_cuda(monkeypatch):
    monkeypatch.setenv("OPL_KERNELS", "off")
    monkeypatch.setattr(kernels.LOADER, "module", FailingBuild())
    inputs, _ = random_inputs(n=40, k=9, d=2, c=3)
    expected = torch.ops.opl.gaussian_features(*inputs, math.inf, MAX_ELEMENTS)
    outputs = torch.ops.opl.gaussian_features(*(t.cuda() for t in inputs), math.inf, MAX_ELEMENTS)
    for got, want in zip(outputs, expected, strict=True):
        torch.testing.assert_close(got.cpu(), want, rtol=1e-12, atol=1e-12)  # the same code


@requires_cuda
def test_the_binding_refuses_bad_tensors_naming_them(monkeypatch):
    monkeypatch.setenv("OPL_KERNELS", "require")
    module = kernels.LOADER.module()
    inputs, _ = random_inputs(n=4, k=3, d=2, c=2)
    x, means, scales, features, weights = (t.cuda() for t in inputs)
    with pytest.raises(RuntimeError, match="weights must be a CUDA tensor"):
        module.gaussian_features_forward(x, means, scales, features, weights.cpu(), math.inf)
    with pytest.raises(RuntimeError, match=r"scales must have shape \[3, 2\]"):
        module.gaussian_features_forward(x, means, scales[:2], features, weights, math.inf)
    with pytest.raises(RuntimeError, match="features must be contiguous"):
        module.gaussian_features_forward(x, means, scales, features.T.contiguous().T, weights, 1.0)
    points, gaussians = torch.zeros(4, 4, device="cuda"), torch.ones(3, 4, device="cuda")
    with pytest.raises(ValueError, match="d = 1, 2 or 3"):
        gaussian_features(points, gaussians, gaussians, torch.ones(3, 1, device="cuda"))
