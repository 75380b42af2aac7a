# Idempotent targets: each creates .venv and installs the project when needed, then does its job.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PRESET ?= quick
# Optional extras installed with the project (CI adds ray: .ci/run sets EXTRAS=test,lint,ray).
EXTRAS ?= test,lint
OUT    ?= runs/$(PRESET)
# The data at hand (../shared/data); elsewhere pass DATA=... or let torchvision download CIFAR-10.
DATA   ?= $(wildcard ../shared/data/cifar10-jpeg.tar.gz)
MASKS  ?= $(wildcard ../shared/data/CIFAR10_mask.tar)
# The smoke preset makes its own synthetic data: it gets none (--data would switch it to CIFAR-10).
DATA_ARGS := $(if $(filter smoke,$(PRESET)),,$(if $(DATA),--data $(DATA),--download) $(if $(MASKS),--masks $(MASKS)))

.PHONY: install test leaderboard benchmark lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[$(EXTRAS)]'
	touch $(STAMP)

install: $(STAMP)

## The main job: every registered method x every metric on the quick preset, with its report.
leaderboard: $(STAMP)
	$(BIN)/rectbench run --preset $(PRESET) $(DATA_ARGS) --out $(OUT)
	$(BIN)/rectbench leaderboard $$(dirname runs/*/results.sqlite) --out runs/leaderboard

## The whole test suite.
test: $(STAMP)
	$(BIN)/python -m pytest

## Speed: the ratio table (RectGrad/Guided Backprop, train_tensors/plain loop), then pytest-benchmark
## timings; both save JSON under .benchmarks/ and fail on a >25 % regression against the saved run.
benchmark: $(STAMP)
	$(BIN)/python benchmarks/ratios.py --tolerance 0.25
	$(BIN)/python -m pytest benchmarks --benchmark-enable --benchmark-autosave --benchmark-compare --benchmark-compare-fail=median:25%

lint: $(STAMP)
	$(BIN)/ruff check methods metrics bench reports tests benchmarks

clean:
	rm -rf $(VENV) build *.egg-info .benchmarks
