# jwql-dagster: `make demo` builds and materializes a demo archive; `make test` runs the test suite.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
CLI := $(BIN)/jwql-dagster
export JWQL_HOME ?= $(HOME)/.jwql-dagster
export DAGSTER_HOME ?= $(JWQL_HOME)/dagster_home
export MPLBACKEND := Agg

.PHONY: demo test install ui clean-demo

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (Python 3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

demo: install
	@mkdir -p "$(DAGSTER_HOME)"
	$(CLI) make-archive "$(JWQL_HOME)/archive" --programs 4 --size small --seed 1 --with-bad-files
	$(CLI) make-legacy-logs "$(JWQL_HOME)/logs"
	$(CLI) register-programs
	$(CLI) materialize-all --with-fake-mast
	@echo
	@echo "Demo archive:        $(JWQL_HOME)/archive"
	@echo "Previews:            $(JWQL_HOME)/preview_images"
	@echo "Thumbnails:          $(JWQL_HOME)/thumbnails"
	@echo "Plots and galleries: $(JWQL_HOME)/outputs"
	@echo "Database:            $(JWQL_HOME)/jwql.db"
	@echo "Dagster instance:    $(DAGSTER_HOME)"
	@echo
	@echo "Open the UI on this instance (everything already materialized), then browse http://127.0.0.1:3000 :"
	@echo "  make ui JWQL_HOME=$(JWQL_HOME)"

ui: install
	@echo "UI on instance $(DAGSTER_HOME) (JWQL_HOME=$(JWQL_HOME)); stop with Ctrl-C"
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p $(or $(PORT),3000)

test: install
	@$(BIN)/python -m pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests; failing"; exit 1; fi; exit $$rc

clean-demo:
	rm -rf "$(JWQL_HOME)"
