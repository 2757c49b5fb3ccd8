"""The ``opl`` command: generate and info, and one clear error line for bad input."""

from pathlib import Path

import h5py
import numpy as np
import pytest
import xarray as xr

from data_gen.run import load_run_config
from opl.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run_generate(capsys, config_path, output, *extra):
    """``opl generate CONFIG -o OUTPUT`` in this process, without a progress bar."""
    return run(
        capsys, "generate", config_path, "-o", output, "--workers", "0", "--no-progress", *extra
    )


def test_generate_then_info(tmp_path, capsys, write_config, darcy_config):
    out_path = str(tmp_path / "d.h5")
    code, out, _ = run_generate(capsys, write_config(darcy_config), out_path)
    assert code == 0 and out_path in out
    code, out, _ = run(capsys, "info", out_path, "--config")
    assert code == 0
    assert "pde          darcy: -div(a grad u) = 1" in out
    assert "samples      12 of 12 complete" in out
    assert "dims         sample=12, x=24, y=24" in out
    assert "coeff     input   (sample, x, y)  float32  [1]  diffusion coefficient a" in out
    assert "resolution: 24" in out


def test_n_samples_override_and_xarray_view(tmp_path, capsys, write_config, darcy_config):
    out_path = str(tmp_path / "d.h5")
    run_generate(capsys, write_config(darcy_config), out_path, "--n-samples", "3")
    with xr.open_dataset(out_path, engine="h5netcdf") as ds:
        assert ds.solution.dims == ("sample", "x", "y")
        assert ds.solution.shape == (3, 24, 24)
        assert ds.solution.attrs["role"] == "output"
        np.testing.assert_allclose(ds.x.values, np.linspace(0, 1, 24))
        assert ds.attrs["opl_format"] == "1.0" and int(ds.attrs["n_samples"]) == 3
        assert int(ds.complete.sum()) == 3


BAD_CONFIGS = [
    (
        {"generator": {"class_path": "darcyy"}, "n_samples": 2},
        "generator.class_path: unknown generator 'darcyy'; expected one of: poisson, darcy",
    ),
    (
        {"generator": {"class_path": "darcy", "init_args": {"resolution": "64"}}, "n_samples": 2},
        "generator.init_args.resolution: expected an integer >= 5, got str '64'",
    ),
    (
        {"generator": {"class_path": "darcy", "init_args": {"resolution": -4}}, "n_samples": 2},
        "generator.init_args.resolution: expected an integer >= 5, got -4",
    ),
    (
        {"generator": {"class_path": "darcy"}, "n_samples": -1},
        "n_samples: expected an integer >= 1 and <= 10,000,000, got -1",
    ),
    (
        {
            "generator": {"class_path": "darcy", "init_args": {"coefficient": "gaussian"}},
            "n_samples": 2,
        },
        "generator.init_args.coefficient: expected one of 'piecewise', 'lognormal', got 'gaussian'",
    ),
    (
        {"generator": {"class_path": "darcy", "init_args": {"grf": {"tau": 0}}}, "n_samples": 2},
        "generator.init_args.grf.tau: expected a number > 0, got 0",
    ),
    (
        {"generator": {"class_path": "darcy", "init_args": {"resolutoin": 64}}, "n_samples": 2},
        "generator.init_args.resolutoin: unknown option of Darcy",
    ),
    ({"generator": {"class_path": "darcy"}}, "missing key 'n_samples'"),
    (
        {
            "generator": {
                "class_path": "helmholtz",
                "init_args": {"resolution": 16, "omega": 80.0},
            },
            "n_samples": 2,
        },
        "generator.init_args: resolution: 16 nodes give 0.942 points per wavelength",
    ),
    (
        {
            "generator": {"class_path": "burgers", "init_args": {"grf": {"boundary": "neumann"}}},
            "n_samples": 2,
        },
        "grf.boundary: expected 'periodic' (Burgers is solved on a circle)",
    ),
    (
        {"generator": {"class_path": "darcy"}, "n_samples": 2, "sed": 1},
        "sed: unknown option of RunSettings",
    ),
]


@pytest.mark.parametrize(("config", "message"), BAD_CONFIGS)
def test_bad_config_gives_one_line_naming_the_key(tmp_path, capsys, write_config, config, message):
    path = write_config(config)
    code, _, err = run(capsys, "generate", path, "-o", str(tmp_path / "x.h5"), "--workers", "0")
    assert code == 2
    assert err.count("\n") == 1, err
    assert err.startswith(f"opl generate: error: {path}: ")
    assert message in err
    assert not (tmp_path / "x.h5").exists()


def test_unreadable_inputs(tmp_path, capsys, write_config):
    code, _, err = run(capsys, "generate", str(tmp_path / "none.yaml"))
    assert code == 2 and "none.yaml: no such config file" in err
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("generator: [unclosed\n")
    code, _, err = run(capsys, "generate", str(bad_yaml))
    assert code == 2 and "bad.yaml: not valid YAML" in err
    code, _, err = run(
        capsys, "generate", write_config({"generator": {"class_path": "darcy"}, "n_samples": 1})
    )
    assert code == 2 and "no output file: give -o FILE" in err
    code, _, err = run(capsys, "info", str(tmp_path / "missing.h5"))
    assert code == 2 and "missing.h5: no such file" in err


def test_info_refuses_foreign_and_newer_files(tmp_path, capsys, write_config, darcy_config):
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["x"] = np.zeros(2)
    code, _, err = run(capsys, "info", str(foreign))
    assert code == 2 and "foreign.h5: not an opl dataset" in err
    newer = str(tmp_path / "newer.h5")
    run_generate(capsys, write_config(darcy_config), newer)
    with h5py.File(newer, "r+") as f:
        f.attrs["opl_format"] = "2.0"
    code, _, err = run(capsys, "info", newer)
    assert code == 2 and "dataset format 2.0 is not readable by this opl" in err


CONFIGS = sorted((Path(__file__).parents[1] / "configs" / "data").glob("*.yaml"))


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.name)
def test_shipped_configs_are_valid(config):
    assert len(CONFIGS) >= 7
    run_config = load_run_config(str(config))
    assert run_config.settings.output.startswith("data/")
    run_config.generator.layout()


def test_diverging_solver_is_one_error_line_naming_the_sample(tmp_path, capsys, write_config):
    config = {
        "generator": {
            "class_path": "navier_stokes",
            "init_args": {"resolution": 16, "nu": 1e-5, "t_end": 20.0, "n_snapshots": 1, "dt": 0.5},
        },
        "n_samples": 2,
    }
    code, _, err = run_generate(capsys, write_config(config), str(tmp_path / "ns.h5"))
    assert code == 2 and err.count("\n") == 1
    assert "error: sample 0: FloatingPointError: solution became non-finite" in err
    assert "use a smaller dt" in err


def test_plot_writes_a_png_and_checks_the_index(tmp_path, capsys, write_config, darcy_config):
    data = str(tmp_path / "d.h5")
    run_generate(capsys, write_config(darcy_config), data)
    code, out, _ = run(capsys, "plot", data, "--sample", "3")
    png = tmp_path / "d_sample3.png"
    assert code == 0 and str(png) in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, _, err = run(capsys, "plot", data, "--sample", "12")
    assert code == 2 and "--sample must lie in [0, 12), got 12" in err
