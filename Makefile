# HashWhisper developer entry points. `make run` starts the chat for
# development, `make test` runs every check CI runs. Both create the virtual
# environment and install the pinned requirements on first use, so a fresh
# clone needs nothing but python3 (with its venv module) and network access
# to PyPI.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Set on the command line only (make run PORT=8001): a HOST or PORT variable
# left in the environment by a shell or platform must not move the server.
HOST := 127.0.0.1
PORT := 8000
PYTEST_ARGS ?=

# Stamp files remember which requirement files were installed; a changed
# requirements file makes the next target reinstall.
RUNTIME_STAMP := $(VENV)/.installed-runtime
DEV_STAMP := $(VENV)/.installed-dev

# Development mode unless the environment says otherwise: a debug secret key,
# SQLite under var/ and local host names. Every other HASHWHISPER_* variable
# in the environment reaches the commands unchanged.
HASHWHISPER_DEBUG ?= 1

export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help run test fmt clean

help:
	@echo "make run    start the chat on http://$(HOST):$(PORT) (venv, install, migrate)"
	@echo "make test   ruff format --check, ruff check, mypy, pytest (PYTEST_ARGS=...)"
	@echo "make fmt    apply ruff's fixes and formatting"
	@echo "make clean  remove tool caches (keeps .venv and var/)"

# A half-made environment (the interpreter link without pip) would pass for a
# ready one next time, so its interpreter link is removed when creation fails.
$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || { \
	  rm -f $(BIN)/python; \
	  echo "Creating $(VENV) failed; on Debian: apt-get install python3-venv" >&2; \
	  exit 1; }

$(RUNTIME_STAMP): requirements.txt | $(BIN)/python
	@echo "Installing requirements.txt into $(VENV)"
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

$(DEV_STAMP): requirements.txt requirements-dev.txt | $(BIN)/python
	@echo "Installing requirements-dev.txt into $(VENV)"
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

var:
	mkdir -p var

# --no-access-log: an invitation link carries its secret after "#", which
# browsers never send, but some QR readers and chat apps turn "#" into "%23"
# and put the secret into the request path; an access log would then store it.
# --timeout-graceful-shutdown: open event streams never end on their own, so
# without a bound a reload would wait for every browser tab to close.
# --reload-include '*.html': templates are cached, so an edited template only
# shows after a restart.
run: $(RUNTIME_STAMP) | var
	HASHWHISPER_DEBUG=$(HASHWHISPER_DEBUG) $(BIN)/python manage.py migrate --noinput
	HASHWHISPER_DEBUG=$(HASHWHISPER_DEBUG) exec $(BIN)/uvicorn hashwhisper.asgi:application \
	  --host $(HOST) --port $(PORT) --reload --reload-include '*.html' \
	  --timeout-graceful-shutdown 3 --no-access-log

# Each step is its own recipe line, so the first failing step stops the target
# and make exits non-zero.
test: $(DEV_STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy .
	$(BIN)/pytest $(PYTEST_ARGS)

fmt: $(DEV_STAMP)
	$(BIN)/ruff check --fix --exit-zero --quiet .
	$(BIN)/ruff format .
	$(BIN)/ruff check .

clean:
	rm -rf .mypy_cache .ruff_cache .pytest_cache
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -exec rm -rf {} +
