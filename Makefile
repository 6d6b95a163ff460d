# Two commands do everything on a fresh machine: `make demo` and `make test` (`make test-fast`
# skips the slow tests that train a tiny model).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.pgfselect-installed
DEMO_OUT ?= demo-out
TEST_WORKERS ?= 2

.PHONY: setup demo test test-fast bench clean

setup: $(STAMP)

# Idempotent: re-runs only when the dependency files change. torch is pinned in the same pip
# command, or pip would pull torch's CUDA build (several GB) on a CPU machine.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt "torch==2.13.0" -e ".[train,qlora,ray,test,build]"
	touch $(STAMP)

demo: setup
	bash scripts/demo.sh $(DEMO_OUT)

# One test worker per core (pytest-xdist; whole files per worker, so a module's trained fixture
# is built once). TEST_WORKERS=1 runs them in this process.
test: setup
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

# The edit loop: everything but the tests that train a tiny model (marked slow).
test-fast: setup
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile -m "not slow"

bench: setup
	$(BIN)/python benchmarks/plan_speed.py

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache
