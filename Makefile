# The README's two commands, each self-installing on a fresh machine:
#   make demo   generate a small Darcy dataset, summarise and draw it, train MgNO on it, test
#               it, and use the exported surrogate as the initial guess of PCG
#   make test   lint and run the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# CPU build of torch for this set-up; pyproject.toml keeps a range a CUDA build also satisfies.
TORCH_PIN ?= torch==2.13.0

.PHONY: demo test lint bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_PIN)"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

demo: $(VENV)/.installed
	$(BIN)/opl generate configs/data/demo_darcy.yaml
	$(BIN)/opl info data/demo_darcy.h5
	$(BIN)/opl plot data/demo_darcy.h5 --sample 0 -o data/demo_darcy_sample0.png
	rm -rf runs/demo_darcy_mgno
	$(BIN)/opl fit --config configs/train/demo_darcy_mgno.yaml
	$(BIN)/opl test --config configs/train/demo_darcy_mgno.yaml \
		--ckpt_path runs/demo_darcy_mgno/checkpoints/best.ckpt
	$(BIN)/python examples/darcy_pcg.py runs/demo_darcy_mgno/model.opl --samples 4

test: $(VENV)/.installed lint
	$(BIN)/python -m pytest -q

lint: $(VENV)/.installed
	$(BIN)/ruff check opl data_gen tests benchmarks meshes

bench: $(VENV)/.installed
	$(BIN)/python benchmarks/generate.py --markdown benchmarks/generate_last.md

clean:
	rm -rf $(VENV) runs/demo_darcy_mgno data/demo_darcy.h5 data/.demo_darcy.h5.lock \
		data/demo_darcy_sample0.png
