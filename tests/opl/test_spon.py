"""SPON, multigrid SPON and the plain mesh GNN: FE structure (projection, nested-space transfer),
exact boundary values, training and bundles. Meshes: lshape level 0 refined once (small)."""

import numpy as np
import pytest
import torch

from data_gen.fem import mesh as mesh_module
from data_gen.fem.mesh import MeshError, load_mesh
from opl.data.normalize import ChannelNormalizer
from opl.models import MODELS, MultigridSPON
from opl.models.base import predict
from opl.models.fe_space import FESpace, MassSolver, SparseMatrix, mass_bounds

OUTER = ["bottom", "right", "top", "left"]
KINDS = {"SPON": {}, "MultigridSPON": {"coarsening": 1}, "MeshGNN": {}}


def build(name, **options):
    args = dict(mesh="lshape", level=0, refine=1, input_element="P2", dirichlet=OUTER, width=16)
    args.update(KINDS[name])
    args.update(options)
    if name == "MultigridSPON":
        args.update(coarse_depth=2, fine_layers=1)
    else:
        args.update(depth=2)
    return MODELS[name](1, 1, **args)


@pytest.mark.parametrize("element", ["P1", "P2"])
def test_projection_encoder_reproduces_fe_functions_and_projects_others(element):
    # float64: the projection of a function of V_h is itself up to round-off (1e-12 relative)
    model = build("SPON", element=element, input_element=element).double()
    x, y = model.space.positions.T
    u = torch.from_numpy(np.sin(3 * x) * np.cos(2 * y) + x * y)[None, None]
    assert torch.allclose(model.encode(u), u, rtol=0, atol=1e-12)
    # P2 data onto P1: the result is the L2 projection (M a = M12 w), not the vertex values
    coarse = build("SPON", element="P1", input_element="P2").double()
    x2, y2 = coarse.input_space.positions.T
    w = torch.from_numpy(x2**2 + y2**2)[None, None]
    a = coarse.encode(w)[0, 0].numpy()
    residual = coarse.space.mass @ a - coarse.space.mixed_mass(coarse.input_space) @ w[0, 0].numpy()
    assert np.abs(residual).max() < 1e-13
    vertex = (x2**2 + y2**2)[: coarse.space.n_dofs]
    assert np.abs(a - vertex).max() > 1e-3  # differs from interpolation by O(h^2)


def test_mass_bounds_are_wathens():
    # the eigenvalues of D_e^-1 M_e on any triangle: {1/2, 1/2, 2} for P1 (Wathen, 1987)
    assert mass_bounds("P1") == pytest.approx((0.5, 2.0), abs=1e-12)
    low, high = mass_bounds("P2")
    assert 0.39 < low < 0.40 and 2.05 < high < 2.07


@pytest.mark.parametrize("element", ["P1", "P2"])
@pytest.mark.parametrize("mesh", [("lshape", 0, 1), ("plate_holes", 1, 0)])
def test_the_torch_mass_solve_meets_its_tolerance_on_any_mesh(element, mesh):
    """The fixed Chebyshev count against SuperLU: float64 to 1e-10 of the largest entry (the
    M-norm bound is 1e-12; the max norm can lose a factor up to sqrt(cond M)), float32 to 1e-6
    (the bound is 1e-7, plus float32 round-off of the steps)."""
    space = FESpace(load_mesh(*mesh), element)
    solver = MassSolver(space)
    rhs = np.random.default_rng(0).standard_normal((space.n_dofs, 4))
    exact = space.solve_mass(rhs)
    for dtype, tolerance in ((torch.float64, 1e-10), (torch.float32, 1e-6)):
        got = solver(torch.from_numpy(rhs).to(dtype)).double().numpy()
        assert np.abs(got - exact).max() <= tolerance * np.abs(exact).max(), dtype
    assert solver.steps(torch.float64) == (26 if element == "P1" else 31)


