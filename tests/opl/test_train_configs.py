"""The shipped training configs parse; data-driven ones point at data a shipped generator config
writes and their models run at that data's training resolution; physics-informed ones build their
model and problem and evaluate every residual."""

from pathlib import Path

import pytest
import torch
import yaml

from data_gen.config import load_yaml
from data_gen.generator import build_generator
from opl.cli import main
from opl.models import MODELS

ROOT = Path(__file__).parents[2]
CONFIGS = sorted((ROOT / "configs" / "train").glob("*.yaml"))
TRAIN = [p for p in CONFIGS if "data" in load_yaml(str(p))]
PHYSICS = [p for p in CONFIGS if "data" not in load_yaml(str(p))]
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
    generator = DATA[data["path"]]["generator"]["init_args"]
    model = parsed["model"]["init_args"]["model"]
    module, name = model["class_path"].rsplit(".", 1)
    assert module == "opl.models" and name in MODELS
    net = MODELS[name](**model["init_args"])
    layout = build_generator(DATA[data["path"]]["generator"]).layout()
    net.adopt_grid([c.grid for c in layout.coordinates if c.grid is not None])  # as training
    if parsed["data"]["class_path"].endswith("MeshFieldDataModule"):  # the model's own mesh
        for key in ("mesh", "level", "refine"):
            assert model["init_args"][key] == generator[key], key
        spatial = (net.input_space.n_dofs,)
    else:
        spatial = (len(range(0, generator["resolution"], data["subsample"])),) * net.n_dim
    with torch.no_grad():
        out = net(torch.zeros(1, net.in_channels, *spatial))
    assert out.shape[:2] == (1, net.out_channels)


@pytest.mark.parametrize("config", PHYSICS, ids=lambda p: p.stem)
def test_physics_config_builds_its_model_and_evaluates_every_residual(config, capsys):
    from jsonargparse import ArgumentParser

    from opl.physics import Problem

    with pytest.raises(SystemExit) as done:
        main(["fit", "--config", str(config), "--print_config"])
    assert done.value.code in (0, None)
    parsed = yaml.safe_load(capsys.readouterr().out)
    module = parsed["model"]["init_args"]
    parser = ArgumentParser()
    parser.add_argument("--model", type=torch.nn.Module)
    parser.add_argument("--problem", type=Problem)
    built = parser.instantiate_classes(
        parser.parse_object({"model": module["model"], "problem": module["problem"]})
    )
    model, problem = built.model.double(), built.problem
    assert set(module["points"]) == set(problem.condition_names)
    generator = torch.Generator().manual_seed(0)
    for condition in problem.conditions:
        points = condition.sample(problem.domain, 8, generator)
        residual = condition.residual(
            points, lambda p, order: model.fields(p, order, problem.second_order_weights)
        )
        assert residual.shape[0] == 8 and torch.isfinite(residual).all()
