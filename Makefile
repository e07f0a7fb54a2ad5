# Set-up and entry points. Each target creates .venv and installs what it needs first.
#   make run    install, then run the workflow on the embedded default config
#   make test   install, then run the test suite (what CI runs)

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CORES ?= all

.PHONY: install run test clean-venv

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

install: $(BIN)/python
	$(BIN)/pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install --quiet -e '.[test]'

run: install
	$(BIN)/snakemake --cores $(CORES)

test: install
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/pytest -ra

clean-venv:
	rm -rf $(VENV)
