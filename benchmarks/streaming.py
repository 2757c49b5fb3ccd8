"""Streaming against in-memory data modules: the memory a training run needs as its dataset grows
tenfold, and the training throughput of each, measured side by side in one run.

What is measured, and how:

* **Data**: the default ``darcy`` generator (piecewise-constant a, f = 1) at ``--resolution``
  (default 128²) nodes, seed 0, ``--samples`` and ten times as many samples (default 200 and
  2,000), generated into ``--out`` unless complete there already.
* **Runs**: ``opl.data.GridDataModule`` with ``streaming=False`` (every training sample read
  into memory at set-up) and ``streaming=True`` (each batch read from the file when it is
  needed, statistics from one streaming pass), with ``num_workers`` 0 and, streaming only, 2
  (two reader processes); all samples train, batch 8, ``shuffle=True``. Each run is a fresh
  spawned process that trains a small MgNO (16 channels, 4 layers, 5 levels; Adam, relative L2
  loss) for one epoch on the CPU with ``lightning.Trainer`` (no validation, logging or
  checkpoints).
* **Reported**: the process's peak resident set (``VmHWM``) after its imports and at the end of
  training, and their difference ("training adds": the data held in memory, the model's
  activations and the readers); the in-memory size of the training tensors; samples per second
  of the epoch (set-up included, since reading the data into memory is part of its cost), and
  the throughput ratio streaming / in-memory.

The Markdown report (machine, software, date, command, table) goes to stdout and optionally to
``--markdown FILE``; progress lines go to stderr. ``--quick`` (64² nodes, 16 and 160 samples) is
a smoke run of about a minute.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import multiprocessing
import os
import platform
import shlex
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import torch
from machine import code_version, log, machine_name, peak_rss_mb, publish

from data_gen.run import generate, parse_run_config

RUNS = [("in memory", False, 0), ("streaming", True, 0), ("streaming, 2 workers", True, 2)]
"""(name, streaming, num_workers) of each run."""


@dataclasses.dataclass(frozen=True)
class Result:
    samples: int
    name: str
    rss_imports_mb: float
    rss_end_mb: float
    tensors_mb: float
    seconds: float

    @property
    def throughput(self) -> float:
        return self.samples / self.seconds


def train_one_epoch(path: str, samples: int, name: str, streaming: bool, workers: int) -> Result:
    """One epoch of a small MgNO on the whole file, in this (fresh) process."""
    import lightning as L

    from opl.data import GridDataModule
    from opl.models import MgNO
    from opl.train import OperatorModule

    torch.set_num_threads(max(1, (os.cpu_count() or 1) - workers))
    rss_imports = peak_rss_mb()
    start = time.perf_counter()
    data = GridDataModule(path, train=(0, samples), streaming=streaming, num_workers=workers)
    L.seed_everything(0, verbose=False)
    module = OperatorModule(MgNO(channels=16, n_layers=4, levels=5), loss="rel_l2")
    trainer = L.Trainer(
        max_epochs=1,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
    )
    trainer.fit(module, datamodule=data)
    seconds = time.perf_counter() - start
    x, y = data.datasets["train"][1][0]
    tensors_mb = samples * (x.numel() + y.numel()) * 4 / 2**20
    return Result(samples, name, rss_imports, peak_rss_mb(), tensors_mb, seconds)


def in_fresh_process(*args) -> Result:
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(train_one_epoch, *args).result()


def ensure_data(path: str, samples: int, resolution: int) -> None:
    mapping = {
        "generator": {"class_path": "darcy", "init_args": {"resolution": resolution}},
        "n_samples": samples,
        "seed": 0,
    }
    start = time.perf_counter()
    generate(parse_run_config(mapping, "benchmarks/streaming.py"), path, progress=False)
    log(f"data: {path} ({samples} samples at {resolution}²) in {time.perf_counter() - start:.0f} s")


def table(results: list[Result]) -> list[str]:
    header = [
        "Samples",
        "Data module",
        "Training tensors (MB)",
        "Peak RSS MB: imports / end",
        "Training adds (MB)",
        "Samples / s (one epoch, set-up included)",
        "Throughput vs in memory",
    ]
    rows = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in results:
        memory = next(m for m in results if m.samples == r.samples and m.name == "in memory")
        rows.append(
            f"| {r.samples:,} | {r.name} | {r.tensors_mb:.0f} | {r.rss_imports_mb:.0f} / "
            f"{r.rss_end_mb:.0f} | {r.rss_end_mb - r.rss_imports_mb:.0f} | {r.throughput:.1f} | "
            f"{r.throughput / memory.throughput:.2f}× |"
        )
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="64², 16 and 160 samples")
    parser.add_argument("--resolution", type=int, help="nodes per side (default 128)")
    parser.add_argument("--samples", type=int, help="the smaller dataset (default 200)")
    parser.add_argument("--out", default="data", help="folder of the data files (default data)")
    parser.add_argument("--markdown", help="also write the report to this file")
    args = parser.parse_args(argv)
    resolution = args.resolution or (64 if args.quick else 128)
    small = args.samples or (16 if args.quick else 200)
    command = shlex.join(["python", *sys.argv])
    start = time.perf_counter()
    results = []
    for samples in (small, 10 * small):
        path = os.path.join(args.out, f"bench_stream_{resolution}_{samples}.h5")
        ensure_data(path, samples, resolution)
        for name, streaming, workers in RUNS:
            results.append(in_fresh_process(path, samples, name, streaming, workers))
            r = results[-1]
            log(f"{samples} samples, {name}: {r.throughput:.1f} samples/s, {r.rss_end_mb:.0f} MB")
    now = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    lines = [
        f"- Machine: {machine_name()} ({platform.platform()})",
        f"- Software: torch {torch.__version__}; code: git {code_version()}",
        f"- Date: {now}",
        f"- Command: `{command}`",
        f"- Data: Darcy {resolution}², {small} and {10 * small} samples; wall time "
        f"{time.perf_counter() - start:.0f} s",
        "",
        *table(results),
    ]
    publish(lines, args.markdown)


if __name__ == "__main__":
    main()
