# Two commands set everything up: `make demo` runs the main job, `make test` runs the tests.
# Both create the virtual environment at .venv/ first when it is missing or stale.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The small search (--small, driver/sizes.py: 8 trials of up to 6 epochs on 1,200 images, ASHA
# judging at epoch 2) on the data in NAS_DATA_DIR (../shared/data when that folder exists, else
# ./data): ASHA at work in about 5 minutes on 2 cores.
NAS_DATA_DIR ?= $(if $(wildcard ../shared/data/cifar-10-batches-py),../shared/data,./data)
DEMO_ARGS ?= --space cifar_lt200k --small --storage ./experiments

.PHONY: install demo test lint clean

install: $(VENV)/.installed

# torch and torchvision come from the package registry as a matching (CUDA) pair: pip's
# configured local wheel folder holds a CPU-only torch that the registry's torchvision
# cannot load, so find-links and config files are switched off for this one step.
$(VENV)/.installed: pyproject.toml
	@echo "[1/3] the virtual environment $(VENV)/"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "[2/3] torch 2.13.0 + torchvision 0.28.0 (~5 GB of CUDA wheels on first install: minutes)"
	@PIP_CONFIG_FILE=/dev/null PIP_FIND_LINKS= $(BIN)/pip install --progress-bar on \
		torch==2.13.0 torchvision==0.28.0
	@echo "[3/3] Ray Tune, Optuna, albumentations, pandas and the rest (pyproject.toml)"
	@$(BIN)/pip install --progress-bar on -e ".[test,bench]"
	@touch $@ && echo "installed: $(VENV)/"

demo: install
	NAS_DATA_DIR=$(NAS_DATA_DIR) $(BIN)/python -m nas.run $(DEMO_ARGS)

# Two test processes (pytest-xdist), each handed one test at a time as it becomes free, the
# slow tests first: much of a slow test is waiting (Ray's start, a driver's resume, a kill).
# The searches the tests share are made once for both (tests/conftest.py). Three processes
# measured no faster in a fresh clone (733 and 767 s of tests against 774 and 778 s for two, a
# spread of +-40 s at one commit: the suite is CPU-bound) and load the machine's kill tests more.
test: install
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n 2 --maxschedchunk 1

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) experiments
