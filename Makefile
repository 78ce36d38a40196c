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
JUPYTER_ARGS ?=

.PHONY: install test demo lab bench lock doctor clean bubblewrap browser

install: $(STAMP) bubblewrap

$(STAMP): pyproject.toml $(CONSTRAINTS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c $(CONSTRAINTS) -e '.[all]'
	touch $(STAMP)

test: $(STAMP) bubblewrap browser
	$(PY) -m pytest $(PYTEST_ARGS)

# Release the labs and grade a demo class (lab 1; LAB=all for every lab the autograder grades).
demo: $(STAMP) bubblewrap
	$(PY) -m autograder.demo $(if $(LAB),--lab $(LAB))

# Students: JupyterLab on work/, which holds your own copy of each lab (a release rewrites labs/).
# A lab already in work/ is never copied over. TF_CPP_MIN_LOG_LEVEL=1 keeps TensorFlow's start-up
# notes out of the notebooks' first cells; its warnings and errors still show. In a container:
# make lab JUPYTER_ARGS="--allow-root --no-browser --ip=0.0.0.0".
lab: $(STAMP)
	@mkdir -p work
	@for lab in labs/*/; do \
	  name=$$(basename "$$lab"); \
	  if [ ! -e "work/$$name" ]; then cp -r "$$lab" "work/$$name" && echo "copied $$lab to work/$$name/"; fi; \
	done
	TF_CPP_MIN_LOG_LEVEL=$${TF_CPP_MIN_LOG_LEVEL:-1} $(VENV)/bin/jupyter lab work $(JUPYTER_ARGS)

bench: $(STAMP)
	$(PY) -m benchmarks

# The grader runs student code in bubblewrap (Debian's package): installed when missing and we are root.
bubblewrap:
	@command -v bwrap >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing bubblewrap, the grader's sandbox, with apt-get."; \
	    apt-get install -y --no-install-recommends bubblewrap \
	      || { apt-get update && apt-get install -y --no-install-recommends bubblewrap; }; \
	  else \
	    echo "The grader's sandbox needs bubblewrap: run 'sudo apt-get install -y bubblewrap'" \
	         "(or your system's bubblewrap package). Grading and its tests fail without it."; \
	  fi; }

# The dashboard's test renders the page in Debian's headless chromium, driven by chromedriver (Selenium):
# installed when missing and we are root.
browser:
	@{ command -v chromium && command -v chromedriver; } >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing chromium and chromium-driver, for the dashboard's browser test, with apt-get."; \
	    apt-get install -y --no-install-recommends chromium chromium-driver \
	      || { apt-get update && apt-get install -y --no-install-recommends chromium chromium-driver; }; \
	  else \
	    echo "The dashboard's browser test needs chromium: run 'sudo apt-get install -y chromium chromium-driver'" \
	         "(or your system's chromium and its driver). tests/test_dashboard.py fails without them."; \
	  fi; }

doctor: $(STAMP)
	$(VENV)/bin/labkit doctor

# Re-record the tested versions after upgrading packages in .venv on purpose.
lock: $(STAMP)
	{ sed -n '1,3p' $(CONSTRAINTS); $(PY) -m pip freeze --exclude-editable | sed 's/+cpu$$//; s/^tensorflow_cpu/tensorflow-cpu/'; } > $(CONSTRAINTS).new
	mv $(CONSTRAINTS).new $(CONSTRAINTS)

clean:
	rm -rf $(VENV) build *.egg-info
