"""Bundles: round trip, calls on numpy and tensors, loading without Lightning, and refusals."""

import json
import subprocess
import sys
import zipfile

import lightning as L
import numpy as np
import pytest
import torch

import opl
from data_gen.fem import mesh as mesh_module
from opl.cli import main
from opl.data import GridDataModule
from opl.data.normalize import ChannelNormalizer
from opl.export import BundleError, bundle_from_checkpoint, load, write_bundle
from opl.models import MODELS, FieldOperator, MgNO
from opl.models.base import predict
from opl.train import OperatorModule

TINY = {"channels": 4, "n_layers": 2, "levels": 3}


@pytest.fixture(scope="module")
def trained(tmp_path_factory, small_dataset):
    """(module, datamodule, checkpoint, bundle) of a tiny MgNO trained one epoch on Darcy 33²."""
    root = tmp_path_factory.mktemp("export")
    path = small_dataset(root / "d.h5", "darcy", {"resolution": 33}, 12)[1]
    data = GridDataModule(path, train=(0, 8), val=(8, 10), test=(10, 12), batch_size=4)
    module = OperatorModule(MgNO(**TINY))
    trainer = L.Trainer(
        max_epochs=1,
        logger=False,
        enable_progress_bar=False,
        enable_checkpointing=False,
        enable_model_summary=False,
    )
    trainer.fit(module, datamodule=data)
    checkpoint = root / "m.ckpt"
    trainer.save_checkpoint(checkpoint)
    bundle = bundle_from_checkpoint(checkpoint, root / "m.opl")
    return module.eval(), data, checkpoint, bundle


def test_round_trip_gives_identical_outputs_on_tensors_and_numpy(trained):
    module, data, _, bundle = trained
    op = opl.load(bundle)
    x, _ = next(iter(data.test_dataloader()[0]))
    with torch.no_grad():
        expected = module(x)
    torch.testing.assert_close(op(x), expected, rtol=0, atol=0)  # a batch
    with torch.no_grad():
        expected_one = module(x[:1])[0]  # batch 1 may take another float32 conv path than 4
    single = op(x[0].numpy())  # (C, H, W) numpy -> (C, H, W) numpy
    assert isinstance(single, np.ndarray) and single.shape == (1, 33, 33)
    np.testing.assert_array_equal(single, expected_one.numpy())
    field = op(x[0, 0].numpy())  # one input channel: (H, W) -> (H, W)
    np.testing.assert_array_equal(field, expected_one[0].numpy())
    assert op.to("cpu") is op
    with pytest.raises(ValueError, match=r"input: expected \(B, 1, \*spatial\)"):
        op(np.zeros((2, 2, 2, 33, 33)))


def test_bundle_records_what_the_model_is_and_where_it_came_from(trained):
    *_, bundle = trained
    meta = load(bundle).metadata
    assert meta["class"] == "MgNO" and meta["init_args"]["channels"] == 4
    assert meta["grid"]["shape"] == [33, 33]
    assert meta["provenance"]["pde"] == "darcy"
    assert "resolution: 33" in meta["provenance"]["generator_config"]


