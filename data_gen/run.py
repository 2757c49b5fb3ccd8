"""Running a generator config: every sample "solve i" through one executor, into one writer.

The executor is a ``concurrent.futures.Executor``: none (in-process) for tests and debugging,
a process pool by default, or a Dask cluster's executor when a scheduler address is given. Workers
only compute; the calling process is the one writer. At most ``2 × workers`` samples are in flight,
so memory stays bounded whatever ``n_samples`` is.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import signal
import sys
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from tqdm.auto import tqdm

from data_gen.config import bounds, from_mapping, load_yaml, to_mapping
from data_gen.generator import Generator, build_generator, solve_sample
from data_gen.writer import DatasetWriter
from opl.errors import ConfigError, RunStopped, require_extra

MAX_SAMPLES = 10_000_000
"""The most samples one dataset file holds: its per-sample index (the ``complete`` flags and the
work list) is made up front, and ten million samples of even a 64² field are 160 GB of data."""


@dataclass(frozen=True)
class RunSettings:
    """The top-level keys of a generator config besides ``generator``."""

    n_samples: int = field(metadata=bounds(ge=1, le=MAX_SAMPLES))
    seed: int = field(default=0, metadata=bounds(ge=0))
    precision: Literal["float32", "float64"] = "float32"
    output: str | None = None


@dataclass(frozen=True)
class RunConfig:
    """A parsed generator config: the generator and the run settings."""

    generator: Generator
    settings: RunSettings

    def canonical(self) -> dict[str, Any]:
        """The config as stored in the file: defaults filled in, ``output`` left out."""
        return {
            "generator": {
                "class_path": self.generator.name,
                "init_args": to_mapping(self.generator),
            },
            "n_samples": self.settings.n_samples,
            "seed": self.settings.seed,
            "precision": self.settings.precision,
        }


def parse_run_config(data: dict[str, Any], where: str) -> RunConfig:
    """Check a generator config mapping (``where`` names it in errors) and build it."""
    if "generator" not in data:
        raise ConfigError(f"{where}: missing key 'generator' (with 'class_path' and 'init_args')")
    rest = {k: v for k, v in data.items() if k != "generator"}
    if "n_samples" not in rest:
        raise ConfigError(f"{where}: missing key 'n_samples' (the number of samples to generate)")
    generator = build_generator(data["generator"], f"{where}: generator")
    return RunConfig(generator, from_mapping(RunSettings, rest, f"{where}:"))


def load_run_config(path: str, n_samples: int | None = None) -> RunConfig:
    """Read a generator config file, optionally overriding its ``n_samples``."""
    data = load_yaml(path)
    if n_samples is not None:
        data["n_samples"] = n_samples
    return parse_run_config(data, path)


def generate(
    config: RunConfig,
    output: str | None = None,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = True,
) -> str:
    """Write (or resume) the dataset of ``config``; return its path.

    ``output`` overrides the config's ``output``. ``workers``: 0 computes in this process, N > 0
    in a pool of N processes, None in a pool of one process per core. ``scheduler``: the address
    of a Dask scheduler to compute on instead (needs ``opl[dask]``).
    """
    path = output or config.settings.output
    if not path:
        raise ConfigError("no output file: give -o FILE or set 'output' in the config")
    if workers is not None and workers < 0:  # before any file is made
        raise ConfigError(f"--workers: expected 0 (in-process) or a positive number, got {workers}")
    layout = config.generator.layout()
    with DatasetWriter(path, layout, config.canonical(), config.generator.pde) as writer:
        if writer.recomputed:
            shown = ", ".join(map(str, list(writer.recomputed)[:10]))
            print(
                f"{path}: {len(writer.recomputed)} sample(s) marked complete did not read back "
                f"finite (a crash or a full disk; samples {shown}"
                f"{', ...' if len(writer.recomputed) > 10 else ''}): computing them again",
                file=sys.stderr,
            )
        todo = writer.pending()
        n = config.settings.n_samples
        bar = tqdm(
            total=n,
            initial=n - len(todo),
            unit="sample",
            desc=os.path.basename(path),
            disable=not progress,
            dynamic_ncols=True,
        )
        with bar, _executor(workers, scheduler) as (executor, slots):
            for index, sample in _solve_all(config, todo, executor, slots):
                writer.write(index, sample)
                bar.update()
    return path


def _solve_all(
    config: RunConfig, todo: list[int], executor: Executor | None, slots: int
) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
    """Yield (index, sample) for every index of ``todo``, in completion order."""
    seed = config.settings.seed
    if executor is None:
        for index in todo:
            yield index, solve_sample(config.generator, seed, index)
        return
    queue = iter(todo)
    running: dict[Future, int] = {}

    def submit(index: int) -> None:
        running[executor.submit(solve_sample, config.generator, seed, index)] = index

    try:
        for index in itertools.islice(queue, slots):
            submit(index)
        while running:
            finished, _ = wait(running, timeout=WATCH_SECONDS, return_when=FIRST_COMPLETED)
            if not finished:
                _check_workers_alive(executor)
            for future in finished:
                index = running.pop(future)
                following = next(queue, None)
                if following is not None:
                    submit(following)  # keep the workers busy while this sample is written
                yield index, future.result()
    except BrokenProcessPool:  # from a result or a submission, whichever comes first
        raise _worker_died() from None
    finally:
        for future in running:
            future.cancel()


WATCH_SECONDS = 2.0
"""How often a run waiting for samples checks that its pool's worker processes are alive."""


def _check_workers_alive(executor: Executor) -> None:
    """``RunStopped`` if a worker process of a process pool has died: the pool notices it
    itself, but not always (a worker killed while it returns a result can leave the pool
    waiting forever), so the run looks too."""
    if any(p.exitcode is not None for p in _pool_processes(executor)):
        raise _worker_died()


def _worker_died() -> RunStopped:
    return RunStopped(
        "a worker process died (killed, or out of memory); every sample written so far is kept: "
        "run the same command again to resume (--workers 0 computes in this process)"
    )


@contextmanager
def _executor(workers: int | None, scheduler: str | None) -> Iterator[tuple[Executor | None, int]]:
    """The executor of a run and how many samples to keep in flight on it."""
    if scheduler is not None:
        Client = require_extra("distributed", "dask", "--scheduler").Client
        try:
            client = Client(scheduler, timeout="30s")
        except OSError as err:
            raise ConfigError(f"--scheduler {scheduler}: cannot connect ({err})") from None
        with client:
            cores = sum(client.nthreads().values()) or 1
            yield client.get_executor(pure=False), 2 * cores
        return
    if workers == 0:
        yield None, 1
        return
    count = workers or os.cpu_count() or 1
    context = multiprocessing.get_context("spawn")
    with _single_threaded_children():
        pool = ProcessPoolExecutor(
            max_workers=count, mp_context=context, initializer=_set_up_worker
        )
        try:
            yield pool, 2 * count
        except BaseException:
            _terminate_workers(pool)  # Ctrl-C or an error: do not wait for samples in progress
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown(wait=True)


def _set_up_worker() -> None:
    """Pool workers ignore Ctrl-C (the writer process handles it and stops them) and, on Linux,
    die with the writer (``PR_SET_PDEATHSIG``): a writer killed with ``kill -9`` leaves no
    workers behind."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() == 1:  # the writer died before the line above
            os._exit(1)


PR_SET_PDEATHSIG = 1
"""Linux prctl option: the signal a process receives when its parent dies."""


def _terminate_workers(pool: ProcessPoolExecutor) -> None:
    """Kill the pool's worker processes now (Python < 3.14 has no public call for it)."""
    for process in _pool_processes(pool):
        process.terminate()


def _pool_processes(executor: Executor) -> list:
    """The worker processes of a ``ProcessPoolExecutor`` (its private ``_processes``; Python
    < 3.14 has no public view), none for other executors."""
    return list((getattr(executor, "_processes", None) or {}).values())


WORKER_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
"""Thread counts of the numerical libraries, set to 1 in pool workers unless the user set them."""


@contextmanager
def _single_threaded_children() -> Iterator[None]:
    """Start child processes with one BLAS/OpenMP thread each: the pool already uses every core,
    and threaded BLAS in each worker oversubscribes them (measured: Darcy 128² on 2 cores went
    from 0.63x to 1.63x speed-up with 2 workers; benchmarks/README.md)."""
    added = [name for name in WORKER_THREAD_VARIABLES if name not in os.environ]
    os.environ.update({name: "1" for name in added})
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)
