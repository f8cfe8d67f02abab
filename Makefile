# solvelab: two commands do all set-up on a fresh Debian machine with Python 3.11.
#   make demo   install, then run the demo benchmark `solvelab bench quick` (no downloads)
#   make test   install, then run the test suite
PYTHON ?= python3.11
VENV   ?= .venv
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.solvelab-installed

.PHONY: install demo test bench docs clean

install: $(STAMP)

# System SuiteSparse headers (for the CHOLMOD factorization) when we are root and have
# apt; without them scikit-sparse is skipped and solvelab falls back to SciPy.
$(STAMP): pyproject.toml
	@if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1 \
	    && ! [ -f /usr/include/suitesparse/cholmod.h ]; then \
	    echo "installing libsuitesparse-dev (CHOLMOD headers) with apt"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libsuitesparse-dev) \
	    || echo "apt install failed: solvelab will use its SciPy factorization fallback"; \
	fi
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) (set PYTHON=...)"; exit 1; }
	[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	@if [ -f /usr/include/suitesparse/cholmod.h ]; then \
	    $(PY) -m pip install -q -e '.[cholmod,test,peers,dask]' \
	    || { echo "scikit-sparse did not build: using the SciPy fallback"; $(PY) -m pip install -q -e '.[test,peers,dask]'; }; \
	else \
	    echo "no SuiteSparse headers: installing without scikit-sparse (SciPy fallback)"; \
	    $(PY) -m pip install -q -e '.[test,peers,dask]'; \
	fi
	touch $(STAMP)

demo: install
	$(VENV)/bin/solvelab bench quick

test: install
	$(PY) -m pytest -q

bench: install
	$(VENV)/bin/solvelab bench libsvm

docs: install
	$(VENV)/bin/solvelab backends --markdown > docs/backends_table.md

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