def test_loading_needs_no_lightning(trained):
    *_, bundle = trained
    code = (
        "import sys, importlib.abc\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name.split('.')[0] in ('lightning', 'pytorch_lightning'):\n"
        "            raise ImportError('blocked: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import numpy as np, opl\n"
        f"op = opl.load({str(bundle)!r})\n"
        "print(op(np.ones((33, 33), dtype=np.float32)).shape)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "(33, 33)"


def _rewrite(bundle, target, edit_json=None, edit_weights=None):
    with zipfile.ZipFile(bundle) as archive:
        meta = json.loads(archive.read("model.json"))
        weights = archive.read("model.safetensors")
    if edit_json:
        edit_json(meta)
    if edit_weights:
        weights = edit_weights(weights)
    with zipfile.ZipFile(target, "w") as archive:
        archive.writestr("model.json", json.dumps(meta))
        archive.writestr("model.safetensors", weights)
    return target


def test_refusals(trained, tmp_path):
    *_, bundle = trained
    foreign = _rewrite(
        bundle, tmp_path / "a.opl", edit_json=lambda m: m.update({"class": "os.system"})
    )
    with pytest.raises(
        BundleError, match="model class 'os.system' is not in opl.models' allow-list"
    ):
        load(foreign)
    newer = _rewrite(
        bundle, tmp_path / "b.opl", edit_json=lambda m: m.update({"format_version": "2.0"})
    )
    with pytest.raises(BundleError, match="bundle format 2.0 is not readable by this opl"):
        load(newer)
    tampered = _rewrite(bundle, tmp_path / "c.opl", edit_weights=lambda w: w[:-8] + bytes(8))
    with pytest.raises(BundleError, match="do not match their recorded SHA-256"):
        load(tampered)
    data = open(bundle, "rb").read()
    truncated = tmp_path / "d.opl"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(BundleError, match="corrupt or truncated bundle"):
        load(truncated)
    with pytest.raises(BundleError, match="no such bundle"):
        load(tmp_path / "missing.opl")


def test_opl_export_command(trained, tmp_path, capsys):
    _, _, checkpoint, bundle = trained
    out = tmp_path / "cli.opl"
    assert main(["export", str(checkpoint), "-o", str(out)]) == 0
    assert load(out).metadata["weights_sha256"] == load(bundle).metadata["weights_sha256"]
    capsys.readouterr()
    assert main(["export", str(tmp_path / "nope.ckpt"), "-o", str(out)]) == 2
    assert "nope.ckpt: no such checkpoint" in capsys.readouterr().err


def test_onnx_and_torch_export_match_torch(trained, tmp_path, capsys):
    ort = pytest.importorskip("onnxruntime")
    from opl.export import ExportUnsupported, export_program

    *_, bundle = trained
    op = load(bundle)
    onnx_path = tmp_path / "m.onnx"
    assert main(["export", str(bundle), "-o", str(onnx_path), "--format", "onnx"]) == 0
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).uniform(3, 12, size=(5, 1, 33, 33)).astype(np.float32)
    got = session.run(None, {"x": x})[0]  # a batch of 5: the batch dimension is dynamic
    expected = op(torch.from_numpy(x)).numpy()
    # float32 kernels of two runtimes: agreement to 1e-5 of the output scale
    assert np.abs(got - expected).max() <= 1e-5 * np.abs(expected).max()
    program = torch.export.load(export_program(op, tmp_path / "m.pt2"))
    torch.testing.assert_close(
        program.module()(torch.from_numpy(x)), torch.from_numpy(expected), rtol=1e-6, atol=1e-7
    )
    with pytest.raises(ExportUnsupported, match="shape: expected 2 grid sizes"):
        export_program(op, tmp_path / "bad.pt2", shape=[33])


def test_a_bundle_warns_on_a_grid_other_than_its_training_grid(trained, recwarn):
    from opl.models.base import GridWarning

    op = opl.load(trained[3])
    op(np.zeros((33, 33), np.float32))  # the training grid: silent
    assert not [w for w in recwarn if issubclass(w.category, GridWarning)]
    with pytest.warns(GridWarning, match="MgNO was trained on 33x33, not 65x65: its learned"):
        op(np.zeros((65, 65), np.float32))
    op(np.zeros((65, 65), np.float32))  # once per grid
    assert len([w for w in recwarn if issubclass(w.category, GridWarning)]) == 0


OUTER = ["bottom", "right", "top", "left"]
MESH = {
    "in_channels": 1,
    "out_channels": 1,
    "mesh": "lshape",
    "level": 0,
    "refine": 1,
    "dirichlet": OUTER,
    "width": 8,
}
ALLOW_LISTED = {
    "MgNO": {"channels": 4, "n_layers": 2, "levels": 3},
    "TNO": {"width": 8, "heads": 2, "layers": 1, "ffn_width": 16, "grid": "nodes"},
    "PatchTNO": {
        "patches": 4,
        "width": 8,
        "heads": 2,
        "layers": 1,
        "ffn_width": 16,
        "embed_modes": 3,
        "smoother_modes": 4,
        "grid": "nodes",
    },
    "SPON": {**MESH, "input_element": "P2", "depth": 2},
    "MultigridSPON": {**MESH, "coarsening": 1, "coarse_depth": 2, "fine_layers": 1},
    "MeshGNN": {**MESH, "depth": 2},
}
"""A small instance of every class a bundle may name."""


def test_the_bundle_allow_list_is_the_field_operators():
    assert set(MODELS) == set(ALLOW_LISTED)
    assert all(issubclass(cls, FieldOperator) for cls in MODELS.values())
    # the physics-informed models are trained against a residual and never bundled
    assert not {"PIG", "MLP", "LPINN"} & set(MODELS)


def with_statistics(channels: int, shift: float) -> ChannelNormalizer:
    normalizer = ChannelNormalizer(channels)
    normalizer.mean.copy_(torch.arange(channels) + shift)
    normalizer.std.copy_(torch.arange(channels) + 2 * shift)
    return normalizer


@pytest.mark.parametrize("name", sorted(ALLOW_LISTED))
def test_every_allow_listed_model_round_trips_through_a_bundle(name, tmp_path, monkeypatch):
    torch.manual_seed(0)
    model = MODELS[name](**ALLOW_LISTED[name]).eval()
    shape = model.native_shape() or [17, 17]
    in_norm, out_norm = with_statistics(model.in_channels, 0.5), with_statistics(1, 2.0)
    grid = {} if model.native_shape() else {"shape": shape}
    path = write_bundle(tmp_path / f"{name}.opl", model, in_norm, out_norm, grid, {})
    # the bundle carries what it needs: no mesh files on disk (an empty mesh folder)
    monkeypatch.setattr(mesh_module, "MESH_DIR", tmp_path / "no_meshes")
    loaded = load(path)
    assert type(loaded.model) is type(model) and loaded.model.init_args == model.init_args
    x = torch.randn(3, model.in_channels, *shape)
    with torch.no_grad():
        expected = predict(model, in_norm, out_norm, x)
    # the same weights and the same arithmetic: identical to the last bit
    torch.testing.assert_close(loaded(x), expected, rtol=0, atol=0)