def test_mass_solve_gradient_and_refusal():
    solver = MassSolver(FESpace(load_mesh("lshape", 0), "P2"))
    rhs = torch.randn(solver.mass.shape[0], 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(solver, (rhs,))
    with pytest.raises(ValueError, match=r"right-hand side of shape \(421, k\)"):
        solver(torch.zeros(5, 1))


def test_sparse_matrix_under_export_is_the_csr_product():
    space = FESpace(load_mesh("lshape", 0), "P1")
    matrix = SparseMatrix(space.mass)
    x = torch.randn(space.n_dofs, 3, dtype=torch.float64)
    program = torch.export.export(matrix, (x,))  # the gather / index_add path
    torch.testing.assert_close(program.module()(x), matrix(x), rtol=1e-14, atol=1e-14)
    torch.testing.assert_close(matrix(x).numpy(), space.mass @ x.numpy(), rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("element", ["P1", "P2"])
def test_restriction_and_prolongation_on_nested_meshes(element):
    coarse_mesh = load_mesh("lshape", 0)
    coarse, fine = FESpace(coarse_mesh, element), FESpace(coarse_mesh.refined(), element)
    prolong = coarse.evaluation_matrix(fine.positions)
    # Galerkin identity P^T M_f P = M_c and R P = I for R = M_c^-1 P^T M_f (round-off, 1e-14)
    assert np.abs(prolong.T @ fine.mass @ prolong - coarse.mass).max() < 1e-15
    restrict = coarse.solve_mass((prolong.T @ fine.mass).toarray())
    assert np.abs(restrict @ prolong - np.eye(coarse.n_dofs)).max() < 1e-12
    # prolongation is exact interpolation of coarse functions (a linear one here)
    xc, yc = coarse.positions.T
    xf, yf = fine.positions.T
    assert np.abs(prolong @ (1 + 2 * xc - yc) - (1 + 2 * xf - yf)).max() < 1e-13
    # the multigrid model's restrict applies the same R to features, its mass solve to the
    # tolerance of the Chebyshev count (1e-12 in the M-norm: 1e-10 of the scale, as above)
    model = build("MultigridSPON", element=element, input_element=element).double()
    h = torch.randn(2, fine.n_dofs, 3, dtype=torch.float64)
    expected = np.einsum("cf,bfw->bcw", restrict, h.numpy())
    assert np.abs(model.restrict(0, h).numpy() - expected).max() < 1e-10 * np.abs(expected).max()


def test_transfer_to_another_mesh_by_interpolation():
    source = FESpace(load_mesh("lshape", 1), "P2")
    target = FESpace(load_mesh("lshape", 0), "P1")  # not nested: points fall anywhere
    x, y = source.positions.T
    moved = source.interpolate_to(target, x**2 - x * y)
    xt, yt = target.positions.T
    assert np.abs(moved - (xt**2 - xt * yt)).max() < 1e-12  # P2 holds quadratics exactly


@pytest.mark.parametrize("name", ["SPON", "MultigridSPON"])
def test_boundary_values_are_exact(name):
    torch.manual_seed(0)
    model = build(name)
    in_norm, out_norm = ChannelNormalizer(1), ChannelNormalizer(1)
    out_norm.mean.fill_(3.0)  # an offset the network would carry to the boundary
    out_norm.std.fill_(0.7)
    x = torch.randn(4, 1, model.input_space.n_dofs)
    mask = model.dirichlet_mask.expand(4, -1, -1)
    assert mask.sum() > 0
    u = predict(model, in_norm, out_norm, x)
    assert torch.all(u[mask] == 0)  # bit for bit, after decoding
    g = torch.randn(4, 1, model.space.n_dofs)
    decoded = out_norm.decode(model(in_norm.encode(x)))
    assert torch.equal(model.impose(decoded, boundary_values=g)[mask], g[mask])
    free = u[~mask]
    assert free.abs().min() > 0 and torch.isfinite(free).all()
    assert torch.equal(free, decoded[~mask])  # inside, the decoded network output as it is


def test_gnn_baseline_does_not_impose_boundary_values():
    torch.manual_seed(0)
    model = build("MeshGNN")
    out = model(torch.randn(2, 1, model.input_space.n_dofs))
    assert out[model.dirichlet_mask.expand(2, -1, -1)].abs().max() > 0


def test_bad_input_and_options_are_refused():
    model = build("SPON")
    with pytest.raises(ValueError, match=r"expected dofs shaped \(B, 1, 1601\)"):
        model(torch.zeros(1, 1, 421))
    with pytest.raises(ValueError, match="unknown boundary 'outer'"):
        build("SPON", dirichlet=["outer"])
    with pytest.raises(ValueError, match="coarsening"):
        MultigridSPON(1, 1, mesh="lshape", level=0, refine=0, coarsening=1)


def _dataset(small_dataset, tmp_path, n=24):
    _, path = small_dataset(
        tmp_path / "d.h5", "fem_darcy", {"level": 0, "refine": 1, "element": "P2"}, n
    )
    return path


@pytest.mark.parametrize("name", ["SPON", "MultigridSPON", "MeshGNN"])
def test_short_training_reduces_the_loss_and_bundles_round_trip(name, small_dataset, tmp_path):
    import lightning as L

    from opl.data import MeshFieldDataModule
    from opl.export import load, write_bundle
    from opl.train import OperatorModule

    path = _dataset(small_dataset, tmp_path)
    L.seed_everything(0)
    data = MeshFieldDataModule(
        str(path), train=(0, 16), val=(16, 20), test=(20, 24), space="P1", input_space="P2",
        batch_size=4,
    )  # fmt: skip
    model = build(name)
    module = OperatorModule(model, loss="rel_l2", optimizer=lambda p: torch.optim.Adam(p, lr=5e-3))
    trainer = L.Trainer(
        max_epochs=10, accelerator="cpu", logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False,
    )  # fmt: skip
    data.setup()
    x, y = data.tensors("test", "P1")
    module.in_normalizer.load_state_dict(data.in_normalizer.state_dict())
    module.out_normalizer.load_state_dict(data.out_normalizer.state_dict())
    before = module.loss(module(x), y).item()
    trainer.fit(module, datamodule=data)
    module.eval()
    with torch.no_grad():
        pred = module(x)
    after = module.loss(pred, y).item()
    assert after < 0.7 * before, (before, after)  # 40 steps: a clear, not a full, drop
    boundary = model.dirichlet_mask.expand_as(pred)
    if name != "MeshGNN":
        assert torch.all(pred[boundary] == 0)
    bundle = write_bundle(
        tmp_path / "m.opl", model, module.in_normalizer, module.out_normalizer, {}, {}
    )
    loaded = load(bundle)
    again = loaded(x.numpy())
    assert np.allclose(again, pred.numpy(), rtol=0, atol=1e-6)
    if name != "MeshGNN":
        assert np.all(again[boundary.numpy()] == 0)
    # exported like the grid models: torch.export and ONNX, batch size dynamic, the mass solves
    # and sparse products captured as plain tensor ops (float32 kernels: 1e-5 of the scale)
    from opl.export import export_onnx, export_program

    scale = np.abs(again).max()
    program = torch.export.load(export_program(loaded, tmp_path / "m.pt2"))
    with torch.no_grad():
        assert np.abs(program.module()(x).numpy() - again).max() <= 1e-5 * scale
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(export_onnx(loaded, tmp_path / "m.onnx"),
                                   providers=["CPUExecutionProvider"])  # fmt: skip
    onnx_out = session.run(None, {"x": x[:3].numpy()})[0]
    assert np.abs(onnx_out - again[:3]).max() <= 1e-5 * scale


@pytest.mark.parametrize("name", ["SPON", "MeshGNN"])
def test_a_mesh_operator_builds_on_its_datasets_mesh_without_mesh_files(
    name, small_dataset, tmp_path, monkeypatch
):
    from opl.data import MeshFieldDataModule

    path = _dataset(small_dataset, tmp_path, n=4)  # lshape level 0 refined once, P2
    on_disk = build(name)
    monkeypatch.setattr(mesh_module, "MESH_DIR", tmp_path / "no_meshes")
    with pytest.raises(MeshError, match="no such mesh file"):
        build(name)
    from_file = build(name, mesh=str(path), refine=0)
    # the same mesh, numbered as in the file: same fingerprint, dofs and Dirichlet dofs
    assert from_file.mesh_sha256 == on_disk.mesh_sha256
    assert torch.equal(from_file.dirichlet_mask, on_disk.dirichlet_mask)
    data = MeshFieldDataModule(str(path), train=(0, 2), val=(2, 4), input_space="P2")
    data.setup("fit")
    from_file.check_mesh(data.input_positions, data.output_positions)
    with pytest.raises(MeshError, match="a dataset holds one mesh, use level 0"):
        build(name, mesh=str(path), level=1, refine=0)


def test_training_refuses_a_model_on_another_mesh(small_dataset, tmp_path):
    import lightning as L

    from opl.data import MeshFieldDataModule
    from opl.errors import ConfigError
    from opl.train import OperatorModule

    path = _dataset(small_dataset, tmp_path, n=8)
    data = MeshFieldDataModule(str(path), train=(0, 4), val=(4, 8), input_space="P2")
    module = OperatorModule(build("SPON", refine=0), loss="rel_l2")
    trainer = L.Trainer(max_epochs=1, logger=False, enable_checkpointing=False)
    with pytest.raises(ConfigError, match="set mesh, level, refine and element"):
        trainer.fit(module, datamodule=data)
    with pytest.raises(ConfigError, match="use loss: rel_l2"):
        OperatorModule(build("SPON"))


def test_opl_predict_writes_mesh_predictions_on_the_mesh_that_opl_plot_draws(
    small_dataset, tmp_path, capsys
):
    import h5py
    import yaml

    import opl
    from opl.cli import main
    from opl.data.dataset_file import DatasetFile

    path = _dataset(small_dataset, tmp_path, n=12)  # coefficient and solution P2
    model = {"class_path": "opl.models.SPON", "init_args": {
        "in_channels": 1, "out_channels": 1, "mesh": "lshape", "refine": 1, "input_element": "P2",
        "dirichlet": OUTER, "width": 8, "depth": 1}}  # fmt: skip
    config = {
        "trainer": {
            "max_epochs": 1,
            "accelerator": "cpu",
            "default_root_dir": str(tmp_path),
            "logger": False,
            "enable_progress_bar": False,
            "enable_checkpointing": False,
        },  # fmt: skip
        "model": {
            "class_path": "opl.train.OperatorModule",
            "init_args": {"model": model, "loss": "rel_l2"},
        },  # fmt: skip
        "data": {
            "class_path": "opl.data.MeshFieldDataModule",
            "init_args": {
                "path": str(path),
                "train": [0, 8],
                "val": [8, 10],
                "test": [10, 12],
                "space": "P1",
                "input_space": "P2",
                "batch_size": 4,
            },
        },  # fmt: skip
    }
    (tmp_path / "train.yaml").write_text(yaml.safe_dump(config))
    common = ["--config", str(tmp_path / "train.yaml")]
    assert main(["fit", *common]) == 0
    out = tmp_path / "pred.h5"
    ckpt = str(tmp_path / "final.ckpt")
    assert main(["predict", *common, "--ckpt_path", ckpt, "--predictions", str(out)]) == 0
    with h5py.File(out, "r") as f, h5py.File(path, "r") as source:
        roles = {name: f[name].attrs["role"] for name in f if "role" in f[name].attrs}
        assert roles == {"coeff": "input", "solution": "output", "solution_prediction":
                         "prediction", "source_sample": "parameter"}  # fmt: skip
        np.testing.assert_array_equal(f["source_sample"][()], np.arange(10, 12))
        np.testing.assert_array_equal(f["solution"][()], source["solution"][10:12])
        np.testing.assert_array_equal(f["mesh_face_nodes"][()], source["mesh_face_nodes"][()])
        with DatasetFile(out) as written:  # the data module's space, P1, for the prediction
            assert written.fields["solution"].element == "P2"
            assert written.fields["solution_prediction"].dims == ("sample", "node")
        # the prediction is the trained operator's on the source's P2 coefficient dofs
        expected = opl.load(tmp_path / "model.opl")(f["coeff"][()][:, None])[:, 0]
        np.testing.assert_allclose(f["solution_prediction"][()], expected, rtol=0, atol=1e-6)
    # truth (P2), prediction (P1) and their error at the vertices
    assert main(["plot", str(out), "--sample", "0", "-o", str(tmp_path / "p.png")]) == 0
    assert (tmp_path / "p.png").stat().st_size > 10_000
