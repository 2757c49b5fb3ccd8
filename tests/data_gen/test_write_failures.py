"""Nothing is marked complete that is not: a failed write (an injected "disk full" error), too
little free space, and samples whose data were lost after they were marked (a crash, a full disk,
a damaged file) stop or repair the run with one line, and ``opl info --check`` finds them."""

from collections import namedtuple

import h5py
import numpy as np
import pytest

import data_gen.writer
from data_gen.run import generate, parse_run_config
from opl.cli import main
from opl.errors import DatasetFileError


@pytest.fixture
def config(darcy_config):
    return parse_run_config(darcy_config, "test")


@pytest.fixture
def clean(config, tmp_path):
    """The file an undisturbed run writes: every failure below must end in the same data."""
    return read(generate(config, str(tmp_path / "clean.h5"), workers=0, progress=False))


def read(path):
    with h5py.File(path, "r") as f:
        return {name: f[name][:] for name in ("coeff", "solution", "complete")}


def check_lines(capsys, path):
    """(exit status, stderr's error lines) of ``opl info --check path``."""
    code = main(["info", "--check", str(path)])
    return code, [line for line in capsys.readouterr().err.splitlines() if "error:" in line]


def test_a_failed_write_stops_with_one_error_and_the_rerun_completes(
    config, clean, tmp_path, monkeypatch
):
    path = str(tmp_path / "d.h5")
    original = h5py.Dataset.__setitem__

    def disk_full_at_sample_5(dataset, key, value):
        if dataset.name == "/solution" and key == 5:
            raise OSError(28, "No space left on device")
        original(dataset, key, value)

    monkeypatch.setattr(h5py.Dataset, "__setitem__", disk_full_at_sample_5)
    with pytest.raises(DatasetFileError, match=r"writing sample 5 failed \(.*No space left"):
        generate(config, path, workers=0, progress=False)
    monkeypatch.undo()
    # samples 0-4 (written in order, in-process) are complete and intact; 5 is not marked
    partial = read(path)
    assert partial["complete"].tolist() == [1] * 5 + [0] * 7
    np.testing.assert_array_equal(partial["solution"][:5], clean["solution"][:5])
    generate(config, path, workers=0, progress=False)  # "space freed": resume
    for name, values in read(path).items():
        np.testing.assert_array_equal(values, clean[name], err_msg=name)


def test_too_little_free_space_stops_before_writing(config, tmp_path, monkeypatch):
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(data_gen.writer.shutil, "disk_usage", lambda _: usage(10**6, 10**6, 100))
    with pytest.raises(DatasetFileError, match=r"100 bytes free, sample 0 needs up to [\d,]+"):
        generate(config, str(tmp_path / "d.h5"), workers=0, progress=False)


def test_samples_that_lost_their_data_are_found_and_recomputed(config, clean, tmp_path, capsys):
    path = str(tmp_path / "d.h5")
    generate(config, path, workers=0, progress=False)
    with h5py.File(path, "r+") as f:  # what a crash leaves: flags set, data never written
        f["solution"][3] = np.nan
        f["coeff"][8] = np.nan
    code, lines = check_lines(capsys, path)
    assert code == 2 and len(lines) == 1
    assert "2 of 12 samples marked complete do not read back finite" in lines[0]
    assert "samples 3, 8" in lines[0]
    generate(config, path, workers=0, progress=False)
    assert "2 sample(s) marked complete did not read back finite" in capsys.readouterr().err
    for name, values in read(path).items():
        np.testing.assert_array_equal(values, clean[name], err_msg=name)
    assert check_lines(capsys, path)[0] == 0


def test_a_file_cut_in_half_fails_the_check_in_one_line(config, tmp_path, capsys):
    path = tmp_path / "d.h5"
    generate(config, str(path), workers=0, progress=False)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    code, lines = check_lines(capsys, path)
    assert code == 2 and len(lines) == 1 and str(path) in lines[0]
