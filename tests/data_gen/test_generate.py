"""Running generator configs: file content, determinism across executors, resume after a kill."""

import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from data_gen.generator import sample_rng, solve_sample
from data_gen.run import generate, load_run_config, parse_run_config
from opl.data.dataset_file import DatasetFile
from opl.errors import DatasetFileError, SolverError


def read_all(path):
    with h5py.File(path, "r") as f:
        return {name: f[name][:] for name in ("coeff", "solution", "complete")}


def assert_same_content(a, b):
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_file_holds_each_sample_as_computed_alone(tmp_path, darcy_config):
    config = parse_run_config(darcy_config, "test")
    path = generate(config, str(tmp_path / "new" / "folder" / "d.h5"), workers=0, progress=False)
    data = read_all(path)
    assert data["complete"].tolist() == [1] * 12
    expected = solve_sample(config.generator, 7, 5)
    np.testing.assert_array_equal(data["solution"][5], expected["solution"].astype(np.float32))
    with DatasetFile(path) as ds:  # the stored config is the canonical one, defaults filled in
        assert ds.generator_config() == config.canonical()


def test_sample_randomness_is_the_spawned_seed_sequence():
    child = np.random.SeedSequence(7).spawn(4)[3]
    assert sample_rng(7, 3).random() == np.random.default_rng(child).random()


def test_same_content_whatever_the_executor(tmp_path, darcy_config):
    distributed = pytest.importorskip("distributed")
    config = parse_run_config(darcy_config, "test")
    serial = read_all(generate(config, str(tmp_path / "a.h5"), workers=0, progress=False))
    pooled = read_all(generate(config, str(tmp_path / "b.h5"), workers=2, progress=False))
    assert_same_content(serial, pooled)
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        path = generate(
            config, str(tmp_path / "c.h5"), scheduler=cluster.scheduler_address, progress=False
        )
    assert_same_content(serial, read_all(path))


def test_killed_run_resumes_to_the_clean_result(tmp_path, write_config, darcy_config):
    darcy_config["generator"]["init_args"]["resolution"] = 97  # ~25 ms a sample
    darcy_config["n_samples"] = 40
    config_path = write_config(darcy_config)
    killed = str(tmp_path / "killed.h5")
    command = [
        sys.executable,
        "-m",
        "opl",
        "generate",
        config_path,
        "-o",
        killed,
        "--workers",
        "0",
        "--no-progress",
    ]
    proc = subprocess.Popen(command)
    try:
        done = 0
        deadline = time.monotonic() + 60
        while done < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
            if os.path.exists(killed):
                with DatasetFile(killed) as ds:
                    done = int(ds.complete().sum())
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    with DatasetFile(killed) as ds:
        partial = int(ds.complete().sum())
        with pytest.raises(DatasetFileError, match="not written yet"):
            ds.read("solution", np.arange(40))
    assert 5 <= partial < 40, "the kill must land mid-run for this test to mean anything"
    subprocess.run(command, check=True)  # resume
    clean = generate(
        load_run_config(config_path), str(tmp_path / "clean.h5"), workers=0, progress=False
    )
    assert_same_content(read_all(killed), read_all(clean))


def test_existing_file_with_another_config_is_refused_and_kept(tmp_path, darcy_config):
    path = str(tmp_path / "d.h5")
    generate(parse_run_config(darcy_config, "test"), path, workers=0, progress=False)
    before = read_all(path)
    darcy_config["generator"]["init_args"]["resolution"] = 32
    with pytest.raises(DatasetFileError, match=r"different config .*resolution: file has 24"):
        generate(parse_run_config(darcy_config, "test"), path, workers=0, progress=False)
    assert_same_content(before, read_all(path))


def test_foreign_and_corrupt_files_are_refused_untouched(tmp_path, darcy_config):
    config = parse_run_config(darcy_config, "test")
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["data"] = np.arange(3)
    with pytest.raises(DatasetFileError, match="foreign.h5: exists and is not an opl dataset"):
        generate(config, str(foreign), workers=0, progress=False)
    with h5py.File(foreign, "r") as f:
        assert f["data"][:].tolist() == [0, 1, 2]
    corrupt = tmp_path / "corrupt.h5"
    corrupt.write_bytes(b"not an hdf5 file at all")
    with pytest.raises(DatasetFileError, match="corrupt.h5: .*not a readable HDF5 file"):
        generate(config, str(corrupt), workers=0, progress=False)
    assert corrupt.read_bytes() == b"not an hdf5 file at all"


