"""The shipped training configs parse, point at data a shipped generator config writes, and
their models run at that data's training resolution."""

from pathlib import Path

import pytest
import torch
import yaml

from data_gen.config import load_yaml
from opl.cli import main
from opl.models import MgNO

ROOT = Path(__file__).parents[2]
TRAIN = sorted((ROOT / "configs" / "train").glob("*.yaml"))
DATA = {
    load_yaml(str(p))["output"]: load_yaml(str(p))
    for p in (ROOT / "configs" / "data").glob("*.yaml")
}


@pytest.mark.parametrize("config", TRAIN, ids=lambda p: p.stem)
def test_training_config_is_consistent_with_its_data(config, capsys):
    with pytest.raises(SystemExit) as done:
        main(["fit", "--config", str(config), "--print_config"])
    assert done.value.code in (0, None)
    parsed = yaml.safe_load(capsys.readouterr().out)
    data = parsed["data"]["init_args"]
    assert data["path"] in DATA, f"no configs/data config writes {data['path']}"
    resolution = DATA[data["path"]]["generator"]["init_args"]["resolution"]
    size = len(range(0, resolution, data["subsample"]))
    model = parsed["model"]["init_args"]["model"]
    assert model["class_path"] == "opl.models.MgNO"
    net = MgNO(**model["init_args"])
    with torch.no_grad():
        out = net(torch.zeros(1, net.in_channels, size, size))
    assert out.shape == (1, net.out_channels, size, size)
