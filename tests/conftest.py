"""Shared fixtures: small generator configs written to temporary YAML files."""

import pytest
import yaml

from data_gen.run import generate, parse_run_config


@pytest.fixture
def write_config(tmp_path):
    """``write_config(mapping, name="config.yaml") -> path`` of a YAML file holding ``mapping``."""

    def write(mapping, name="config.yaml"):
        path = tmp_path / name
        path.write_text(yaml.safe_dump(mapping))
        return str(path)

    return write


@pytest.fixture
def darcy_config():
    """A small Darcy config (a few milliseconds a sample)."""
    return {
        "generator": {"class_path": "darcy", "init_args": {"resolution": 24}},
        "n_samples": 12,
        "seed": 7,
    }


@pytest.fixture(scope="session")
def small_dataset():
    """``small_dataset(path, class_path, init_args, n_samples) -> (config, path)``: a dataset
    file generated in this process (no worker pool), for tests of everything downstream."""

    def make(path, class_path, init_args=None, n_samples=4):
        mapping = {
            "generator": {"class_path": class_path, "init_args": init_args or {}},
            "n_samples": n_samples,
        }
        config = parse_run_config(mapping, class_path)
        return config, generate(config, str(path), workers=0, progress=False)

    return make
