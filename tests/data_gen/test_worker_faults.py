"""A generation run whose worker process dies stops within seconds with one line and resumes;
a killed writer takes its workers with it (Linux: PR_SET_PDEATHSIG)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from data_gen.run import generate, parse_run_config
from opl.data.dataset_file import DatasetFile

pytestmark = pytest.mark.skipif(
    not Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").exists(),
    reason="needs Linux /proc children lists",
)
CONFIG = {
    "generator": {"class_path": "darcy", "init_args": {"resolution": 200}},
    "n_samples": 40,
    "seed": 3,
}
"""About 0.1 s a sample on 2 cores: the run lasts seconds, long enough to kill a worker in it."""


def workers_of(pid: int) -> list[int]:
    """The pool worker processes among ``pid``'s children (none once ``pid`` has exited)."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except FileNotFoundError:
        return []
    workers = []
    for child in children:
        try:
            command = Path(f"/proc/{child}/cmdline").read_bytes()
        except FileNotFoundError:  # exited since the listing
            continue
        if b"spawn_main" in command and b"resource_tracker" not in command:
            workers.append(int(child))
    return workers


def start(tmp_path):
    """``opl generate`` with two workers in a subprocess, once both workers compute."""
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(CONFIG))
    command = [sys.executable, "-m", "opl", "generate", str(config), "-o", str(tmp_path / "d.h5")]
    run = subprocess.Popen([*command, "--workers", "2"], stderr=subprocess.PIPE, text=True)
    for _ in range(600):
        time.sleep(0.1)
        if (tmp_path / "d.h5").exists() and len(workers_of(run.pid)) == 2:
            return run
    run.kill()
    raise AssertionError("the run did not start two workers in 60 s")


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_a_killed_worker_stops_the_run_in_one_line_and_it_resumes(tmp_path):
    run = start(tmp_path)
    time.sleep(0.3)
    os.kill(workers_of(run.pid)[0], signal.SIGKILL)
    _, err = run.communicate(timeout=60)  # a hang fails here
    lines = [line for line in err.splitlines() if "error:" in line]
    assert run.returncode == 2 and len(lines) == 1, err[-2000:]
    assert "a worker process died" in lines[0] and "run the same command again" in lines[0]
    config = parse_run_config(CONFIG, "test")
    generate(config, str(tmp_path / "d.h5"), workers=0, progress=False)
    with DatasetFile(tmp_path / "d.h5") as ds:
        assert ds.complete().all()


WRITER = """
import multiprocessing, sys, time
from concurrent.futures import ProcessPoolExecutor
from data_gen.run import _set_up_worker

if __name__ == "__main__":
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(1, mp_context=context, initializer=_set_up_worker)
    pool.submit(time.sleep, 120)  # a worker busy for minutes, not waiting on any pipe
    time.sleep(120)
"""


def test_a_killed_writer_takes_its_workers_with_it(tmp_path):
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    writer = subprocess.Popen([sys.executable, str(script)])
    for _ in range(300):
        time.sleep(0.1)
        workers = workers_of(writer.pid)
        if workers:
            break
    assert workers, "the pool did not start its worker"
    time.sleep(1.0)  # the worker is in time.sleep(120) now
    writer.kill()
    writer.wait(timeout=10)
    deadline = time.time() + 5  # without PR_SET_PDEATHSIG the worker sleeps on for minutes
    while time.time() < deadline and any(alive(w) for w in workers):
        time.sleep(0.1)
    orphans = [w for w in workers if alive(w)]
    for w in orphans:
        os.kill(w, signal.SIGKILL)
    assert not orphans, "orphaned workers"
