# jwql-dagster: `make demo` builds and materializes a demo archive; `make test` runs the test suite.
SHELL := /bin/bash
# Any of Python 3.11, 3.12 or 3.13: the first found, unless PYTHON (a command) or PYVERSION (3.13) says which.
# A Python counts as found when it runs: pyenv's shims exist for versions that are not active, so a
# version that is installed under pyenv but not on the PATH is taken from ~/.pyenv/versions.
find_python = $(shell python$(1) -c '' 2>/dev/null && echo python$(1) || ls -d $(HOME)/.pyenv/versions/$(1).*/bin/python$(1) 2>/dev/null | tail -n 1)
PYTHON ?= $(firstword $(foreach v,$(or $(PYVERSION),3.11 3.12 3.13),$(call find_python,$(v))) python3)
# PYTHON=python3.13 names a pyenv shim that may not run: take that version from ~/.pyenv then.
override PYTHON := $(if $(shell $(PYTHON) -c '' 2>/dev/null && echo ok),$(PYTHON),$(or $(call find_python,$(patsubst python%,%,$(notdir $(PYTHON)))),$(PYTHON)))
VENV := .venv
BIN := $(VENV)/bin
CLI := $(BIN)/jwql-dagster
export JWQL_HOME ?= $(HOME)/.jwql-dagster
export DAGSTER_HOME ?= $(JWQL_HOME)/dagster_home
export MPLBACKEND := Agg

.PHONY: demo test test-fast test-compat install ui clean-demo

# The venv remembers the Python it was made with; asking for another one (PYTHON=python3.13) makes it anew.
PYVER := $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
VENV_STAMP := $(VENV)/.python-$(PYVER)

$(VENV_STAMP):
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (Python 3.11, 3.12 or 3.13)"; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 13))' || { echo "$(PYTHON) is not Python 3.11-3.13"; exit 1; }
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	touch $@

$(VENV)/.installed: pyproject.toml $(VENV_STAMP)
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
	@echo "Open the Dagster UI (http://127.0.0.1:3000) and the quicklook pages (http://127.0.0.1:3001) on this instance:"
	@echo "  make ui JWQL_HOME=$(JWQL_HOME)"

# Dagster UI and quicklook pages side by side; Ctrl-C, or SIGTERM to make (GNU make passes it on), stops both.
ui: install
	@echo "UI on instance $(DAGSTER_HOME) (JWQL_HOME=$(JWQL_HOME)); stop with Ctrl-C"
	$(CLI) ui --host $(or $(HOST),127.0.0.1) --port $(or $(PORT),3000) $(if $(WEB_PORT),--web-port $(WEB_PORT))

# The whole suite on $(PYTHON), then the compat tests on every other supported Python of 3.11-3.13 found
# here, each in its own venv (.venv-3.12, ...). pytest's "no tests ran" (exit 5) fails.
# The venvs are made side by side first (three in 4.5 min here, one alone took 1.8 min), and the other
# Pythons' compat tests run side by side at the end (each is mostly one process: 71 s for both instead of
# 131 s; --output-sync keeps each one's output together). The fast tests run in two processes
# (pytest-xdist; each test has its own folders, databases and ports); the slow ones (whole deployments
# with time limits, a browser) one at a time after them.
# Why only the compat tests (`-m compat`, listed in tests/conftest.py COMPAT_TESTS) on the other Pythons:
# what differs between Python versions is syntax and the stdlib, the wheels of the pinned dependencies,
# and multiprocessing's start methods. The compat set imports every module of the package in a fresh
# interpreter (tests/test_imports.py), validates the code location with Dagster's CLI, runs our CLI,
# migrates SQLite and PostgreSQL with Alembic (two processes at once), materializes a partition for real
# (Dagster, astropy, the renderer), renders through the fork-server pool and survives a kill -9 in it,
# ticks the file-arrival sensor and serves the quicklook pages. The rest of the fast suite tests our own
# logic, which is the same code on every version, and runs on $(PYTHON) (`make test-fast PYVERSION=3.13`
# runs all of it on another one).
OTHER_PYTHONS := $(filter-out $(PYVER),$(foreach v,3.11 3.12 3.13,$(if $(call find_python,$(v)),$(v))))
FAST_TESTS := -m "not slow and not e2e" -n 2
SLOW_TESTS := -m "slow or e2e"
COMPAT_TESTS := -m "compat and not slow and not e2e"

test:
	@$(MAKE) --no-print-directory -j 3 install $(addprefix install-python-,$(OTHER_PYTHONS))
	@$(BIN)/python -m pytest -q $(FAST_TESTS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no fast tests; failing"; exit 1; fi; \
	if [ $$rc -ne 0 ]; then exit $$rc; fi
	@$(BIN)/python -m pytest $(SLOW_TESTS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no slow tests; failing"; exit 1; fi; \
	if [ $$rc -ne 0 ]; then exit $$rc; fi
	@$(if $(OTHER_PYTHONS),$(MAKE) --no-print-directory -j 2 --output-sync=recurse $(addprefix test-python-,$(OTHER_PYTHONS)))

# The venv of another Python (.venv-3.12, ...) and its compat tests, for `make test`.
install-python-%:
	@$(MAKE) --no-print-directory install PYVERSION=$* VENV=.venv-$*

test-python-%:
	@echo "== compat tests on Python $*"
	@$(MAKE) --no-print-directory test-compat PYVERSION=$* VENV=.venv-$*

test-fast: install
	@$(BIN)/python -m pytest -q $(FAST_TESTS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test-fast: pytest collected no tests; failing"; exit 1; fi; exit $$rc

test-compat: install
	@$(BIN)/python -m pytest -q $(COMPAT_TESTS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test-compat: pytest collected no tests; failing"; exit 1; fi; exit $$rc

clean-demo:
	rm -rf "$(JWQL_HOME)"
