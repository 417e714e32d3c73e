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

.PHONY: demo test env lint clean docs-check

env: $(VENV)/.installed

# pip's "Location ... is ignored" lines (one per local wheel folder) are noise: filtered out,
# everything else it says is kept; each step says what it does.
PIP_QUIET := 2>&1 | grep -v -e 'is ignored' ; test $${PIPESTATUS[0]} -eq 0
SHELL := /bin/bash

$(VENV)/.torch:
	@echo "[1/2] creating $(VENV) and installing PyTorch ($(TORCH_SPEC))"
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q $(TORCH_SPEC) $(PIP_QUIET)
	touch $@

$(VENV)/.installed: $(VENV)/.torch pyproject.toml
	@echo "[2/2] installing aigenbench and its dependencies into $(VENV)"
	$(PIP) install -q -e '.[dev,openclip,hf,onnx,serve,wandb]' $(PIP_QUIET)
	touch $@

demo: env
	$(VENV)/bin/aigenbench demo --data_dir $(DEMO_DIR) --runs_dir $(RUNS_DIR)

test: env
	$(PY) -m pytest $(PYTEST_ARGS)

# The README's demo figures against the scripts that print them (the demo resumes when done).
docs-check: env
	$(VENV)/bin/aigenbench demo --data_dir $(DEMO_DIR) --runs_dir $(RUNS_DIR)
	$(VENV)/bin/aigenbench robustness $(RUNS_DIR)/demo --window 2 > /dev/null
	$(PY) benchmarks/readme_figures.py --runs_dir $(RUNS_DIR) --check README.md

lint: env
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) $(DEMO_DIR) $(RUNS_DIR) .pytest_cache .ruff_cache
