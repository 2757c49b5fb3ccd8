"""Shared helpers of the kernel tests: a ``.cu`` file compiled for the CPU (``cuda_emulation/``)."""

from __future__ import annotations

import ctypes
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from opl.ops import kernels

EMULATION = Path(__file__).parent / "cuda_emulation"
LAUNCH = re.compile(
    r"(\w+(?:<[^<>]*>)?)<<<\s*([^,]+?)\s*,\s*([^,]+?)\s*,\s*([^,]+?)\s*,\s*stream\s*>>>\s*\("
)
DYNAMIC_SHARED = re.compile(r"extern\s+__shared__\s+(\w+)\s+(\w+)\[\];")


@pytest.fixture(scope="session")
def emulate(tmp_path_factory):
    """``emulate(name) -> ctypes.CDLL``: ``kernels/<name>.cu`` compiled with g++ against
    ``cuda_emulation/cuda_runtime.h`` (a block's threads as std::threads), its launches and
    dynamic shared memory rewritten for the emulation (the header says how)."""
    compiler = shutil.which("g++")
    if compiler is None:
        pytest.skip("g++ not found: the CPU emulation of the kernels needs it")
    directory = tmp_path_factory.mktemp("emulation")

    def build(name: str) -> ctypes.CDLL:
        source = (kernels.KERNEL_DIR / f"{name}.cu").read_text()
        rewritten, launches = LAUNCH.subn(r"emulate_launch(\2, dim3(\3), \4, \1, ", source)
        assert launches == source.count("<<<") > 0
        rewritten = DYNAMIC_SHARED.sub(r"\1* \2 = emulated_dynamic_shared<\1>();", rewritten)
        (directory / f"{name}.cpp").write_text(rewritten)
        library = directory / f"lib{name}.so"
        # -w: the emulation drops the stream argument and ignores #pragma unroll (nvcc checks
        # the warnings)
        command = [
            compiler,
            "-std=c++20",
            "-O1",
            "-w",
            "-fPIC",
            "-shared",
            f"-I{EMULATION}",
            "-o",
            str(library),
            str(directory / f"{name}.cpp"),
            "-pthread",
        ]
        result = subprocess.run(command, capture_output=True, text=True)
        assert result.returncode == 0, f"{' '.join(command)}\n{result.stderr}"
        return ctypes.CDLL(str(library))

    return build
