# Two commands set everything up: `make demo` runs the main job, `make test` runs the tests.
# Both create the virtual environment at .venv/ first when it is missing or stale.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# A small real search: 8 trials, at most 3 epochs, on the data in NAS_DATA_DIR
# (falls back to ../shared/data when that folder exists, else ./data).
NAS_DATA_DIR ?= $(if $(wildcard ../shared/data/cifar-10-batches-py),../shared/data,./data)
DEMO_ARGS ?= --space cifar_lt200k --num-samples 8 --max-epochs 3 --grace-period 1 \
	--reduction-factor 3 --storage ./experiments

.PHONY: install demo test lint clean

install: $(VENV)/.installed

# torch and torchvision come from the package registry as a matching (CUDA) pair: pip's
# configured local wheel folder holds a CPU-only torch that the registry's torchvision
# cannot load, so find-links and config files are switched off for this one step.
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	PIP_CONFIG_FILE=/dev/null PIP_FIND_LINKS= $(BIN)/pip install -q \
		torch==2.13.0 torchvision==0.28.0
	$(BIN)/pip install -q -e ".[test,bench]"
	touch $@

demo: install
	NAS_DATA_DIR=$(NAS_DATA_DIR) $(BIN)/python -m nas.run $(DEMO_ARGS)

test: install
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) experiments
