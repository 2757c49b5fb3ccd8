"""Cost against resolution of the transformer neural operators beside MgNO and the FNO: seconds
per training step and peak memory, on one device, side by side in one run.

For each model and square grid n² (``--resolutions``), one training step (forward, relative L2
loss, backward, Adam step) on a batch of ``--batch`` random inputs (B, 1, n, n), float32; the time
is the median of ``--repeats`` steps after one warm-up step. Memory: on CUDA the peak allocated
by torch during the steps (``torch.cuda.max_memory_allocated``); on the CPU the growth of the peak
resident set (``VmHWM``) of a fresh process (spawned per measurement) from just before the first
step to the end. Models:

* ``TNO``: point-wise continuum attention (``opl.models.TNO``, the paper's width 64, 8 heads,
  6 layers, FFN 128; 209,537 parameters), tokens = grid points, so time grows like n⁴ and memory
  like n⁴ without a fused attention kernel, n² with one (on the CPU only up to
  ``--max-pointwise``);
* ``PatchTNO``: 8 x 8 patches (ViT-NO, width 32, 4 heads, 4 layers; 650,977 parameters), 64
  tokens at every n, each a function of (n/8)² points: time and memory grow like n²;
* ``MgNO``: ``opl.models.MgNO()`` (the official Darcy configuration, 572,661 parameters; it
  refuses grids under 33²);
* ``FNO``: neuraloperator's FNO as ``benchmarks/accuracy.py`` trains it (``PaddedFNO``: 24 x 12
  modes per channel pair, width 32, 4 layers, input padded by about 10 % to an even size;
  2,372,449 parameters), when neuraloperator is installed (``opl[bench]``).

Parameters count real numbers (a complex weight counts twice), as in ``accuracy.py``.

    python benchmarks/tno_cost.py --markdown runs/tno_cost.md
    python benchmarks/tno_cost.py --device cuda --resolutions 64 128 256 512
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing
import shlex
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import torch
from accuracy import PaddedFNO, count_parameters, neuralop_available  # benchmarks/accuracy.py
from machine import code_version, machine_name, peak_rss_mb, publish

from opl.models import TNO, MgNO, PatchTNO

MODELS = {
    "TNO": lambda: TNO(width=64, heads=8, layers=6, ffn_width=128, grid="nodes"),
    "PatchTNO": lambda: PatchTNO(
        patches=8, width=32, heads=4, layers=4, ffn_width=128, grid="nodes"
    ),
    "MgNO": lambda: MgNO(),
    **({"FNO": lambda: PaddedFNO(modes=(24, 22))} if neuralop_available() else {}),
}


def measure(name: str, n: int, batch: int, repeats: int, device: str) -> tuple[float, float]:
    """(median seconds per training step, peak memory MB) of model ``name`` at n²."""
    torch.manual_seed(0)
    model = MODELS[name]().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    x = torch.randn(batch, 1, n, n, device=device)
    y = torch.randn(batch, 1, n, n, device=device)

    def step() -> None:
        optimizer.zero_grad()
        out = model(x)
        loss = (torch.linalg.vector_norm(out - y) / torch.linalg.vector_norm(y)).square()
        loss.backward()
        optimizer.step()

    cuda = device.startswith("cuda")
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    before = 0.0 if cuda else peak_rss_mb()
    step()
    times = []
    for _ in range(repeats):
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        step()
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    memory = torch.cuda.max_memory_allocated() / 2**20 if cuda else peak_rss_mb() - before
    return statistics.median(times), memory


def measure_in_fresh_process(*args) -> tuple[float, float]:
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(measure, *args).result()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--resolutions", type=int, nargs="+", default=[64, 128, 256])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--max-pointwise", type=int, default=64, help="largest n for point-wise TNO on the CPU"
    )
    parser.add_argument("--markdown", help="also write the report to this file")
    args = parser.parse_args(argv)
    version = code_version()
    cuda = args.device.startswith("cuda")
    rows = {}
    for name in MODELS:
        for n in args.resolutions:
            if name == "TNO" and not cuda and n > args.max_pointwise:
                rows[name, n] = None
                continue
            run = measure if cuda else measure_in_fresh_process
            rows[name, n] = run(name, n, args.batch, args.repeats, args.device)
            print(f"{name} {n}²: {rows[name, n][0]:.3f} s, {rows[name, n][1]:.0f} MB", flush=True)
    machine = torch.cuda.get_device_name() if cuda else machine_name()
    memory = "peak allocated (MB)" if cuda else "peak RSS growth (MB)"
    lines = [
        f"- Machine: {machine}; torch {torch.__version__}; code {version}",
        f"- Date: {dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds')}",
        f"- Command: `{shlex.join(['python', 'benchmarks/tno_cost.py', *argv])}` (batch "
        f"{args.batch}, float32, median of {args.repeats} steps)",
        "",
        "| model | parameters | "
        + " | ".join(f"s / step at {n}²" for n in args.resolutions)
        + " | "
        + " | ".join(f"{memory} at {n}²" for n in args.resolutions)
        + " |",
        "|---|---|" + "---|" * (2 * len(args.resolutions)),
    ]
    for name in MODELS:
        params = count_parameters(MODELS[name]())
        cells = [
            "not run" if rows[name, n] is None else f"{rows[name, n][0]:.3f}"
            for n in args.resolutions
        ] + [
            "not run" if rows[name, n] is None else f"{rows[name, n][1]:.0f}"
            for n in args.resolutions
        ]
        lines.append(f"| {name} | {params:,} | " + " | ".join(cells) + " |")
    publish(lines, args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
