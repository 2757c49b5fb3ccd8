"""The CUDA kernels of opl against their PyTorch reference: build, check and time them on a GPU.

One section per kernel (``SECTIONS``); each builds on the compiled module ``opl_kernels``
(``opl.ops.kernels``, built here on first use and cached by torch), checks the float32 kernel
against the float64 reference and times the kernel, the pure-torch reference and
``torch.compile`` of the reference's maths. Timings are CUDA-event medians of ``--repeats`` calls
after ``--warmup`` untimed ones, in float32, each call a forward and a backward pass unless
stated.

Gaussian features (``kernels/gaussian_features.cu``), d = 2, c = 4, no cutoff, points and
Gaussians uniform in [-1, 1]², scales uniform in [0.02, 0.1], for N ∈ {1e4, 1e5, 1e6} points and
K ∈ {1e3, 1e4} Gaussians:

* **kernel**: the binding's forward and backward (the op's CUDA slot without the dispatcher);
* **reference**: the op's pure-torch implementation called directly (GEMM form, chunks of
  ``--max-elements`` (point, Gaussian) pairs, backward by ``torch.func.vjp`` of each chunk);
* **torch.compile**: the reference's chunk function (``_chunk``, the same GEMM form) compiled by
  ``torch.compile`` and differentiated by autograd, chunk by chunk over the same chunks.

FLOPs are counted per (point, Gaussian) pair of the direct form as the kernel's code computes
it (each add, subtract and multiply 1, and ``exp`` 1, a lower bound for its several GPU
instructions), for d = 2 and c = 4: forward 50, backward 76 (grad x) + 134 (grad μ, s,
f), 260 in all (``pair_flops``). The same nominal count is used for all three implementations,
so "% of peak" compares speed, not the arithmetic each one really does. The FP32 peak (no
tensor cores) comes from ``--peak-tflops`` or a table of known GPUs (``PEAK_FP32_TFLOPS``).

Multigrid smoothing step (``kernels/mg_smooth.cu``), ``u + S ⋆ (f - A ⋆ u)`` with C_u = C_f:

* a check of the float32 kernel (forward and all four gradients) against the float64 reference
  for each padding mode;
* one step, forward alone and forward + backward, zeros padding, for B = 8, C = 24 at the grid
  sizes of MgNO's six levels on 421² (421, 211, 106, 53, 27, 14) and at 64² and 256²; B = 32 and
  C = 64 at 64², 256², 421²: the op with the fused **kernel**, the **eager** convolutions of
  ``VCycle.smooth`` (cuDNN) and **torch.compile** of them; the kernel's achieved bandwidth as the
  least traffic of a forward step (read u, f; write out) over its time;
* the default (Darcy) MgNO, forward + backward, at 64², 256², 421² (B = 8) and 64², 256²
  (B = 32), with the kernel (``OPL_KERNELS=require``), eager (``OPL_KERNELS=off``) and
  torch.compile of the eager model.

Usage: ``python benchmarks/gpu_kernels.py [--quick] [--markdown FILE] [--peak-tflops T]``. It
needs a CUDA GPU and nvcc, and exits with a message without them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from machine import code_version, log, machine_name, publish  # benchmarks/machine.py

from opl.models import MgNO
from opl.ops import kernels, mg_smooth
from opl.ops.gaussian_features import _chunk, chunk_size, reference_backward, reference_forward
from opl.ops.mg_smooth import PADDING_MODES, pad
from opl.ops.mg_smooth import reference_backward as smooth_reference_backward
from opl.ops.mg_smooth import reference_forward as smooth_reference_forward

PEAK_FP32_TFLOPS = (("H100 PCIe", 51.2), ("H100", 67.0), ("H200", 67.0), ("A100", 19.5))
"""Dense FP32 peaks (vendor figures, TFLOP/s) by a substring of the device name, first match."""


def peak_tflops(name: str, override: float | None) -> float | None:
    """``override``, else the first entry of ``PEAK_FP32_TFLOPS`` whose key is in ``name``."""
    if override is not None:
        return override
    return next((peak for key, peak in PEAK_FP32_TFLOPS if key in name), None)


def cuda_ms(fn: Callable[[], object], repeats: int, warmup: int) -> float:
    """Median milliseconds of ``repeats`` calls (CUDA events) after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def nvcc_release() -> str:
    """The last line of ``nvcc --version``, or "not found"."""
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        return "not found"
    result = subprocess.run([nvcc, "--version"], capture_output=True, text=True)
    return result.stdout.strip().splitlines()[-1] if result.returncode == 0 else "unknown"


