# Two commands do everything on a fresh machine: `make demo` and `make test`.
# Both create .venv in the repo root when it is missing and install the tested versions.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.labkit-installed
CONSTRAINTS := requirements/constraints.txt

# The dataset mirror: ../shared/data beside the checkout, unless the caller chose one.
LABKIT_DATA_DIR ?= $(if $(wildcard ../shared/data),$(abspath ../shared/data),)
export LABKIT_DATA_DIR

PYTEST_ARGS ?=

.PHONY: install test demo bench lock doctor clean

install: $(STAMP)

$(STAMP): pyproject.toml $(CONSTRAINTS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c $(CONSTRAINTS) -e '.[all]'
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

demo: $(STAMP)
	$(PY) -m labkit.demo

bench: $(STAMP)
	$(PY) -m benchmarks

doctor: $(STAMP)
	$(VENV)/bin/labkit doctor

# Re-record the tested versions after upgrading packages in .venv on purpose.
lock: $(STAMP)
	{ sed -n '1,3p' $(CONSTRAINTS); $(PY) -m pip freeze --exclude-editable | sed 's/+cpu$$//; s/^tensorflow_cpu/tensorflow-cpu/'; } > $(CONSTRAINTS).new
	mv $(CONSTRAINTS).new $(CONSTRAINTS)

clean:
	rm -rf $(VENV) build *.egg-info
