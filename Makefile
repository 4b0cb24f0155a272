# nnb: two commands for a fresh machine (see README.md)
#   make demo   set everything up and run the main job on a built-in default
#   make test   set everything up and run every test
VENV   ?= .venv
PY     := $(VENV)/bin/python
PYTHON ?= python3

.PHONY: setup demo test lint nnabla cross clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	bash tools/setup_system.sh
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip >/dev/null
	$(PY) -m pip install -q -e '.[test]'
	touch $@

# the Cortex-M4 cross compiler of the size check in the tests
cross:
	bash tools/setup_system.sh gcc-arm-none-eabi libnewlib-arm-none-eabi

nnabla:
	bash tools/setup_nnabla.sh .venv-nnabla

demo: setup
	$(VENV)/bin/nnb demo

lint: setup
	$(VENV)/bin/ruff check nnb tests tools benchmarks

test: setup cross nnabla lint
	$(VENV)/bin/pytest -q

clean:
	rm -rf $(VENV) .venv-nnabla out build *.egg-info