def driver_version() -> str:
    """The NVIDIA driver version from nvidia-smi, or "unknown"."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return "unknown"
    query = [smi, "--query-gpu=driver_version", "--format=csv,noheader"]
    result = subprocess.run(query, capture_output=True, text=True)
    return result.stdout.strip().splitlines()[0] if result.returncode == 0 else "unknown"


def header(peak: float | None) -> list[str]:
    """Machine, GPU, software, date and command lines of the report."""
    props = torch.cuda.get_device_properties(0)
    peak_text = f"{peak:g} TFLOP/s FP32" if peak is not None else "unknown (use --peak-tflops)"
    return [
        f"- Machine: {machine_name()} ({platform.platform()})",
        f"- GPU: {props.name}, {props.multi_processor_count} SMs, "
        f"{props.total_memory / 2**30:.0f} GiB, compute capability {props.major}.{props.minor}; "
        f"peak {peak_text}",
        f"- Software: python {platform.python_version()}, torch {torch.__version__} "
        f"(CUDA {torch.version.cuda}), nvcc {nvcc_release()}, driver {driver_version()}; "
        f"code: git {code_version()}",
        f"- Date: {dt.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"- Command: `{shlex.join(['python', *sys.argv])}`",
    ]


def markdown_table(head: list[str], rows: list[list[str]]) -> list[str]:
    return [
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
        *("| " + " | ".join(row) + " |" for row in rows),
    ]


# ---- Gaussian features -------------------------------------------------------------------------


def pair_flops(d: int, c: int) -> tuple[int, int]:
    """(forward, backward) FLOPs per (point, Gaussian) pair of the direct form, as the kernel
    computes it (kernels/gaussian_features.cu; add, multiply and exp 1 each):

    * shared by every pass: u = x - μ, u a, E (4d), g = exp(-E/2) (2), q (4d): 8d + 2;
    * forward, per channel: f g, F, L_w F (4) and ∇F (2d): 8d + 2 + c (4 + 2d);
    * grad x: α, ρ, β (c (4 + 2d)), h (2 + 2d), the d sums (10d): 20d + 4 + c (4 + 2d);
    * grad μ, s, f: per channel the upstream term, α, ρ, β and the sum (8 + 4d), h (2 + 2d),
      the d sums of μ (10d) and a (13d): 33d + 4 + c (8 + 4d).
    """
    forward = 8 * d + 2 + c * (4 + 2 * d)
    grad_x = 20 * d + 4 + c * (4 + 2 * d)
    grad_params = 33 * d + 4 + c * (8 + 4 * d)
    return forward, grad_x + grad_params


def gaussian_inputs(n: int, k: int, d: int, c: int, dtype: torch.dtype, seed: int = 0):
    """(x, means, scales, features, weights) and upstream gradients on the GPU."""
    gen = torch.Generator(device="cuda").manual_seed(seed)

    def uniform(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=gen, device="cuda", dtype=dtype)

    def normal(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=gen, device="cuda", dtype=dtype)

    inputs = (
        uniform(n, d) * 2 - 1,
        uniform(k, d) * 2 - 1,
        0.02 + 0.08 * uniform(k, d),
        normal(k, c),
        torch.ones(d, device="cuda", dtype=dtype),
    )
    return inputs, (normal(n, c), normal(n, c, d), normal(n, c))


def kernel_call(module, inputs, upstream, cutoff: float) -> Callable[[], object]:
    def run():
        module.gaussian_features_forward(*inputs, cutoff)
        return module.gaussian_features_backward(*upstream, *inputs, cutoff)

    return run


def reference_call(inputs, upstream, cutoff: float, max_elements: int) -> Callable[[], object]:
    def run():
        reference_forward(*inputs, cutoff, max_elements)
        return reference_backward(*upstream, *inputs, cutoff, max_elements)

    return run


def compiled_call(inputs, upstream, cutoff: float, max_elements: int) -> Callable[[], object]:
    """torch.compile of ``_chunk`` (forward and, by autograd, backward), over the reference's
    chunks; the parameter gradients are summed over chunks as the reference does."""
    x, means, scales, features, weights = inputs
    chunk = torch.compile(_chunk)
    step = chunk_size(means.shape[0], max_elements)
    params = [t.detach().requires_grad_(True) for t in (means, scales, features)]

    def run():
        totals = [torch.zeros_like(t) for t in params]
        for i in range(0, x.shape[0], step):
            xi = x[i : i + step].detach().requires_grad_(True)
            outputs = chunk(xi, *params, weights, cutoff)
            grads = torch.autograd.grad(outputs, [xi, *params], [g[i : i + step] for g in upstream])
            for total, part in zip(totals, grads[1:], strict=True):
                total += part
        return totals

    return run


def max_relative_errors(module, n: int, k: int, cutoff: float) -> list[float]:
    """max |kernel (float32) - reference (float64)| / max |reference| for each output and
    gradient."""
    inputs64, upstream64 = gaussian_inputs(n, k, 2, 4, torch.float64, seed=1)
    max_elements = 1 << 24
    expected = (
        *reference_forward(*inputs64, cutoff, max_elements),
        *reference_backward(*upstream64, *inputs64, cutoff, max_elements),
    )
    inputs32, upstream32 = ([t.float() for t in ts] for ts in (inputs64, upstream64))
    got = (
        *module.gaussian_features_forward(*inputs32, cutoff),
        *module.gaussian_features_backward(*upstream32, *inputs32, cutoff),
    )
    return [
        ((a.double() - b).abs().max() / b.abs().max()).item()
        for a, b in zip(got, expected, strict=True)
    ]


def gaussian_features_section(args: argparse.Namespace, peak: float | None) -> list[str]:
    log("building opl_kernels (first build: about a minute of nvcc)")
    start = time.perf_counter()
    module = kernels.LOADER.module()
    build_s = time.perf_counter() - start
    cutoff = math.inf
    check_n, check_k = (2000, 500) if args.quick else (10_000, 1000)
    errors = max_relative_errors(module, check_n, check_k, cutoff)
    names = ("F", "∇F", "L_w F", "grad x", "grad μ", "grad s", "grad f")
    lines = [
        "",
        "## Gaussian features (`kernels/gaussian_features.cu`)",
        "",
        f"- Build (or load of torch's cached build) of `opl_kernels`: {build_s:.1f} s",
        f"- Check, N = {check_n}, K = {check_k}, d = 2, c = 4, float32 kernel against the float64 "
        "reference, max |error| / max |reference|: "
        + ", ".join(f"{name} {error:.1e}" for name, error in zip(names, errors, strict=True)),
        f"- Timing: float32, forward + backward per call, median of {args.repeats} after "
        f"{args.warmup} warm-up calls; chunks of {args.max_elements} pairs for the reference and "
        "torch.compile; FLOPs per pair (d = 2, c = 4): "
        f"{sum(pair_flops(2, 4))} (`pair_flops`)",
        "",
    ]
    if args.quick:
        sizes = [(10**4, 10**3)]
    else:
        sizes = [(n, k) for n in (10**4, 10**5, 10**6) for k in (10**3, 10**4)]
    flops_per_pair = sum(pair_flops(2, 4))
    rows = []
    for n, k in sizes:
        log(f"N = {n}, K = {k}")
        inputs, upstream = gaussian_inputs(n, k, 2, 4, torch.float32)
        calls = {
            "kernel": kernel_call(module, inputs, upstream, cutoff),
            "reference": reference_call(inputs, upstream, cutoff, args.max_elements),
            "compile": compiled_call(inputs, upstream, cutoff, args.max_elements),
        }
        ms = {name: cuda_ms(fn, args.repeats, args.warmup) for name, fn in calls.items()}
        tflops = {name: n * k * flops_per_pair / (t * 1e-3) / 1e12 for name, t in ms.items()}
        percent = (
            " / ".join(f"{100 * tflops[name] / peak:.2g}" for name in calls) if peak else "n/a"
        )
        rows.append(
            [
                f"{n:,}",
                f"{k:,}",
                f"{ms['kernel']:.3g}",
                f"{ms['reference']:.3g}",
                f"{ms['compile']:.3g}",
                f"{ms['reference'] / ms['kernel']:.3g}×",
                f"{ms['compile'] / ms['kernel']:.3g}×",
                f"{tflops['kernel']:.3g}",
                percent,
            ]
        )
        del inputs, upstream, calls
        torch.cuda.empty_cache()
    head = [
        "N",
        "K",
        "Kernel (ms)",
        "Reference (ms)",
        "torch.compile (ms)",
        "Reference / kernel",
        "torch.compile / kernel",
        "Kernel TFLOP/s",
        "% of FP32 peak (kernel / reference / compile)",
    ]
    return lines + markdown_table(head, rows)


# ---- the multigrid smoothing step --------------------------------------------------------------


PEAK_BANDWIDTH_TBS = (("H100 PCIe", 2.0), ("H100", 3.35), ("H200", 4.8), ("A100", 2.0))
"""HBM bandwidths (vendor figures, TB/s) by a substring of the device name, first match."""


def smooth_inputs(batch: int, channels: int, size: int, dtype: torch.dtype, seed: int = 0):
    """(u, f, stiffness, smoother) on the GPU: ``channels`` for both C_u and C_f (as in every
    MgNO layer after the first), weights scaled like PyTorch's default initialisation."""
    gen = torch.Generator(device="cuda").manual_seed(seed)

    def normal(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=gen, device="cuda", dtype=dtype)

    scale = 1.0 / math.sqrt(9 * channels)
    return (
        normal(batch, channels, size, size),
        normal(batch, channels, size, size),
        normal(channels, channels, 3, 3) * scale,
        normal(channels, channels, 3, 3) * scale,
    )


