# One venv in .venv; every target creates it on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: serve test lint bench wheel-check clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

serve: $(STAMP)            ## run kmspolicy serve on SQLite in ./data with a local root key
	$(BIN)/kmspolicy serve --data-dir ./data

test: $(STAMP)             ## the whole test suite
	$(BIN)/pytest -n auto

lint: $(STAMP)             ## ruff (lint + format check) and strict mypy
	$(BIN)/ruff check kmspolicy tests bench fuzz
	$(BIN)/ruff format --check kmspolicy tests bench fuzz
	$(BIN)/mypy

bench: $(STAMP)            ## every benchmark, with its same-run baselines
	$(BIN)/pip install -q -e '.[dev,bench]'
	for b in bench/*.py; do $(BIN)/python $$b || exit 1; done

wheel-check: $(STAMP)      ## a non-editable install into a fresh venv works (grammar shipped)
	sh scripts/wheel-check.sh

clean:
	rm -rf $(VENV) build dist
