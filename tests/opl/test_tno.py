"""The transformer neural operator: quadrature-weighted attention against its definition, the
quadrature rules, convergence under grid refinement (discretisation invariance), shapes."""

import math
import warnings

import pytest
import torch

from opl.models.tno import (
    TNO,
    ContinuumAttention,
    PatchAttention,
    PatchTNO,
    SpectralConv2d,
    from_patches,
    grid_coordinates,
    quadrature_weights,
    to_patches,
)


def test_weighted_attention_equals_softmax_with_log_weights():
    torch.manual_seed(0)
    attention = ContinuumAttention(16, 2).double()
    v = torch.randn(3, 50, 16, dtype=torch.float64)
    w = torch.rand(50, dtype=torch.float64) + 0.1
    q, k, values = attention.qkv(v).view(3, 50, 3, 2, 8).permute(2, 0, 3, 1, 4)
    scores = q @ k.transpose(-1, -2) / math.sqrt(8) + w.log()
    expected = attention.out((scores.softmax(-1) @ values).transpose(1, 2).reshape(3, 50, 16))
    torch.testing.assert_close(attention(v, w.log()), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("grid", ["nodes", "cells", "periodic"])
def test_quadrature_rules_integrate_what_they_should(grid):
    shape = (9, 13)
    w = quadrature_weights(shape, grid, torch.float64, torch.device("cpu"))
    assert w.shape == (9 * 13,) and w.sum().item() == pytest.approx(1.0, abs=1e-14)
    n = shape[1]
    x = grid_coordinates((n,), grid, torch.float64, torch.device("cpu"))[0]
    row = quadrature_weights((n,), grid, torch.float64, torch.device("cpu"))
    if grid == "nodes":  # the trapezoidal rule is exact for linear functions: ∫ x = 1/2
        assert x[0] == 0 and x[-1] == 1
        assert (row * x).sum().item() == pytest.approx(0.5, abs=1e-14)
    elif grid == "cells":  # the midpoint rule too, on (i + 1/2)/n
        assert x[0] == pytest.approx(0.5 / n) and x[-1] == pytest.approx(1 - 0.5 / n)
        assert (row * x).sum().item() == pytest.approx(0.5, abs=1e-14)
    else:  # exact for trigonometric polynomials on the periodic grid: ∫ cos(2πx)^2 = 1/2
        assert x[0] == 0 and x[-1] == pytest.approx(1 - 1 / n)
        assert (row * torch.cos(2 * math.pi * x) ** 2).sum().item() == pytest.approx(0.5, abs=1e-14)


@pytest.mark.parametrize("n_dim", [1, 2])
def test_outputs_converge_under_refinement_at_second_order(n_dim):
    """The same weights on ever finer node grids: at the shared nodes the output converges like
    h² (the trapezoidal rule's order), the sense in which the model is discretisation
    invariant. Plain softmax (equal weights on a node grid) would converge only like h."""
    torch.manual_seed(0)
    model = TNO(n_dim=n_dim, width=16, heads=2, layers=2, ffn_width=32, grid="nodes").double()
    outputs = []
    for n in (17, 33, 65):
        xs = torch.linspace(0, 1, n, dtype=torch.float64)
        a = torch.sin(3 * xs) if n_dim == 1 else torch.sin(3 * xs)[:, None] * torch.cos(2 * xs)
        with torch.no_grad():
            y = model(a[None, None])
        step = (n - 1) // 16  # the 17 nodes shared by every grid
        outputs.append(y[..., ::step] if n_dim == 1 else y[..., ::step, ::step])
    coarse = (outputs[0] - outputs[2]).abs().max()
    fine = (outputs[1] - outputs[2]).abs().max()
    # h²: (1/16² - 1/64²) / (1/32² - 1/64²) = 5 (measured 5.0); first order, as plain softmax
    # with equal weights on a node grid, gives 3 (measured 3.0)
    assert coarse / fine > 4.0


def test_shapes_and_input_errors():
    model = TNO(in_channels=2, out_channels=3, n_dim=2, width=16, heads=4, layers=1, grid="cells")
    assert model(torch.randn(2, 2, 7, 9)).shape == (2, 3, 7, 9)
    model_1d = TNO(in_channels=1, out_channels=1, n_dim=1, width=16, heads=4, layers=1,
                   grid="periodic")  # fmt: skip
    assert model_1d(torch.randn(4, 1, 30)).shape == (4, 1, 30)
    with pytest.raises(ValueError, match=r"input: expected \(B, 2, n, n\)"):
        model(torch.randn(2, 1, 7, 9))
    with pytest.raises(ValueError, match="multiple of heads"):
        TNO(width=30, heads=8)
    with pytest.raises(ValueError, match="grid: expected one of nodes, cells, periodic"):
        TNO(grid="simpson")
    with pytest.raises(ValueError, match="TNO does not know its grid convention; train it on"):
        TNO(width=16, heads=4, layers=1)(torch.zeros(1, 1, 8, 8))


def test_patches_round_trip_in_c_order():
    v = torch.arange(2 * 3 * 8 * 12, dtype=torch.float64).view(2, 3, 8, 12)
    tokens = to_patches(v, 4)
    assert tokens.shape == (2, 16, 3, 2, 3)
    torch.testing.assert_close(tokens[:, 1], v[:, :, 0:2, 3:6])  # second patch: first row
    torch.testing.assert_close(from_patches(tokens, 4), v)
    with pytest.raises(ValueError, match="multiple of 4"):
        to_patches(torch.zeros(1, 1, 10, 12), 4)


def test_patch_attention_scores_are_the_quadrature_of_q_dot_k():
    torch.manual_seed(0)
    attention = PatchAttention(8, 2, "pointwise", 3).double()
    tokens = torch.randn(2, 4, 8, 3, 3, dtype=torch.float64)
    qkv = attention.qkv(tokens.movedim(2, -1)).movedim(-1, 2)  # (B, T, 24, 3, 3)
    q, k, v = qkv.view(2, 4, 3, 2, 4, 3, 3).unbind(2)  # (B, T, heads, 4, 3, 3)
    cells = 36  # the whole grid: 2 x 2 patches of 3 x 3
    scores = torch.einsum("bihcxy,bjhcxy->bhij", q, k) / cells  # Σ_cells Σ_channels, no √d
    mixed = torch.einsum("bhij,bjhcxy->bihcxy", scores.softmax(-1), v).reshape(2, 4, 8, 3, 3)
    expected = attention.out(mixed.movedim(2, -1)).movedim(-1, 2)
    torch.testing.assert_close(attention(tokens, cells), expected, rtol=1e-12, atol=1e-12)


def test_spectral_convolution_is_one_operator_on_every_grid_that_resolves_its_modes():
    torch.manual_seed(0)
    conv = SpectralConv2d(2, 3, modes=4).double()
    outputs = []
    for n in (16, 32):  # periodic grids, points i / n
        x = torch.arange(n, dtype=torch.float64) / n
        X, Y = torch.meshgrid(x, x, indexing="ij")
        u = torch.stack([torch.sin(2 * math.pi * (X + 2 * Y)), torch.cos(2 * math.pi * 3 * X)])
        with torch.no_grad():
            outputs.append(conv(u[None]))
    torch.testing.assert_close(outputs[1][..., ::2, ::2], outputs[0], rtol=1e-12, atol=1e-12)
    assert outputs[0].abs().max() > 1e-3


@pytest.mark.parametrize("qkv", ["pointwise", "spectral"])
def test_patch_tno_keeps_its_tokens_across_resolutions(qkv):
    model = PatchTNO(
        patches=4,
        width=8,
        heads=2,
        layers=1,
        ffn_width=16,
        qkv=qkv,
        embed_modes=3,
        qkv_modes=3,
        smoother_modes=4,
        grid="nodes",
    )
    for n in (16, 31, 32, 48):  # 31: padded to 32 inside, cropped back
        assert model(torch.randn(2, 1, n, n)).shape == (2, 1, n, n)
    with pytest.raises(ValueError, match=r"input: expected \(B, 1, H, W\)"):
        model(torch.randn(1, 2, 30, 30))


TINY = {
    "TNO": lambda: TNO(width=16, heads=2, layers=1, ffn_width=32),
    "PatchTNO": lambda: PatchTNO(
        patches=4, width=16, heads=2, layers=1, ffn_width=32, embed_modes=3, smoother_modes=4
    ),
}


@pytest.fixture(scope="module")
def darcy(tmp_path_factory, small_dataset):
    root = tmp_path_factory.mktemp("tno")
    return small_dataset(root / "d.h5", "darcy", {"resolution": 33}, 12)[1]


def test_the_grid_convention_comes_from_the_data_and_a_conflicting_one_is_refused(
    darcy, tmp_path, small_dataset
):
    import lightning as L

    from opl.data import GridDataModule
    from opl.errors import ConfigError
    from opl.train import OperatorModule

    flow = {"resolution": 16, "t_end": 0.1, "n_snapshots": 1, "dt": 0.01}
    periodic = small_dataset(tmp_path / "ns.h5", "navier_stokes", flow, 4)[1]
    trainer = L.Trainer(max_epochs=1, logger=False, enable_progress_bar=False,
                        enable_checkpointing=False, enable_model_summary=False)  # fmt: skip
    data = GridDataModule(periodic, train=(0, 2), val=(2, 4), batch_size=2)
    module = OperatorModule(TINY["TNO"](), loss="rel_l2")
    trainer.validate(module, datamodule=data, verbose=False)
    assert module.model.grid == "periodic"
    built_for_nodes = OperatorModule(TNO(width=16, heads=2, layers=1, grid="nodes"))
    with pytest.raises(
        ConfigError, match="TNO was built for nodes grids, the data are on periodic"
    ):
        trainer.validate(built_for_nodes, datamodule=data, verbose=False)


@pytest.mark.parametrize("name", list(TINY))
def test_a_short_training_run_reduces_the_error_and_the_bundle_reproduces_it(name, darcy, tmp_path):
    import lightning as L

    import opl
    from opl.data import GridDataModule
    from opl.export import bundle_from_checkpoint, export_onnx, export_program
    from opl.models.base import GridWarning
    from opl.train import OperatorModule

    L.seed_everything(0)
    data = GridDataModule(darcy, train=(0, 8), val=(8, 10), test=(10, 12), batch_size=4)
    module = OperatorModule(TINY[name](), loss="rel_l2")
    trainer = L.Trainer(
        max_epochs=15,
        logger=False,
        enable_progress_bar=False,
        enable_checkpointing=False,
        enable_model_summary=False,
    )
    before = trainer.validate(module, datamodule=data, verbose=False)[0]["val/rel_l2"]
    trainer.fit(module, datamodule=data)
    after = trainer.validate(module, datamodule=data, verbose=False)[0]["val/rel_l2"]
    assert after < 0.8 * before
    # the grid convention came from the file's coordinates (a node grid), into init_args
    assert module.model.grid == module.model.init_args["grid"] == "nodes"
    checkpoint = tmp_path / "m.ckpt"
    trainer.save_checkpoint(checkpoint)
    op = opl.load(bundle_from_checkpoint(checkpoint, tmp_path / "m.opl"))
    x, _ = next(iter(data.test_dataloader()[0]))
    with torch.no_grad():
        expected = module.eval()(x)
    torch.testing.assert_close(op(x), expected, rtol=0, atol=0)
    with warnings.catch_warnings():  # discretisation-invariant: another grid is no surprise
        warnings.simplefilter("error", GridWarning)
        assert op(x[..., ::2, ::2]).shape[-2:] == (17, 17)
    program = torch.export.load(export_program(op, tmp_path / "m.pt2"))
    torch.testing.assert_close(program.module()(x), expected, rtol=1e-5, atol=1e-6)
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(
        export_onnx(op, tmp_path / "m.onnx"), providers=["CPUExecutionProvider"]
    )
    got = session.run(None, {"x": x.numpy()})[0]
    # float32 kernels of two runtimes: agreement to 1e-5 of the output scale
    assert abs(got - expected.numpy()).max() <= 1e-5 * abs(expected.numpy()).max()
