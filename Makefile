# One venv in .venv; every target creates it on first use. `serve` installs only what the
# server needs (the `server` extra); the other targets install everything (`dev`).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SERVE_STAMP := $(VENV)/.installed-server

.PHONY: serve test lint bench wheel-check clean

$(BIN)/pip:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

$(SERVE_STAMP): pyproject.toml | $(BIN)/pip
	$(BIN)/pip install -q -e '.[server]'
	touch $(SERVE_STAMP)

serve: $(SERVE_STAMP)      ## run kmspolicy serve on SQLite in ./data with a local root key
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