def smooth_calls(tensors, padding: str) -> dict[str, Callable[[], object]]:
    """Forward + backward of one smoothing step three ways: the op with the fused kernel
    (``OPL_KERNELS=require``), the eager convolutions of ``VCycle.smooth`` (two cuDNN
    convolutions, the residual written to memory) and ``torch.compile`` of the same."""
    leaves = [t.detach().requires_grad_(True) for t in tensors]
    grad = torch.randn_like(tensors[0])

    def eager(u, f, stiffness, smoother):
        return u + F.conv2d(pad(f - F.conv2d(pad(u, padding), stiffness), padding), smoother)

    compiled = torch.compile(eager)

    def backward_of(fn):
        def run():
            out = fn(*leaves)
            return torch.autograd.grad(out, leaves, grad)

        return run

    return {
        "kernel": backward_of(lambda *a: mg_smooth(*a, padding)),
        "eager": backward_of(eager),
        "compile": backward_of(compiled),
        "kernel forward": lambda: torch.ops.opl.mg_smooth(*tensors, padding),
        "eager forward": lambda: eager(*tensors),
        "compile forward": lambda: compiled(*tensors),
    }


def smooth_errors(batch: int, channels: int, size: int) -> dict[str, float]:
    """max |kernel (float32) - reference (float64)| / max |reference| of the output and the four
    gradients, per padding mode."""
    errors = {}
    for padding in PADDING_MODES:
        reference = [t.cpu() for t in smooth_inputs(batch, channels, size, torch.float64, 1)]
        grad = torch.randn_like(reference[0])
        expected = (
            smooth_reference_forward(*reference, padding),
            *smooth_reference_backward(grad, *reference, padding),
        )
        leaves = [t.to("cuda", torch.float32).requires_grad_(True) for t in reference]
        out = mg_smooth(*leaves, padding)
        out.backward(grad.to("cuda", torch.float32))
        got = (out.detach(), *(t.grad for t in leaves))
        errors[padding] = max(
            ((a.cpu().double() - b).abs().max() / b.abs().max()).item()
            for a, b in zip(got, expected, strict=True)
        )
    return errors


