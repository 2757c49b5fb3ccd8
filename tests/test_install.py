"""The wheel is complete: built from this checkout and installed in a fresh virtual environment,
opl works from another directory -- the shipped configs, meshes and kernel sources come with it
(package data), a finite-element sample is generated, and a SPON bundle (which carries its mesh)
and an MgNO bundle load and reproduce the predictions made here."""

import site
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest
import torch

from opl.data.normalize import ChannelNormalizer
from opl.export import write_bundle
from opl.models import SPON, MgNO

ROOT = __import__("pathlib").Path(__file__).parents[1]


def run(command, cwd, env=None):
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, f"{' '.join(map(str, command))}\n{result.stderr[-3000:]}"
    return result.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A fresh venv with the wheel of this checkout, its dependencies borrowed from this
    environment (a .pth line: no download, and the editable install of opl stays invisible,
    since .pth files of a borrowed folder are not run)."""
    root = tmp_path_factory.mktemp("install")
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", root / "wheel", ROOT], root)
    (wheel,) = (root / "wheel").glob("opl-*.whl")
    run([sys.executable, "-m", "venv", root / "venv"], root)
    python = root / "venv" / "bin" / "python"
    venv_site = run([python, "-c", "import site; print(site.getsitepackages()[0])"], root).strip()
    borrowed = "\n".join(p for p in site.getsitepackages())
    (__import__("pathlib").Path(venv_site) / "borrowed.pth").write_text(borrowed + "\n")
    run([python, "-m", "pip", "install", "--no-deps", "--no-index", "-q", wheel], root)
    return root, wheel, python


def test_the_wheel_ships_meshes_kernels_configs_and_license(installed):
    _, wheel, _ = installed
    names = zipfile.ZipFile(wheel).namelist()
    for expected in (
        "data_gen/_meshes/lshape_0.msh",
        "opl/_kernels/mg_smooth.cu",
        "opl/_kernels/gaussian_features.cu",
        "opl/_kernels/opl_kernels.cpp",
        "opl/_configs/data/fem_darcy_lshape.yaml",
        "opl/_configs/train/demo_darcy_mgno.yaml",
    ):
        assert expected in names, expected
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)


def test_an_installed_opl_generates_and_loads_bundles_from_another_directory(installed, tmp_path):
    root, _, python = installed
    torch.manual_seed(0)
    spon = SPON(1, 1, mesh="lshape", level=0, width=8, depth=2)
    mgno = MgNO(channels=4, n_layers=1, levels=2)
    x_mesh = torch.randn(2, 1, spon.input_space.n_dofs)
    x_grid = torch.randn(2, 1, 16, 16)
    for name, model, x in (("spon", spon, x_mesh), ("mgno", mgno, x_grid)):
        norms = ChannelNormalizer(1), ChannelNormalizer(1)
        write_bundle(tmp_path / f"{name}.opl", model.eval(), *norms, {}, {})
        np.save(tmp_path / f"{name}_x.npy", x.numpy())
        with torch.no_grad():
            np.save(tmp_path / f"{name}_y.npy", model(x).numpy())
    work = tmp_path / "elsewhere"
    work.mkdir()
    script = textwrap.dedent(
        f"""
        import os, numpy as np, opl
        import data_gen, opl.ops.kernels as kernels
        here = {str(root / "venv")!r}
        assert opl.__file__.startswith(here) and data_gen.__file__.startswith(here), opl.__file__
        assert kernels.KERNEL_DIR.is_relative_to(here) and kernels.cuda_sources()
        for name in ("spon", "mgno"):
            operator = opl.load({str(tmp_path)!r} + f"/{{name}}.opl")
            x = np.load({str(tmp_path)!r} + f"/{{name}}_x.npy")
            y = np.load({str(tmp_path)!r} + f"/{{name}}_y.npy")
            assert np.allclose(operator(x), y, rtol=0, atol=1e-5), name
        print("ok", opl.__version__)
        """
    )
    # no meshes/ on disk for the bundles: the SPON one builds on the mesh it carries
    env = {"PATH": "/usr/bin:/bin", "OPL_MESH_DIR": str(work / "no-meshes")}
    assert run([python, "-c", script], work, env).split() == ["ok", "0.1.0"]
    opl_command = root / "venv" / "bin" / "opl"
    assert run([opl_command, "--version"], work).strip() == "opl 0.1.0"
    generate = [opl_command, "generate", "configs/data/fem_darcy_lshape.yaml", "-o", "fem.h5"]
    out = run([*generate, "--n-samples", "1", "--workers", "0", "--no-progress"], work)
    assert "wrote fem.h5" in out
    assert "samples      1 of 1 complete" in run([opl_command, "info", "fem.h5"], work)
