"""One error style for every command: bad input ends ``opl ...`` with exactly one ``error:`` line
on stderr naming the key, file or extra to install, and exit status 2 -- training commands
included (jsonargparse's reports and the exceptions of the classes it builds are reduced to it)."""

import sys

import pytest
import yaml

from opl.cli import main

TINY = {"channels": 4, "n_layers": 1, "levels": 2}
ADAM = '{{"class_path": "torch.optim.Adam", "init_args": {{"lr": {lr}}}}}'


def errors(capsys, *argv):
    """(exit status, the error lines on stderr) of ``opl *argv``."""
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    return code, [line for line in err.splitlines() if line.startswith("opl ")]


@pytest.fixture(scope="module")
def darcy(tmp_path_factory, small_dataset):
    return small_dataset(tmp_path_factory.mktemp("err") / "d.h5", "darcy", {"resolution": 17}, 8)[1]


@pytest.fixture
def config(tmp_path, darcy):
    mapping = {
        "trainer": {"max_epochs": 1, "accelerator": "cpu", "logger": False,
                    "default_root_dir": str(tmp_path), "enable_progress_bar": False,
                    "enable_checkpointing": False},
        "model": {"class_path": "opl.train.OperatorModule",
                  "init_args": {"model": {"class_path": "opl.models.MgNO", "init_args": TINY}}},
        "data": {"class_path": "opl.data.GridDataModule",
                 "init_args": {"path": darcy, "train": [0, 6], "val": [6, 8], "batch_size": 2}},
    }  # fmt: skip
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump(mapping))
    return path


@pytest.mark.parametrize(
    "options, message",
    [
        (["--data.path", "/nonexistent/d.h5"], "/nonexistent/d.h5: no such file"),
        (["--data.val", "[4, 8]"], "train and val: sample ranges overlap"),
        (["--data.test", "[8, 20]"], None),  # fit does not read the test split: no error
        (["--model.init_args.model.init_args.chanels", "3"],
         "Problem with given class_path 'opl.models.MgNO': Option 'chanels' is not accepted"),
        (["--model.init_args.model.init_args.levels", "7"],
         "data: the model cannot run on the 17x17 grid (input grid (17, 17) is too small for "
         "levels=7"),
        (["--trainer.max_epochs", "many"], 'Parser key "trainer.max_epochs": Expected a'),
        (["--config", "/nonexistent.yaml"], "/nonexistent.yaml"),
        (["--model.init_args.optimizer", ADAM.format(lr=".nan")],
         "optimizer: Invalid learning rate: nan"),
        (["--model.init_args.optimizer", ADAM.format(lr=".inf")],
         "optimizer: lr = inf; expected finite values"),
        (["--data.path", "__CONFIG__"], "not a readable HDF5 file"),
    ],
)  # fmt: skip
def test_training_commands_report_bad_input_in_one_line(capsys, config, options, message):
    options = [str(config) if o == "__CONFIG__" else o for o in options]  # a YAML, not HDF5
    code, lines = errors(capsys, "fit", "--config", config, *options)
    if message is None:
        assert code == 0 and lines == []
        return
    assert code == 2
    assert len(lines) == 1 and lines[0].startswith("opl fit: error: "), lines
    assert message in lines[0]


def test_a_test_range_beyond_the_file_is_one_line_when_testing(capsys, config, tmp_path):
    code, _ = errors(capsys, "fit", "--config", config)
    assert code == 0
    final = tmp_path / "final.ckpt"
    code, lines = errors(capsys, "test", "--config", config, "--ckpt_path", final,
                         "--data.test", "[8, 20]")  # fmt: skip
    assert code == 2 and len(lines) == 1 and lines[0].startswith("opl test: error: ")
    assert "the test split uses samples up to 19, but the file has 8" in lines[0]


def test_a_missing_extra_is_named(capsys, monkeypatch, darcy, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if not installed
    code, lines = errors(capsys, "plot", darcy, "-o", tmp_path / "p.png")
    assert code == 2
    assert lines == ["opl plot: error: opl plot needs matplotlib: pip install 'opl[plot]'"]


def test_onnx_export_without_onnxscript_names_the_extra(capsys, monkeypatch, tmp_path):
    from opl.data.normalize import ChannelNormalizer
    from opl.export import write_bundle
    from opl.models import MgNO

    bundle = write_bundle(tmp_path / "m.opl", MgNO(**TINY), ChannelNormalizer(1),
                          ChannelNormalizer(1), {"shape": [17, 17]}, {})  # fmt: skip
    monkeypatch.setitem(sys.modules, "onnxscript", None)
    code, lines = errors(capsys, "export", bundle, "-o", tmp_path / "m.onnx", "--format", "onnx")
    assert code == 2
    assert lines == ["opl export: error: ONNX export needs onnxscript: pip install 'opl[export]'"]
    code, lines = errors(capsys, "export", bundle, "-o", tmp_path / "again.opl")
    assert code == 2
    assert lines == [
        f"opl export: error: {bundle}: a bundle already; a bundle is written from a checkpoint "
        "(.ckpt) of opl fit (to convert a bundle, use --format onnx or torch-export)"
    ]
    assert not (tmp_path / "again.opl").exists()


DEMO = "configs/data/demo_darcy.yaml"


def test_generation_refuses_bad_input_in_one_line_and_leaves_no_file(capsys, tmp_path):
    folder = tmp_path / "config_folder"
    folder.mkdir()
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00 not text")
    out = tmp_path / "out.h5"
    cases = [
        ([folder], f"{folder}: a directory, not a config file"),
        ([binary], f"{binary}: not a UTF-8 text file (byte 0)"),
        (
            [DEMO, "-o", out, "--n-samples", 10**10],
            "n_samples: expected an integer >= 1 and <= 10,000,000, got 10000000000",
        ),
        ([DEMO, "-o", out, "--n-samples", 2, "--workers", -1], "--workers: expected 0"),
    ]
    for argv, message in cases:
        code, lines = errors(capsys, "generate", *argv)
        assert code == 2 and len(lines) == 1 and message in lines[0], lines
    # nothing was written: no data file, no partial file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["binary.yaml", "config_folder"]


def test_an_unwritable_output_folder_is_one_line(capsys, tmp_path, monkeypatch):
    import data_gen.writer

    def refuse(path, *args, **kwargs):
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(data_gen.writer, "open", refuse, raising=False)  # root ignores chmod
    code, lines = errors(capsys, "generate", DEMO, "-o", tmp_path / "x.h5", "--n-samples", 2)
    assert code == 2 and len(lines) == 1
    assert "x.h5: cannot write in its folder (Permission denied" in lines[0]
