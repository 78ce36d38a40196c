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

# torch on Linux without an NVIDIA GPU comes from PyTorch's CPU wheel index: PyPI's Linux torch is the
# CUDA build, gigabytes a CPU never uses. TORCH_INDEX=auto (the default) probes that index for 10 s and,
# when it does not answer, says so and takes torch from the default index; TORCH_INDEX=<url> takes torch
# from that index; TORCH_INDEX=default from the default index. torch alone comes from there (--no-deps):
# its dependencies, like everything else, come from the default index at the recorded versions.
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu
TORCH_INDEX ?= auto
# 'make install-gpu' (Linux, NVIDIA) marks .venv with GPU_MARK: every later install keeps the GPU builds
# (tensorflow[and-cuda]; torch from TORCH_GPU_INDEX, empty: PyPI's, built for CUDA 13), then installs
# labkit with every extra of pyproject.toml's 'all' but tf (GPU_EXTRAS).
GPU_MARK := $(VENV)/.labkit-gpu
TORCH_GPU_INDEX ?=
GPU_EXTRAS = $(shell sed -n 's/^all = \["labkit\[\([^]]*\)\]"\].*/\1/p' pyproject.toml | tr , '\n' | grep -v -x tf | paste -s -d , -)

.PHONY: install install-gpu test demo lab bench calibration lock doctor clean bubblewrap browser slurm

install: $(STAMP) bubblewrap

$(STAMP): pyproject.toml $(CONSTRAINTS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	@set -e; if [ -e $(GPU_MARK) ]; then \
	  echo "GPU builds ($(GPU_MARK)): tensorflow[and-cuda]; torch from $(or $(TORCH_GPU_INDEX),the default index)."; \
	  $(PY) -m pip install --quiet -c $(CONSTRAINTS) 'tensorflow[and-cuda]' keras; \
	  $(PY) -m pip install --quiet --no-deps -c $(CONSTRAINTS) $(if $(TORCH_GPU_INDEX),--index-url $(TORCH_GPU_INDEX) )torch; \
	  $(PY) -m pip install --quiet -c $(CONSTRAINTS) -e '.[$(GPU_EXTRAS)]'; \
	else \
	  index='$(TORCH_INDEX)'; \
	  if [ "$$index" = auto ]; then \
	    index=; \
	    if [ "$$(uname -s)" = Linux ] && ! nvidia-smi -L >/dev/null 2>&1; then \
	      if $(PY) -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1] + "/torch/", timeout=10)' \
	           '$(TORCH_CPU_INDEX)' >/dev/null 2>&1; then \
	        index='$(TORCH_CPU_INDEX)'; \
	      else \
	        echo "PyTorch's CPU wheel index ($(TORCH_CPU_INDEX)) did not answer: torch comes from the default" \
	             "index (on Linux, PyPI's CUDA build: several GB). TORCH_INDEX=<url> names another index."; \
	      fi; \
	    fi; \
	  elif [ "$$index" = default ]; then \
	    index=; \
	  fi; \
	  if [ -n "$$index" ]; then \
	    echo "torch from $$index"; \
	    $(PY) -m pip install --quiet --no-deps -c $(CONSTRAINTS) --index-url "$$index" torch \
	      || echo "torch could not be installed from $$index: it comes from the default index."; \
	  fi; \
	  $(PY) -m pip install --quiet -c $(CONSTRAINTS) -e '.[all]'; \
	fi
	touch $(STAMP)

# NVIDIA GPU on Linux: the GPU builds of the recorded versions in place of the CPU builds, for good
# (docs/student-guide.md, 'Using a GPU'). Back to the CPU builds: make clean install.
install-gpu:
	@[ "$$(uname -s)" = Linux ] || { echo "make install-gpu is for Linux with an NVIDIA GPU; on a Mac," \
	  "PyTorch uses the GPU (MPS) as installed (docs/student-guide.md, 'Using a GPU')."; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip uninstall --quiet --yes tensorflow-cpu
	@if $(PY) -c 'import importlib.metadata as m, sys; sys.exit(not m.version("torch").endswith("+cpu"))' \
	     2>/dev/null; then echo "$(PY) -m pip uninstall --quiet --yes torch   # the CPU build"; \
	  $(PY) -m pip uninstall --quiet --yes torch; fi
	touch $(GPU_MARK)
	rm -f $(STAMP)
	$(MAKE) --no-print-directory $(STAMP)

test: $(STAMP) bubblewrap browser slurm
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

# docs/calibration.md's tables, rendered again from the runs kept in benchmarks/history/.
calibration: $(STAMP)
	$(PY) -m benchmarks.calibration

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

# Grading through dask-jobqueue is tested on a one-node SLURM cluster the test starts (Debian's slurm-wlm):
# installed when missing and we are root.
slurm:
	@{ command -v slurmctld && command -v slurmd && command -v sbatch; } >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing slurm-wlm, for the SLURM grading test, with apt-get."; \
	    apt-get install -y --no-install-recommends slurm-wlm \
	      || { apt-get update && apt-get install -y --no-install-recommends slurm-wlm; }; \
	  else \
	    echo "The SLURM grading test needs slurm-wlm: run 'sudo apt-get install -y slurm-wlm'" \
	         "(or your system's SLURM). tests/test_grade_slurm.py is skipped without it."; \
	  fi; }

doctor: $(STAMP)
	$(VENV)/bin/labkit doctor

# Re-record the tested versions after upgrading packages in .venv on purpose: the header (the leading
# comment lines), pip freeze, then the section for other platforms, kept as it is (edit it by hand;
# tests/test_install_platforms.py checks every platform), its packages left out of pip freeze's part.
lock: $(STAMP)
	$(PY) -m pip freeze --exclude-editable > $(CONSTRAINTS).freeze
	{ sed '/^[^#]/,$$d' $(CONSTRAINTS); \
	  sed 's/+cpu$$//; s/^tensorflow_cpu/tensorflow-cpu/' $(CONSTRAINTS).freeze \
	    | grep -v -i -E "^($$(sed -n '/^# Other platforms/,$$s/^\([A-Za-z0-9._-][A-Za-z0-9._-]*\)[=<>!~;[ ].*/\1/p' \
	                          $(CONSTRAINTS) | paste -s -d '|' -))==" || true; \
	  sed -n '/^# Other platforms/,$$p' $(CONSTRAINTS); } > $(CONSTRAINTS).new
	mv $(CONSTRAINTS).new $(CONSTRAINTS)
	rm $(CONSTRAINTS).freeze

clean:
	rm -rf $(VENV) build *.egg-info
