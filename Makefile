# avito_kit: `make install` builds .venv; `make demo` and `make test` are the two commands a new clone needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-fast lint sandbox lab bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,notebook]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/avito-kit demo

test: $(STAMP)
	$(BIN)/python -m pytest

# The fast tier while working: no slow, notebook or browser tests (tests/README.md).
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow and not notebook and not browser"

lint: $(STAMP)
	$(BIN)/ruff check avito_kit tests

sandbox: $(STAMP)
	$(BIN)/avito-kit sandbox --port 8765

lab: $(STAMP)
	$(BIN)/jupyter lab --allow-root --no-browser notebooks/

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache data/*.duckdb data/*.duckdb.wal
