# The two commands a newcomer needs: `make run` and `make test`.
# Both install the tested versions pinned in requirements.lock (`pip install -c`); pyproject.toml
# keeps the compatible ranges for people who pip install atelier into their own environment.
# `make lock` refreshes the lock; `make test-latest` tries the newest versions pyproject.toml allows.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
LOCK   := requirements.lock

.PHONY: run demo test lock test-latest

# the studio on http://127.0.0.1:7860 (web page, REST API, job queue in ~/.atelier)
run: $(VENV)/.installed
	$(BIN)/atelier serve

# the demo contact sheet: every capability on bundled images, written to demo/
demo: $(VENV)/.installed
	$(BIN)/atelier demo -o demo --overwrite

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch first: a plain `torch` requirement with no torch installed pulls GBs of CUDA wheels,
# while `torch==2.13.0` (the lock's pin) takes the local CPU build.
$(VENV)/.installed: $(BIN)/python pyproject.toml $(LOCK)
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install -c $(LOCK) torch
	$(BIN)/pip install -c $(LOCK) -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install -c $(LOCK) -e ".[test]"
	touch $@

# --- the lock ---------------------------------------------------------------------------------
# `make lock` re-resolves pyproject.toml (with the `test` extra) to the newest allowed versions
# with pip-tools, in a venv of its own; `make lock LOCK_UPGRADE=` only adds or drops what
# pyproject.toml changed and keeps every other pin. Run `make test` on the new lock before
# committing it. The resolver runs on this machine's pip set-up, which finds torch's CPU wheel
# (2.13.0+cpu); the lock pins the plain version (torch==2.13.0), which that wheel satisfies.
TOOLS        := .venv-tools
PIP_TOOLS    := pip-tools==7.7.0
TORCH        := 2.13.0
LOCK_UPGRADE ?= --upgrade

$(TOOLS)/bin/pip-compile:
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install -q "$(PIP_TOOLS)"

lock: $(TOOLS)/bin/pip-compile
	CUSTOM_COMPILE_COMMAND="make lock" $(TOOLS)/bin/pip-compile --quiet $(LOCK_UPGRADE) --extra test --strip-extras --allow-unsafe \
	    --no-emit-index-url --no-emit-find-links --output-file $(LOCK) pyproject.toml
	sed -i 's/^torch==\([0-9.]*\)+cpu$$/torch==\1/' $(LOCK)
	@grep -qx "torch==$(TORCH)" $(LOCK) || { echo "$(LOCK): expected torch==$(TORCH)" >&2; exit 1; }

# --- the newest allowed versions -------------------------------------------------------------
# Not part of `make test`: installs, without the lock, the newest versions that pyproject.toml
# allows into a venv of its own and runs the suite, to learn early what a fresh `pip install
# atelier` would meet. torch stays at the CPU build (a newer torch means GBs of CUDA wheels).
LATEST := .venv-latest

test-latest:
	test -x $(LATEST)/bin/python || $(PYTHON) -m venv $(LATEST)
	echo "torch==$(TORCH)" > $(LATEST)/torch-constraint.txt
	$(LATEST)/bin/pip install -c $(LATEST)/torch-constraint.txt torch
	$(LATEST)/bin/pip install --upgrade --upgrade-strategy eager -c $(LATEST)/torch-constraint.txt -e ".[test]"
	$(LATEST)/bin/pip list
	$(LATEST)/bin/python -m pytest
