# The README's two commands: `make demo` and `make test`. Both create .venv and install into it first;
# a second run skips the install unless pyproject.toml or the lock file changed.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test lint format bench clean

install: $(STAMP)

$(STAMP): pyproject.toml requirements/lock.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (set PYTHON=...)")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c requirements/lock.txt -e ".[dev]"
	@touch $(STAMP)

# A second `make demo` reuses every stage; `make demo DEMO_FLAGS=--overwrite` starts over.
DEMO_FLAGS ?=
demo: install
	$(BIN)/python jobs/pipeline.py --config configs/demo.yaml $(DEMO_FLAGS)

test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install
	$(BIN)/python bench/bench_synth.py

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
