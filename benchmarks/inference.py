"""Inference latency of a Darcy MgNO surrogate next to the sparse direct solve it replaces.

For the official Darcy MgNO (572,661 parameters; from ``--bundle``, or freshly initialised, which
times the same arithmetic) at 64² and 256² with batch 1 and 32, this measures the median wall
time of one call of

* eager torch (``torch.no_grad``, float32),
* ``torch.compile`` (default mode; compilation excluded: warm-up calls first),
* ONNX Runtime (CPU execution provider) on the model exported by ``opl.export.export_onnx``,

and the time of the sparse direct solve (``data_gen.grid.fd.solve_dirichlet``) of the same
Darcy samples (batch × one solve), and reports the speed-up solve / fastest surrogate. All
timings include normalisation (the surrogate takes and returns physical fields). The report
(machine, date, command, table) goes to stdout and optionally ``--markdown FILE``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Callable

import numpy as np
import torch
from machine import log, machine_name, publish  # benchmarks/machine.py

from data_gen.generator import sample_rng
from data_gen.grid.darcy import Darcy
from data_gen.grid.fd import solve_dirichlet
from opl.data.normalize import ChannelNormalizer
from opl.export import LoadedOperator, export_onnx, load
from opl.models import MgNO


def median_seconds(fn: Callable[[], object], repeats: int, warmup: int = 2) -> float:
    """Median wall time of ``repeats`` calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def surrogate(bundle: str | None) -> LoadedOperator:
    """The bundle's operator, or a freshly initialised official Darcy MgNO."""
    if bundle:
        return load(bundle)
    torch.manual_seed(0)
    model = MgNO()
    metadata = {"class": "MgNO", "grid": {"shape": [64, 64]}, "provenance": {}}
    return LoadedOperator(model, ChannelNormalizer(1), ChannelNormalizer(1), metadata).eval()


def darcy_inputs(resolution: int, batch: int) -> np.ndarray:
    """``batch`` piecewise-constant Darcy coefficients at ``resolution``², shape (B, 1, n, n)."""
    generator = Darcy(resolution=resolution)
    return np.stack(
        [generator.grf.sample(sample_rng(7, i), (resolution, resolution)) for i in range(batch)]
    )[:, None].astype(np.float32)


def row(op: LoadedOperator, resolution: int, batch: int, repeats: int, tmp: str) -> list[str]:
    """Latencies (ms) of the three runtimes and of the direct solves for one case."""
    psi = darcy_inputs(resolution, batch)
    a = np.where(psi >= 0, 12.0, 3.0).astype(np.float32)
    x = torch.from_numpy(a)
    with torch.no_grad():
        eager = median_seconds(lambda: op.forward(x), repeats)
        compiled_fn = torch.compile(op.forward)
        compiled = median_seconds(lambda: compiled_fn(x), repeats, warmup=3)
    import onnxruntime as ort

    path = export_onnx(op, os.path.join(tmp, f"mgno{resolution}.onnx"), [resolution, resolution])
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    onnx = median_seconds(lambda: session.run(None, {"x": a}), repeats)
    forcing = np.ones((resolution, resolution))
    one_solve = median_seconds(
        lambda: solve_dirichlet(a[0, 0].astype(np.float64), forcing), max(3, repeats // 2), warmup=1
    )
    solve = one_solve * batch
    best = min(eager, compiled, onnx)
    return [
        f"{resolution}²",
        str(batch),
        f"{1e3 * eager:.3g}",
        f"{1e3 * compiled:.3g}",
        f"{1e3 * onnx:.3g}",
        f"{1e3 * solve:.3g}",
        f"{solve / best:.3g}×",
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--bundle", help="a Darcy MgNO bundle (default: a fresh official MgNO)")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="64² batch 1 only, 3 repeats")
    parser.add_argument("--markdown", help="also write the report to this file")
    args = parser.parse_args(argv)
    op = surrogate(args.bundle)
    cases = [(64, 1)] if args.quick else [(64, 1), (64, 32), (256, 1), (256, 32)]
    repeats = 3 if args.quick else args.repeats
    torch.set_num_threads(os.cpu_count() or 1)
    lines = [
        f"- Machine: {machine_name()}, "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads)",
        f"- Date: {dt.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"- Command: `{shlex.join(['python', *sys.argv])}`",
        "- Model: "
        + (
            f"bundle {args.bundle}"
            if args.bundle
            else "official Darcy MgNO (572,661 parameters), freshly initialised"
        ),
        "",
        "| Grid | Batch | Eager torch (ms) | torch.compile (ms) | ONNX Runtime (ms) "
        "| Sparse direct solves (ms) | Speed-up (solve / fastest) |",
        "|---|---|---|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for resolution, batch in cases:
            log(f"{resolution}² batch {batch}")
            lines.append("| " + " | ".join(row(op, resolution, batch, repeats, tmp)) + " |")
    publish(lines, args.markdown)


if __name__ == "__main__":
    main()
