# Two commands do everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.pgfselect-installed
DEMO_OUT ?= demo-out

.PHONY: setup demo test bench clean

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

test: setup
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python benchmarks/plan_speed.py

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache
