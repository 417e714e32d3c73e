# The two commands of the README. Each builds .venv itself from a fresh clone.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
ARCH := $(shell uname -m)
# Pinned builds that the workplace keeps on local disk (no multi-GB download).
ifeq ($(ARCH),aarch64)
TORCH_SPEC ?= torch==2.9.1 torchvision==0.24.1
else
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
endif
PYTEST_ARGS ?=
DEMO_DIR ?= demo_data
RUNS_DIR ?= runs

.PHONY: demo test env lint clean

env: $(VENV)/.installed

$(VENV)/.torch:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q $(TORCH_SPEC)
	touch $@

$(VENV)/.installed: $(VENV)/.torch pyproject.toml
	$(PIP) install -q -e '.[dev,openclip,hf,onnx,serve]'
	touch $@

demo: env
	$(VENV)/bin/aigenbench demo --data_dir $(DEMO_DIR) --runs_dir $(RUNS_DIR)

test: env
	$(PY) -m pytest $(PYTEST_ARGS)

lint: env
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) $(DEMO_DIR) $(RUNS_DIR) .pytest_cache .ruff_cache
