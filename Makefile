# Set-up and everyday commands. `make demo` and `make test` work on a fresh clone with Python 3.10+.
PYTHON ?= python3
# torch is installed first, as TORCH from pip's index: on Linux PyPI's torch is the CUDA build
# (several GB); on macOS and Windows it is the CPU build. A machine without a GPU can take the
# CPU build from PyTorch's own index: make TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH ?= torch==2.13.0
TORCH_INDEX ?=
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
# The exact versions tested; pyproject.toml holds the floors.
CONSTRAINTS := constraints.txt
# Linting needs ruff alone: a small environment of its own, without torch.
LINT_VENV := .venv-lint
LINT_INSTALLED := $(LINT_VENV)/.installed

.PHONY: install demo test test-slow test-all lint bench clean

install: $(INSTALLED)

$(INSTALLED): pyproject.toml $(CONSTRAINTS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) "$(TORCH)"
	$(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) -e ".[dev,plot,export,tensorboard,ngram]"
	touch $(INSTALLED)

demo: $(INSTALLED)
	mkdir -p runs
	$(BIN)/charlm train data/sample.txt --out runs/demo.pt --force --epochs 12 \
		--print-every 20000 --samples 5
	$(BIN)/charlm generate runs/demo.pt --count 10 --seed 1

test: $(INSTALLED)
	$(BIN)/python -m pytest -q

test-slow: $(INSTALLED)
	$(BIN)/python -m pytest -q -m slow

test-all: $(INSTALLED)
	$(BIN)/python -m pytest -q -m ""

$(LINT_INSTALLED): $(CONSTRAINTS)
	test -x $(LINT_VENV)/bin/python || $(PYTHON) -m venv $(LINT_VENV)
	$(LINT_VENV)/bin/python -m pip install --quiet -c $(CONSTRAINTS) ruff
	touch $(LINT_INSTALLED)

lint: $(LINT_INSTALLED)
	$(LINT_VENV)/bin/ruff check charlm tests benchmarks data docs

clean:
	rm -rf runs .pytest_cache .ruff_cache *.egg-info $(LINT_VENV)
