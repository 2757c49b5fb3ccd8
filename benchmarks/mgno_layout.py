"""MgNO on the CPU with channels-last hidden fields (``opl.models.mgno.cpu_layout``, the default)
against the contiguous layout, side by side in one run.

For each grid of n points per dimension (``--resolutions``; ``--n-dim`` 2 or 3):
``opl.models.MgNO(n_dim=...)`` (the official Darcy configuration, 572,661 parameters in 2-D), a
batch of ``--batch`` random inputs (B, 1, n, ..., n) in float32, and two timings per layout: one
training step (forward, mean-square loss, backward, Adam step) and one inference forward
(``torch.no_grad``). The two layouts alternate, each timed ``--repeats`` times after a warm-up,
and the table gives the medians and their ratio (contiguous / channels-last: above 1,
channels-last is faster). The contiguous layout is ``cpu_layout`` replaced by the identity. The
largest difference between the two layouts' outputs is printed too (float32 round-off: the sums
run in another order).

    python benchmarks/mgno_layout.py --markdown runs/mgno_layout.md
    python benchmarks/mgno_layout.py --n-dim 3 --resolutions 33 49 --batch 2
"""

from __future__ import annotations

import argparse
import datetime as dt
import shlex
import statistics
import sys
import time
from collections.abc import Callable

import torch
from machine import code_version, log, machine_name, publish  # benchmarks/machine.py

import opl.models.mgno as mgno_module
from opl.models import MgNO

LAYOUTS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "channels-last": mgno_module.cpu_layout,
    "contiguous": lambda u: u,
}


def seconds(step: Callable[[], object]) -> float:
    start = time.perf_counter()
    step()
    return time.perf_counter() - start


def measure(n: int, n_dim: int, batch: int, repeats: int) -> dict[str, tuple[float, float]]:
    """Median seconds (training step, inference) per layout on n^n_dim points (the largest
    output difference between the layouts goes to the log)."""
    torch.manual_seed(0)
    model = MgNO(n_dim=n_dim)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    x = torch.randn(batch, 1, *[n] * n_dim)
    y = torch.randn(batch, 1, *[n] * n_dim)

    def train() -> None:
        optimizer.zero_grad()
        (model(x) - y).square().mean().backward()
        optimizer.step()

    def infer() -> torch.Tensor:
        with torch.no_grad():
            return model(x)

    times: dict[str, tuple[list[float], list[float]]] = {k: ([], []) for k in LAYOUTS}
    for repeat in range(repeats + 1):
        for name, layout in LAYOUTS.items():
            mgno_module.cpu_layout = layout
            t_train, t_infer = seconds(train), seconds(infer)
            if repeat:  # the first round warms up
                times[name][0].append(t_train)
                times[name][1].append(t_infer)
    outputs = {}
    for name, layout in LAYOUTS.items():
        mgno_module.cpu_layout = layout
        outputs[name] = infer()
    mgno_module.cpu_layout = LAYOUTS["channels-last"]
    difference = (outputs["channels-last"] - outputs["contiguous"]).abs().max().item()
    scale = outputs["contiguous"].abs().max().item()
    log(f"{n}^{n_dim}: max |difference| {difference:.2e} on outputs of size {scale:.2e}")
    return {k: (statistics.median(v[0]), statistics.median(v[1])) for k, v in times.items()}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-dim", type=int, choices=[2, 3], default=2)
    parser.add_argument("--resolutions", type=int, nargs="+", default=[64, 85, 128, 256])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--markdown", help="also write the report to this file")
    args = parser.parse_args(argv)
    rows = []
    for n in args.resolutions:
        t = measure(n, args.n_dim, args.batch, args.repeats)
        grid = "x".join([str(n)] * args.n_dim)
        fast, plain = t["channels-last"], t["contiguous"]
        rows.append(
            f"| {grid} | {plain[0]:.3f} | {fast[0]:.3f} | {plain[0] / fast[0]:.2f} | "
            f"{plain[1]:.3f} | {fast[1]:.3f} | {plain[1] / fast[1]:.2f} |"
        )
        log(
            f"{grid}: training {plain[0]:.3f} -> {fast[0]:.3f} s, inference {plain[1]:.3f} -> "
            f"{fast[1]:.3f} s"
        )
    lines = [
        f"- Machine: {machine_name()}; torch {torch.__version__} "
        f"({torch.get_num_threads()} threads); code {code_version()}",
        f"- Date: {dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds')}",
        f"- Command: `{shlex.join(['python', 'benchmarks/mgno_layout.py', *argv])}` (batch "
        f"{args.batch}, float32, median of {args.repeats})",
        "",
        "| grid | training step, contiguous (s) | channels-last (s) | ratio | inference, "
        "contiguous (s) | channels-last (s) | ratio |",
        "|---|---|---|---|---|---|---|",
        *rows,
    ]
    publish(lines, args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
