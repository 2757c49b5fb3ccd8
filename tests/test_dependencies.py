"""DESIGN's one-way arrows: data generation needs no torch (cluster jobs have no GPU stack)."""

import subprocess
import sys

import pytest

NO_TORCH = [
    "import data_gen.run, data_gen.grid.darcy, data_gen.grid.poisson, data_gen.grid.burgers, "
    "data_gen.grid.navier_stokes, data_gen.grid.helmholtz, data_gen.fem.generators",
    "import opl.cli, opl.data, opl.data.summary",
]


@pytest.mark.parametrize("statement", NO_TORCH)
def test_generation_and_info_do_not_import_torch(statement):
    code = f"import sys; {statement}; print('torch' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
