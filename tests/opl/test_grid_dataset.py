"""Every generator writes a file that h5py, xarray and opl.data read alike."""

import h5py
import numpy as np
import pytest
import torch
import xarray as xr

from opl.data import GridFieldDataset
from opl.errors import DatasetFileError

SMALL = {
    "poisson": {"resolution": 17},
    "darcy": {"resolution": 17, "coefficient": "lognormal"},
    "navier_stokes": {"resolution": 16, "t_end": 0.2, "n_snapshots": 2, "dt": 0.01},
    "burgers": {"resolution": 64, "t_end": 0.1, "n_snapshots": 3, "dt": 0.01},
    "helmholtz": {"resolution": 33, "omega": 10.0, "excitation": "plane_wave"},
}


@pytest.fixture(scope="module", params=sorted(SMALL))
def small_file(request, tmp_path_factory, small_dataset):
    name = request.param
    return small_dataset(tmp_path_factory.mktemp(name) / f"{name}.h5", name, SMALL[name], 3)


def test_xarray_and_h5py_agree(small_file):
    config, path = small_file
    layout = config.generator.layout()
    with xr.open_dataset(path, engine="h5netcdf") as ds, h5py.File(path, "r") as f:
        for spec in layout.fields:
            var = ds[spec.name]
            assert var.dims == ("sample", *spec.dims)
            assert var.attrs["role"] == spec.role
            np.testing.assert_array_equal(var.values, f[spec.name][:])
        for coord in layout.coordinates:
            np.testing.assert_array_equal(ds[coord.name].values, coord.values)


def test_torch_dataset_folds_extra_dims_into_channels(small_file):
    config, path = small_file
    layout = config.generator.layout()
    data = GridFieldDataset(path)
    assert len(data) == 3
    x, y = data[1]
    spatial = [c for c in layout.coordinates if c.name in ("x", "y")]
    sizes = {c.name: len(c.values) for c in layout.coordinates}
    channels = {
        role: sum(
            int(np.prod([sizes[d] for d in f.dims if d not in ("x", "y")] or [1]))
            for f in layout.fields
            if f.role == role
        )
        for role in ("input", "output")
    }
    assert x.shape == (channels["input"], *(len(c.values) for c in spatial))
    assert y.shape == (channels["output"], *(len(c.values) for c in spatial))
    assert x.dtype == torch.float32
    with h5py.File(path, "r") as f:
        output = [s for s in layout.fields if s.role == "output"][0]
        expected = f[output.name][1].reshape(y.shape)
    np.testing.assert_array_equal(y.numpy(), expected)


def test_dataset_refuses_incomplete_and_unknown(tmp_path, small_dataset):
    _, path = small_dataset(tmp_path / "p.h5", "poisson", {"resolution": 9}, 4)
    with h5py.File(path, "r+") as f:
        f["complete"][2] = 0
    with pytest.raises(DatasetFileError, match="sample 2 .* is not written yet"):
        GridFieldDataset(path)
    assert len(GridFieldDataset(path, indices=[0, 1, 3])) == 3
    with pytest.raises(DatasetFileError, match="no field 'pressure'; the file has: forcing"):
        GridFieldDataset(path, outputs=["pressure"])
    with pytest.raises(DatasetFileError, match=r"sample indices must lie in \[0, 4\)"):
        GridFieldDataset(path, indices=range(2, 6))


def test_dataset_works_in_dataloader_workers(tmp_path, small_dataset):
    _, path = small_dataset(tmp_path / "p.h5", "poisson", {"resolution": 9}, 6)
    data = GridFieldDataset(path)
    loader = torch.utils.data.DataLoader(data, batch_size=3, num_workers=2)
    batches = list(loader)
    assert [b[0].shape for b in batches] == [(3, 1, 9, 9)] * 2
    torch.testing.assert_close(batches[1][1][2], data[5][1])