def test_a_second_writer_is_locked_out(tmp_path, darcy_config):
    from data_gen.writer import DatasetWriter

    config = parse_run_config(darcy_config, "test")
    path = str(tmp_path / "d.h5")
    layout = config.generator.layout()
    with DatasetWriter(path, layout, config.canonical(), "darcy"):
        with pytest.raises(DatasetFileError, match="another process is writing"):
            DatasetWriter(path, layout, config.canonical(), "darcy")


def test_diverged_sample_stops_the_run_and_keeps_earlier_ones(tmp_path, darcy_config):
    from data_gen.writer import DatasetWriter

    config = parse_run_config(darcy_config, "test")
    path = str(tmp_path / "d.h5")
    with DatasetWriter(path, config.generator.layout(), config.canonical(), "darcy") as writer:
        good = solve_sample(config.generator, 7, 0)
        writer.write(0, good)
        bad = {k: np.full_like(v, np.nan) for k, v in good.items()}
        with pytest.raises(SolverError, match="sample 1: field 'coeff' has non-finite"):
            writer.write(1, bad)
    with DatasetFile(path) as ds:
        assert ds.complete().tolist() == [True] + [False] * 11
        np.testing.assert_array_equal(
            ds.read("solution", [0])[0], good["solution"].astype(np.float32)
        )


def test_float64_precision_is_stored_as_asked(tmp_path, darcy_config):
    darcy_config["precision"] = "float64"
    config = parse_run_config(darcy_config, "test")
    path = generate(config, str(tmp_path / "d.h5"), workers=0, progress=False)
    with h5py.File(path, "r") as f:
        assert f["solution"].dtype == np.float64
        np.testing.assert_array_equal(
            f["solution"][4], solve_sample(config.generator, 7, 4)["solution"]
        )


def _thread_variables():
    return {name: os.environ.get(name) for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")}


def test_pool_workers_run_single_threaded_blas(tmp_path, darcy_config, monkeypatch):
    from concurrent.futures import ProcessPoolExecutor

    from data_gen import run

    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # a user's own setting is kept
    with run._executor(2, None) as (pool, slots):
        assert isinstance(pool, ProcessPoolExecutor) and slots == 4
        seen = pool.submit(_thread_variables).result()
    assert seen == {"OMP_NUM_THREADS": "3", "OPENBLAS_NUM_THREADS": "1"}
    assert "OPENBLAS_NUM_THREADS" not in os.environ  # the parent's environment is restored


def test_interrupt_stops_the_pool_at_once_and_keeps_the_file(tmp_path, write_config):
    config = {
        "generator": {
            "class_path": "navier_stokes",
            "init_args": {"resolution": 64, "t_end": 30.0, "n_snapshots": 1, "dt": 0.001},
        },
        "n_samples": 4,
    }  # ~5 s a sample: an interrupt lands while both workers are mid-sample
    path = tmp_path / "ns.h5"
    command = [
        sys.executable,
        "-m",
        "opl",
        "generate",
        write_config(config),
        "-o",
        str(path),
        "--workers",
        "2",
        "--no-progress",
    ]
    # Ctrl-C at its default in the child, as in a terminal: a child inherits an ignored SIGINT
    # (and Python then keeps it ignored), which is how pytest runs in the background or under
    # nohup, as CI may, leave it
    proc = subprocess.Popen(
        command,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 30
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    waited = time.monotonic() - sent
    assert proc.returncode == 130, f"exit {proc.returncode} {waited=:.1f} s; stderr:\n{err}"
    assert "interrupted; completed samples are kept" in err
    assert "Traceback" not in err
    assert waited < 3.0, f"waited {waited:.1f} s for samples in progress"
    with DatasetFile(path) as ds:
        assert ds.complete().sum() == 0 and ds.n_samples == 4
