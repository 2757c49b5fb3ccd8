"""Bringing data made elsewhere: ``opl.data.write_dataset`` and ``opl import`` (.npz, .pt,
netCDF, PDEBench and The Well layouts, the latter two as small files written to their published
layouts), training on an imported set from a config and testing it zero-shot on a finer one, and
``opl info --check`` refusing exactly what training would, with one line each."""

import h5py
import numpy as np
import pytest
import torch
import xarray as xr
import yaml

from data_gen.generator import sample_rng
from data_gen.grid.darcy import Darcy
from opl.cli import main
from opl.data import DatasetFile, Field, GridFieldDataset, write_dataset


def darcy_arrays(resolution, n, seed=0):
    """``n`` Darcy samples (a, u) at ``resolution``² nodes, as another tool would hand them over."""
    generator = Darcy(resolution=resolution)
    samples = [generator.solve(sample_rng(seed, i)) for i in range(n)]
    return np.stack([s["coeff"] for s in samples]), np.stack([s["solution"] for s in samples])


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_write_dataset_round_trips_through_every_reader(tmp_path):
    a, u = darcy_arrays(17, 3)
    x = np.linspace(0, 1, 17)
    path = write_dataset(
        tmp_path / "d.h5",
        {"a": Field(a, ("x", "y"), "input", "permeability"), "u": Field(u, ("x", "y"), "output")},
        coords={"x": x, "y": x},
        pde="darcy",
        attrs={"equation": "-div(a grad u) = 1"},
        source="a test",
    )
    with DatasetFile(path) as ds:
        assert ds.attrs["generator"] == "imported" and ds.attrs["pde"] == "darcy"
        assert "seed" not in ds.attrs and ds.complete().all()
        assert [(g.name, g.convention) for g in ds.grid()] == [("x", "nodes"), ("y", "nodes")]
        np.testing.assert_array_equal(ds.read("u", [2]), u[2:3].astype(np.float32))
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        assert ds.a.dims == ("sample", "x", "y") and ds.a.attrs["role"] == "input"
        assert ds.x.attrs["grid"] == "nodes"
    inputs, outputs = GridFieldDataset(path)[1]
    torch.testing.assert_close(outputs[0], torch.from_numpy(u[1]).float())


@pytest.mark.parametrize(
    "fields, coords, grid, message",
    [
        ({"u": Field(np.zeros((2, 4, 4)), ("x", "y"), "target")}, None, "nodes",
         "fields.u.role: 'target'; expected one of input, output"),
        ({"u": Field(np.zeros((2, 4, 4)), ("y", "x"), "output")}, None, "nodes",
         r"fields.u.dims: \('y', 'x'\); expected the spatial dims last and in the order x, y"),
        ({"u": Field(np.zeros((2, 4, 4)), ("x", "y"), "output")}, None, None,
         "coords.x: missing; give the grid positions, or grid= one of nodes, cells, periodic"),
        ({"u": Field(np.zeros((2, 4)), ("x",), "output")}, {"x": np.linspace(0, 2, 4)}, None,
         r"coords.x: points 0 ... 2 are none of the grids on \[0, 1\]; pass grid="),
        ({"u": Field(np.full((2, 4), np.nan), ("x",), "output")}, None, "cells",
         "fields.u: non-finite values"),
    ],
)  # fmt: skip
def test_write_dataset_refuses_bad_fields_with_one_message(tmp_path, fields, coords, grid, message):
    with pytest.raises(ValueError, match=message):
        write_dataset(tmp_path / "bad.h5", fields, coords, grid=grid)
    assert not (tmp_path / "bad.h5").exists()


def write_config(tmp_path, data):
    config = {
        "seed_everything": 0,
        "trainer": {"max_epochs": 2, "accelerator": "cpu", "default_root_dir": str(tmp_path),
                    "logger": False, "enable_progress_bar": False, "enable_checkpointing": False},
        "model": {"class_path": "opl.train.OperatorModule", "init_args": {
            "model": {"class_path": "opl.models.PatchTNO",
                      "init_args": {"patches": 4, "width": 16, "heads": 2, "layers": 1,
                                    "ffn_width": 16, "embed_modes": 3, "smoother_modes": 4}},
            "loss": "rel_l2"}},
        "data": {"class_path": "opl.data.GridDataModule",
                 "init_args": {"path": str(data), "train": [0, 12], "val": [12, 16],
                               "batch_size": 4}},
    }  # fmt: skip
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.parametrize("suffix", [".npz", ".pt"])
def test_an_imported_set_trains_from_config_and_tests_zero_shot_on_a_finer_one(
    tmp_path, capsys, suffix
):
    coarse, fine = tmp_path / f"coarse{suffix}", tmp_path / f"fine{suffix}"
    for path, resolution, n in ((coarse, 17, 16), (fine, 33, 4)):
        a, u = darcy_arrays(resolution, n, seed=resolution)
        if suffix == ".npz":
            np.savez(path, a=a, u=u)
        else:
            torch.save({"a": torch.from_numpy(a), "u": torch.from_numpy(u)}, path)
    # the documented call
    for source in (coarse, fine):
        names = ["--input-fields", "a", "--output-fields", "u", "--grid", "nodes"]
        code, out, err = run(capsys, "import", source, "-o", source.with_suffix(".h5"), *names)
        assert code == 0, err
    code, _, err = run(capsys, "info", coarse.with_suffix(".h5"), "--check")
    assert code == 0, err
    config = write_config(tmp_path, coarse.with_suffix(".h5"))
    code, _, err = run(capsys, "fit", "--config", config)
    assert code == 0, err
    code, out, err = run(
        capsys, "test", "--config", config, "--ckpt_path", tmp_path / "final.ckpt",
        "--data.path", fine.with_suffix(".h5"), "--data.train", "null", "--data.val", "null",
        "--data.test", "[0, 4]",
    )  # fmt: skip
    assert code == 0, err
    assert "test/rel_l2/33x33" in out


