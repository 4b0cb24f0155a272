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

# what the tests use beyond the basics: the Cortex-M cross compiler and QEMU for the
# firmware tests, clang for the emitted-C warning checks, PoCL (a CPU OpenCL device)
# and the OpenCL ICD loader and headers for the OpenCL hosts
cross:
	bash tools/setup_system.sh gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm clang \
	  pocl-opencl-icd ocl-icd-opencl-dev opencl-headers

nnabla:
	bash tools/setup_nnabla.sh .venv-nnabla

demo: setup cross
	$(VENV)/bin/nnb demo

lint: setup
	$(VENV)/bin/ruff check nnb tests tools benchmarks

test: setup cross nnabla lint
	$(VENV)/bin/pytest -q

clean:
	rm -rf $(VENV) .venv-nnabla out build *.egg-info
