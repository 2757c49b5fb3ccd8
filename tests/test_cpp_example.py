"""A trained operator called from C++: ``opl export --format aoti`` compiles a bundle ahead of
time (AOTInductor), examples/cpp is built with CMake and g++ against the installed torch wheel's
own headers and libraries, and the C++ program's output equals the bundle's in Python."""

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import opl
from opl.cli import main
from opl.data.normalize import ChannelNormalizer
from opl.export import write_bundle
from opl.models import MgNO

EXAMPLE = Path(__file__).parents[1] / "examples" / "cpp"
sys.path.insert(0, str(EXAMPLE))
import tensor_file  # noqa: E402  (examples/cpp/tensor_file.py)

pytestmark = pytest.mark.skipif(
    shutil.which("cmake") is None or shutil.which("g++") is None,
    reason="needs cmake and g++ (the C++ example's build)",
)


def run(command, cwd):
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"{' '.join(map(str, command))}\n{result.stderr[-3000:]}"
    return result.stdout


def test_the_cpp_example_reproduces_the_bundle(tmp_path, capsys):
    torch.manual_seed(0)
    normalizers = ChannelNormalizer(1), ChannelNormalizer(1)
    normalizers[0].mean.fill_(7.0)  # normalisation is inside the compiled program
    normalizers[1].std.fill_(0.01)
    model = MgNO(channels=4, n_layers=1, levels=2).eval()
    bundle = write_bundle(tmp_path / "m.opl", model, *normalizers, {"shape": [16, 16]}, {})
    package = tmp_path / "m.pt2"
    assert main(["export", str(bundle), "-o", str(package), "--format", "aoti"]) == 0
    assert f"wrote {package}" in capsys.readouterr().out
    prefix = torch.utils.cmake_prefix_path
    build = tmp_path / "build"
    run(["cmake", "-S", EXAMPLE, "-B", build, f"-DCMAKE_PREFIX_PATH={prefix}",
         "-DCMAKE_BUILD_TYPE=Release"], tmp_path)  # fmt: skip
    run(["cmake", "--build", build, "-j", "2"], tmp_path)
    x = np.random.default_rng(0).uniform(3, 12, (3, 1, 16, 16)).astype(np.float32)
    tensor_file.write(tmp_path / "x.bin", x)
    out = run([build / "opl_infer", package, tmp_path / "x.bin", tmp_path / "y.bin"], tmp_path)
    assert "input [3, 1, 16, 16] -> output [3, 1, 16, 16]" in out
    got = tensor_file.read(tmp_path / "y.bin")
    expected = opl.load(bundle)(x)
    # float32 kernels of inductor's C++ against eager torch: 1e-5 of the output's scale
    assert np.abs(got - expected).max() <= 1e-5 * np.abs(expected).max()