def test_netcdf_sets_import_with_their_coordinates_and_renamed_dims(tmp_path, capsys):
    a, u = darcy_arrays(9, 3)
    points = (np.arange(9) + 0.5) / 9
    xr.Dataset(
        {"perm": (("case", "lon", "lat"), a), "head": (("case", "lon", "lat"), u)},
        coords={"lon": points, "lat": points},
    ).to_netcdf(tmp_path / "set.nc", engine="h5netcdf")
    code, _, err = run(capsys, "import", tmp_path / "set.nc", "-o", tmp_path / "set.h5",
                       "--input-fields", "perm", "--output-fields", "head",
                       "--rename", "lon=x", "lat=y")  # fmt: skip
    assert code == 0, err
    with DatasetFile(tmp_path / "set.h5") as ds:
        assert ds.fields["perm"].dims == ("sample", "x", "y")
        assert [g.convention for g in ds.grid()] == ["cells", "cells"]
        np.testing.assert_allclose(ds.read("head", [1])[0], u[1], rtol=1e-6)


def test_pdebench_layouts_import(tmp_path, capsys):
    """PDEBench's single-file HDF5: ``tensor`` (N, T, X) with ``x-coordinate`` and
    ``t-coordinate`` (1-D advection), and Darcy's ``nu`` with ``tensor`` (N, 1, X, Y)."""
    rng = np.random.default_rng(0)
    xc = (np.arange(16) + 0.5) / 16  # PDEBench's cell centres
    with h5py.File(tmp_path / "1D_Advection.hdf5", "w") as f:
        f["tensor"] = rng.standard_normal((3, 5, 16)).astype(np.float32)
        f["x-coordinate"] = xc
        f["t-coordinate"] = np.linspace(0, 2, 6)
    with h5py.File(tmp_path / "2D_DarcyFlow.hdf5", "w") as f:
        f["nu"] = rng.uniform(0.1, 1, (3, 16, 16)).astype(np.float32)
        f["tensor"] = rng.standard_normal((3, 1, 16, 16)).astype(np.float32)
        f["x-coordinate"] = xc
        f["y-coordinate"] = xc
    for name in ("1D_Advection", "2D_DarcyFlow"):
        code, _, err = run(
            capsys, "import", tmp_path / f"{name}.hdf5", "-o", tmp_path / f"{name}.h5"
        )
        assert code == 0, err
    with DatasetFile(tmp_path / "1D_Advection.h5") as ds:
        assert ds.fields["solution"].dims == ("sample", "t", "x")
        np.testing.assert_allclose(ds.coordinate("t"), np.linspace(0, 2, 6)[1:5])
    with DatasetFile(tmp_path / "2D_DarcyFlow.h5") as ds:
        assert ds.attrs["pde"] == "darcy" and ds.fields["nu"].role == "input"


def test_pdebench_per_sample_groups_import(tmp_path, capsys):
    """PDEBench's per-sample layout (2-D diffusion-reaction, ...): groups ``0000``, ... with
    ``data`` (T, X, Y, C) and ``grid/{x,y,t}``; the C variables become components."""
    rng = np.random.default_rng(1)
    xc = (np.arange(8) + 0.5) / 8
    samples = rng.standard_normal((3, 5, 8, 8, 2)).astype(np.float32)
    with h5py.File(tmp_path / "2D_diff-react_NA_NA.h5", "w") as f:
        for i, data in enumerate(samples):
            group = f.create_group(f"{i:04d}")
            group["data"] = data
            group["grid/x"], group["grid/y"] = xc, xc
            group["grid/t"] = np.linspace(0, 5, 5)
    code, _, err = run(
        capsys, "import", tmp_path / "2D_diff-react_NA_NA.h5", "-o", tmp_path / "dr.h5"
    )
    assert code == 0, err
    with DatasetFile(tmp_path / "dr.h5") as ds:
        assert ds.fields["initial"].dims == ("sample", "component", "x", "y")
        assert ds.fields["solution"].dims == ("sample", "t", "component", "x", "y")
        np.testing.assert_allclose(ds.coordinate("t"), np.linspace(0, 5, 5)[1:])
        # sample 2, snapshot 3 (the output's 2nd), variable 1, at x index 4, y index 6
        solution = ds.read("solution", [2])[0]
        assert solution[2, 1, 4, 6] == samples[2, 3, 4, 6, 1]
        assert ds.read("initial", [1])[0][0, 7, 0] == samples[1, 0, 7, 0, 0]
        assert [a.convention for a in ds.grid()] == ["cells", "cells"]


