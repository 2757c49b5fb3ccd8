"""Every finite-element generator writes a file that opl info, opl plot, xarray and the graph
view read; bad meshes and boundary names give one clear error."""

import meshio
import numpy as np
import pytest
import xarray as xr

from data_gen.fem.mesh import MeshError, load_mesh
from data_gen.run import generate, parse_run_config
from opl.data.mesh_dataset import MeshGraphDataset
from opl.data.summary import summarise
from opl.errors import ConfigError

SMALL = {
    "fem_darcy": {"level": 0, "element": "P2", "random_forcing": True},
    "fem_elasticity": {"level": 0},
    "fem_heat": {"level": 0, "t_end": 0.02, "n_snapshots": 2, "dt": 0.005},
    "fem_stokes": {"level": 0},
}


@pytest.fixture(scope="module", params=sorted(SMALL))
def fem_file(request, tmp_path_factory, small_dataset):
    name = request.param
    return small_dataset(tmp_path_factory.mktemp(name) / f"{name}.h5", name, SMALL[name], 2)


def test_file_is_read_alike_by_xarray_info_and_graphs(fem_file):
    config, path = fem_file
    mesh = config.generator.load_mesh()
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        assert ds.attrs["pde"] == config.generator.pde
        assert ds.mesh.attrs["cf_role"] == "mesh_topology"
        np.testing.assert_array_equal(ds.mesh_node_x.values, mesh.p[0])
        np.testing.assert_array_equal(ds.mesh_face_nodes.values, mesh.t.T)
        names = ds.mesh_boundary_tag.attrs["flag_meanings"].split()
        assert set(names) - {"untagged"} == set(mesh.boundaries)
        for spec in config.generator.layout().fields:
            assert ds[spec.name].dims == ("sample", *spec.dims)
            assert np.all(np.isfinite(ds[spec.name].values))
    summary = summarise(path)
    assert f"{mesh.p.shape[1]} nodes, {mesh.t.shape[1]} faces" in summary
    assert "boundary parts" in summary
    from opl.data.plot import plot_sample

    png = plot_sample(path, 1, str(path) + ".png")
    with open(png, "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
    graph = MeshGraphDataset(path, space="P1")[1]
    assert graph.pos.shape == (mesh.p.shape[1], 2)
    assert graph.num_nodes == mesh.p.shape[1] and graph.y.shape[0] == mesh.p.shape[1]


def test_graph_numerics_and_dirichlet_values_on_the_lshape(tmp_path, small_dataset):
    _, path = small_dataset(tmp_path / "d.h5", "fem_darcy", {"level": 0, "element": "P2"}, 1)
    import torch

    for space in ("P1", "P2"):
        graph = MeshGraphDataset(
            path, space=space, matrices=("mass", "stiffness"), dtype=torch.float64
        )[0]
        # Σ M_ij = ∫ 1 = |Ω| = 3 for the L-shape; K annihilates constants: row sums vanish
        assert float(graph.mass_weight.sum()) == pytest.approx(3.0, rel=1e-12)
        rows = torch.zeros(graph.num_nodes, dtype=torch.float64).index_add_(
            0, graph.stiffness_index[0], graph.stiffness_weight
        )
        assert float(rows.abs().max()) < 1e-12
        # boundary masks: "left" dofs lie on x = -1, "top" dofs on y = 1
        data = MeshGraphDataset(path, space=space)
        left = graph.boundary_mask[:, data.boundary_names.index("left")]
        top = graph.boundary_mask[:, data.boundary_names.index("top")]
        assert torch.allclose(graph.pos[left, 0], torch.tensor(-1.0, dtype=torch.float64))
        assert torch.allclose(graph.pos[top, 1], torch.tensor(1.0, dtype=torch.float64))
        # the solution vanishes exactly on the Dirichlet parts and not elsewhere
        dirichlet = [data.boundary_names.index(n) for n in ("bottom", "right", "top", "left")]
        on_dirichlet = graph.boundary_mask[:, dirichlet].any(dim=1)
        assert graph.y[on_dirichlet].abs().max() == 0
        assert graph.y[~on_dirichlet].abs().min() > 0


def test_p1_fields_interpolate_exactly_onto_a_p2_graph(tmp_path, small_dataset):
    _, path = small_dataset(tmp_path / "e.h5", "fem_elasticity", {"level": 0}, 1)
    data = MeshGraphDataset(path, space="P2", inputs=["von_mises"], outputs=["displacement"])
    nodes = data.fe.positions[: data.n_vertices]  # P2 dofs: the vertices first
    linear = nodes @ np.array([1.0, 2.0]) + 0.5
    p2 = data.fe.positions
    np.testing.assert_allclose(data.p1_to_p2 @ linear, p2 @ np.array([1.0, 2.0]) + 0.5, atol=1e-12)
    graph = data[0]
    assert graph.x.shape == (p2.shape[0], 1) and graph.y.shape == (p2.shape[0], 2)


def test_missing_mesh_and_unknown_boundary_are_clear_errors():
    with pytest.raises(ConfigError, match="nope_1.msh: no such mesh file; name a mesh of .*lshape"):
        parse_run_config(
            {
                "generator": {"class_path": "fem_darcy", "init_args": {"mesh": "nope"}},
                "n_samples": 1,
            },
            "cfg.yaml",
        )
    bad = {
        "generator": {"class_path": "fem_darcy", "init_args": {"dirichlet": ["outer"]}},
        "n_samples": 1,
    }
    with pytest.raises(ConfigError, match="unknown boundary 'outer'; the mesh has: bottom, left"):
        parse_run_config(bad, "cfg.yaml")


def _write_mesh(path, points, triangles):
    meshio.write(
        str(path),
        meshio.Mesh(points, [("triangle", np.asarray(triangles))]),
        file_format="gmsh22",
        binary=False,
    )


def test_inverted_and_degenerate_triangles_are_refused(tmp_path):
    points = np.array([[0, 0], [1, 0], [1, 1], [0, 1], [2, 0.5]], dtype=float)
    good = [[0, 1, 2], [0, 2, 3]]
    _write_mesh(tmp_path / "good.msh", points, good)
    assert load_mesh(str(tmp_path / "good.msh")).t.shape == (3, 2)
    _write_mesh(tmp_path / "inverted.msh", points, [[0, 1, 2], [0, 2, 3], [1, 2, 4]])
    with pytest.raises(MeshError, match=r"inverted.msh: 1 inverted triangle\(s\).*element 2"):
        load_mesh(str(tmp_path / "inverted.msh"))
    flat = np.vstack([points, [[0.5, 0.5]]])
    _write_mesh(tmp_path / "flat.msh", flat, good + [[0, 5, 2]])
    with pytest.raises(MeshError, match=r"flat.msh: 1 degenerate triangle\(s\).*element 2"):
        load_mesh(str(tmp_path / "flat.msh"))


def test_datamodule_splits_and_batches(tmp_path, small_dataset):
    from opl.data import MeshDataModule

    _, path = small_dataset(tmp_path / "d.h5", "fem_darcy", {"level": 0}, 5)
    module = MeshDataModule(
        path, train=(0, 3), val=(3, 4), test=(4, 5), matrices=("mass",), batch_size=2
    )
    module.setup()
    batch = next(iter(module.val_dataloader()))
    assert batch.sample.tolist() == [3]
    train = next(iter(module.train_dataloader()))
    n = MeshGraphDataset(path).n_dofs
    assert train.num_graphs == 2 and train.num_nodes == 2 * n
    assert int(train.mass_index.max()) == 2 * n - 1  # the second graph's matrix is offset
    assert (
        sorted(train.sample.tolist() + next(iter(module.test_dataloader())).sample.tolist())[-1]
        == 4
    )
    from opl.errors import OplInputError

    with pytest.raises(OplInputError, match="train and val: sample ranges overlap"):
        MeshDataModule(path, train=(0, 3), val=(2, 4))


def test_fem_run_is_the_same_in_a_process_pool(tmp_path, small_dataset):
    import h5py

    config, serial = small_dataset(tmp_path / "a.h5", "fem_heat", SMALL["fem_heat"], 3)
    pooled = generate(config, str(tmp_path / "b.h5"), workers=2, progress=False)
    with h5py.File(serial, "r") as a, h5py.File(pooled, "r") as b:
        for name in ("u0", "solution", "kappa", "mesh_face_nodes"):
            np.testing.assert_array_equal(a[name][()], b[name][()], err_msg=name)