def mgno_calls(batch: int, size: int) -> dict[str, Callable[[], object]]:
    """Forward + backward of the default (Darcy) MgNO, 4 layers x 24 channels, 6 levels, with
    the kernel, eager (OPL_KERNELS=off) and torch.compile of the eager model."""
    model = MgNO().cuda()
    x = torch.randn(batch, 1, size, size, device="cuda")

    def step(fn, mode):
        def run():
            os.environ[kernels.ENVIRONMENT_VARIABLE] = mode
            model.zero_grad(set_to_none=True)
            fn(x).square().mean().backward()

        return run

    os.environ[kernels.ENVIRONMENT_VARIABLE] = "off"
    compiled = torch.compile(model)
    return {
        "kernel": step(model, "require"),
        "eager": step(model, "off"),
        "compile": step(compiled, "off"),
    }


def mg_smooth_section(args: argparse.Namespace, peak: float | None) -> list[str]:
    os.environ[kernels.ENVIRONMENT_VARIABLE] = "require"
    kernels.LOADER.module()
    name = torch.cuda.get_device_name(0)
    bandwidth = next((b for key, b in PEAK_BANDWIDTH_TBS if key in name), None)
    errors = smooth_errors(4, 24, 45)
    lines = [
        "",
        "## Multigrid smoothing step (`kernels/mg_smooth.cu`)",
        "",
        "- Check, B = 4, C_u = C_f = 24, 45², float32 kernel against the float64 reference, max "
        "|error| / max |reference| over the output and the four gradients: "
        + ", ".join(f"{mode} {error:.1e}" for mode, error in errors.items()),
        f"- Timing: float32, zeros padding, median of {args.repeats} after {args.warmup} warm-up "
        "calls; eager and torch.compile use cuDNN with PyTorch's defaults (TF32 "
        f"{'on' if torch.backends.cudnn.allow_tf32 else 'off'}); the kernel computes in FP32.",
        "- Bandwidth: the least traffic of a forward step (read u and f, write out: 3 B C H W "
        "floats) over its time, next to the GPU's HBM bandwidth "
        f"({bandwidth if bandwidth else 'unknown'} TB/s).",
        "",
    ]
    if args.quick:
        cases = [(8, 24, 64)]
    else:
        sizes = (14, 27, 53, 64, 106, 211, 256, 421)  # MgNO's levels on 421², and 64², 256²
        cases = [(8, 24, n) for n in sizes] + [(32, 24, n) for n in (64, 256, 421)]
        cases += [(8, 64, n) for n in (64, 256, 421)]
    rows = []
    for batch, channels, size in cases:
        log(f"smoothing step: B = {batch}, C = {channels}, {size}²")
        calls = smooth_calls(smooth_inputs(batch, channels, size, torch.float32), "zeros")
        ms = {key: cuda_ms(fn, args.repeats, args.warmup) for key, fn in calls.items()}
        traffic = 3 * batch * channels * size * size * 4
        achieved = traffic / (ms["kernel forward"] * 1e-3) / 1e12
        rows.append(
            [
                f"{batch}",
                f"{channels}",
                f"{size}²",
                f"{ms['kernel forward']:.3g} / {ms['kernel']:.3g}",
                f"{ms['eager forward']:.3g} / {ms['eager']:.3g}",
                f"{ms['compile forward']:.3g} / {ms['compile']:.3g}",
                f"{ms['eager forward'] / ms['kernel forward']:.3g}× / "
                f"{ms['eager'] / ms['kernel']:.3g}×",
                f"{ms['compile forward'] / ms['kernel forward']:.3g}× / "
                f"{ms['compile'] / ms['kernel']:.3g}×",
                f"{achieved:.3g}" + (f" ({100 * achieved / bandwidth:.2g} %)" if bandwidth else ""),
            ]
        )
        torch.cuda.empty_cache()
    head = [
        "B",
        "C",
        "Grid",
        "Kernel ms (fwd / fwd+bwd)",
        "Eager ms",
        "torch.compile ms",
        "Eager / kernel",
        "torch.compile / kernel",
        "Kernel fwd TB/s (% of HBM)",
    ]
    lines += markdown_table(head, rows)
    lines += ["", "Whole MgNO (Darcy default, 572,661 parameters), forward + backward:", ""]
    mgno_cases = [(8, 64)] if args.quick else [(8, 64), (8, 256), (8, 421), (32, 64), (32, 256)]
    rows = []
    for batch, size in mgno_cases:
        log(f"MgNO: B = {batch}, {size}²")
        ms = {
            key: cuda_ms(fn, args.repeats, args.warmup)
            for key, fn in mgno_calls(batch, size).items()
        }
        rows.append(
            [
                f"{batch}",
                f"{size}²",
                f"{ms['kernel']:.3g}",
                f"{ms['eager']:.3g}",
                f"{ms['compile']:.3g}",
                f"{ms['eager'] / ms['kernel']:.3g}×",
                f"{ms['compile'] / ms['kernel']:.3g}×",
            ]
        )
        torch.cuda.empty_cache()
    head = ["B", "Grid", "Kernel (ms)", "Eager (ms)", "torch.compile (ms)", "Eager / kernel",
            "torch.compile / kernel"]  # fmt: skip
    return lines + markdown_table(head, rows)


SECTIONS: tuple[Callable[[argparse.Namespace, float | None], list[str]], ...] = (
    gaussian_features_section,
    mg_smooth_section,
)
"""One function per kernel: (arguments, FP32 peak) -> the section's Markdown lines."""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="one small case, 3 repeats")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--max-elements", type=int, default=1 << 24, help="pairs per chunk")
    parser.add_argument("--peak-tflops", type=float, help="the GPU's FP32 peak (TFLOP/s)")
    parser.add_argument("--markdown", help="also write the report to this file")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        sys.exit("benchmarks/gpu_kernels.py needs a CUDA GPU (torch.cuda.is_available() is False)")
    if args.quick:
        args.repeats, args.warmup = 3, 2
    peak = peak_tflops(torch.cuda.get_device_name(0), args.peak_tflops)
    lines = ["# GPU kernels", "", *header(peak)]
    for section in SECTIONS:
        lines += section(args, peak)
    publish(lines, args.markdown)


if __name__ == "__main__":
    main()