def test_the_well_layout_imports(tmp_path, capsys):
    """The Well's HDF5: ``dimensions`` (spatial_dims, x, y, time), ``t0_fields`` (N, T, X, Y) and
    ``t1_fields`` (N, T, X, Y, 2)."""
    rng = np.random.default_rng(1)
    with h5py.File(tmp_path / "shear_flow.hdf5", "w") as f:
        f.attrs["dataset_name"] = "shear_flow"
        dims = f.create_group("dimensions")
        dims.attrs["spatial_dims"] = ["x", "y"]
        dims["x"] = np.arange(8) / 8
        dims["y"] = np.arange(8) / 8
        dims["time"] = np.linspace(0, 1, 4)
        f.create_group("t0_fields")["tracer"] = rng.standard_normal((2, 4, 8, 8))
        f.create_group("t1_fields")["velocity"] = rng.standard_normal((2, 4, 8, 8, 2))
    code, _, err = run(capsys, "import", tmp_path / "shear_flow.hdf5", "-o", tmp_path / "s.h5")
    assert code == 0, err
    with DatasetFile(tmp_path / "s.h5") as ds:
        assert ds.fields["velocity"].dims == ("sample", "t", "component", "x", "y")
        assert ds.fields["tracer_0"].role == "input" and ds.attrs["pde"] == "shear_flow"
        assert [g.convention for g in ds.grid()] == ["periodic", "periodic"]


def test_import_names_what_is_missing(tmp_path, capsys):
    np.savez(tmp_path / "s.npz", a=np.zeros((2, 4, 4)), u=np.zeros((2, 4, 4)))
    code, _, err = run(capsys, "import", tmp_path / "s.npz", "-o", tmp_path / "s.h5")
    assert code == 2
    assert err.strip().splitlines() == [
        f"opl import: error: {tmp_path}/s.npz: name the fields with --input-fields NAME and "
        "--output-fields NAME (it has: a, u)"
    ]
    names = ["--input-fields", "a", "--output-fields", "v", "--grid", "nodes"]
    code, _, err = run(capsys, "import", tmp_path / "s.npz", "-o", tmp_path / "s.h5", *names)
    assert code == 2 and "no array 'v'; it has: a, u" in err


def hand_written(path, *, role="output", dims=("sample", "x", "y"), coords=True, scales=True,
                 value=0.0):  # fmt: skip
    """An opl-like file written by hand with h5py, with one chosen defect."""
    shape = {"sample": 2, "x": 4, "y": 5}
    with h5py.File(path, "w") as f:
        f.attrs["opl_format"] = "1.0"
        f["complete"] = np.ones(2, np.uint8)
        f["sample"] = np.arange(2)
        for name, r in (("a", "input"), ("u", role)):
            f[name] = np.full([shape[d] for d in dims], value, np.float32)
            f[name].attrs["role"] = r
        for d in ("x", "y"):
            if coords:
                f[d] = np.linspace(0, 1, shape[d])
            elif scales:
                f.create_dataset(d, (shape[d],), "f4")  # a named scale, no coordinate values
            if scales:
                f[d].make_scale(d)
        if scales:
            f["sample"].make_scale("sample")
            f["complete"].dims[0].attach_scale(f["sample"])
            for name in ("a", "u"):
                for i, d in enumerate(dims):
                    f[name].dims[i].attach_scale(f[d])


@pytest.mark.parametrize(
    "defect, message",
    [
        ({"role": "target"}, "field 'u': role 'target'; expected one of input, output"),
        ({"dims": ("sample", "y", "x")},
         r"field 'a': dims \('sample', 'y', 'x'\); expected the spatial dims last and in the "
         "order x, y"),
        ({"scales": False}, "field 'a': dimension 0 has no name"),
        ({"value": np.nan}, "field 'a', sample 0 has non-finite values"),
    ],
)  # fmt: skip
def test_info_check_refuses_what_training_would(tmp_path, capsys, defect, message):
    path = tmp_path / "hand.h5"
    hand_written(path, **defect)
    code, _, err = run(capsys, "info", path, "--check")
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and err.startswith("opl info: error: ")
    assert __import__("re").search(message, err), err


def test_a_grid_without_coordinates_is_refused_not_read_as_zeros(tmp_path, capsys):
    path = tmp_path / "hand.h5"
    hand_written(path, dims=("sample", "x", "y"), coords=False)
    code, _, err = run(capsys, "info", path)
    assert code == 2
    assert "field 'a': no coordinate variable 'x'" in err or "coordinate 'x'" in err, err