def test_a_spon_bundle_of_an_earlier_opl_still_loads(tmp_path):
    # opl 0.1 SPONs kept a copy of the output statistics (model.output_normalizer.*) in their
    # weights; the statistics are the bundle's own out_normalizer now, and the copy is dropped
    import hashlib

    from safetensors.torch import load as load_weights
    from safetensors.torch import save as save_weights

    model = MODELS["SPON"](**ALLOW_LISTED["SPON"]).eval()
    in_norm, out_norm = with_statistics(1, 0.5), with_statistics(1, 2.0)
    path = write_bundle(tmp_path / "new.opl", model, in_norm, out_norm, {}, {})
    with zipfile.ZipFile(path) as archive:
        metadata = json.loads(archive.read("model.json"))
        tensors = load_weights(archive.read("model.safetensors"))
    tensors.update({f"model.output_normalizer.{k}": v for k, v in out_norm.state_dict().items()})
    weights = save_weights(tensors)
    metadata["weights_sha256"] = hashlib.sha256(weights).hexdigest()
    old = tmp_path / "old.opl"
    with zipfile.ZipFile(old, "w") as archive:
        archive.writestr("model.json", json.dumps(metadata))
        archive.writestr("model.safetensors", weights)
    x = torch.randn(2, 1, model.input_space.n_dofs)
    torch.testing.assert_close(load(old)(x), load(path)(x), rtol=0, atol=0)


def _with_weights(bundle, target, weights):
    """``bundle`` with other weights and their (matching) SHA-256: damage the hash cannot see."""
    import hashlib

    def rehash(meta):
        meta["weights_sha256"] = hashlib.sha256(weights).hexdigest()

    return _rewrite(bundle, target, edit_json=rehash, edit_weights=lambda _: weights)


HOSTILE_JSON = [
    ({"class": ["MgNO"]}, r"model class \['MgNO'\] is not in opl.models' allow-list"),
    ({"init_args": ["levels", 3]}, "init_args is not a JSON object of keyword arguments"),
    ({"init_args": {**TINY, "levels": 1_000_000_000}}, "levels: 1000000000 exceeds MgNO's limit"),
    ({"init_args": {**TINY, "n_layers": 10_000_000}}, "n_layers: 10000000 exceeds MgNO's limit"),
    ({"init_args": {"channels": 4096, "n_layers": 8}}, r"MgNO would have [\d,]+ parameters, above"),
    ({"init_args": {**TINY, "levels": "three"}}, "cannot build MgNO from its init_args"),
]


@pytest.mark.parametrize("edit, message", HOSTILE_JSON, ids=lambda v: str(v)[:30])
def test_hostile_metadata_is_one_bundle_error_before_anything_is_built(
    trained, tmp_path, edit, message
):
    *_, bundle = trained
    hostile = _rewrite(bundle, tmp_path / "h.opl", edit_json=lambda m: m.update(edit))
    with pytest.raises(BundleError, match=message):
        load(hostile)


def test_members_are_bounded_and_weights_checked_before_use(trained, tmp_path):
    *_, bundle = trained
    with pytest.raises(BundleError, match="not a file"):
        load(tmp_path)  # a directory
    with pytest.raises(BundleError, match=r"unreadable weights"):
        load(_with_weights(bundle, tmp_path / "header.opl", b"\xff" * 64))
    padded = _rewrite(
        bundle, tmp_path / "padded.opl", edit_json=lambda m: m.update(pad=" " * 9_000_000)
    )
    with pytest.raises(
        BundleError, match=r"model.json is [\d,]+ bytes, above the limit of 8,388,608"
    ):
        load(padded)
    size = zipfile.ZipFile(bundle).getinfo("model.safetensors").file_size
    with pytest.raises(
        BundleError, match=rf"model.safetensors is {size:,} bytes, above the limit of 1,000 \(load"
    ):
        load(bundle, max_weight_bytes=1000)


def test_a_loaded_operator_refuses_non_finite_and_complex_input(trained):
    *_, bundle = trained
    op = load(bundle)
    x = np.zeros((33, 33), dtype=np.float32)
    x[4, 7] = np.nan
    with pytest.raises(
        ValueError,
        match=r"input: 1 non-finite value\(s\) \(NaN or inf\), the first at index \(4, 7\)",
    ):
        op(x)
    with pytest.raises(ValueError, match="input: complex values"):
        op(np.ones((33, 33), dtype=np.complex64))
