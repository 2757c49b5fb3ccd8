"""Shared fixtures: small generator configs written to temporary YAML files."""

import pytest
import yaml


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
