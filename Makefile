# Two commands do everything on a fresh machine: `make run` (the default sweep) and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
CORES ?= all

.PHONY: setup run test bench lint clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[test,slurm]'
	$(VENV)/bin/losstopo warm-cache  # compile the topology kernels into numba's cache (docs/cluster.md)
	touch $@

setup: $(STAMP)

run: setup  ## the default sweep of config/config.yaml (offline, CPU; its measured time is in the README)
	$(VENV)/bin/snakemake --cores $(CORES)

test: setup  ## the whole test suite
	$(VENV)/bin/pytest -q

bench: setup  ## speed against the peers, measured in the same run (QUICK=1 for smaller sizes, THREADS=N per side)
	$(PY) -m pip install --quiet -e '.[bench]'
	$(PY) -m pip install --quiet --no-deps landscaper==1.3.1 topopy==1.0.4 nglpy==1.1.7
	$(PY) benchmarks/run_all.py $(if $(QUICK),--quick) $(if $(THREADS),--threads $(THREADS))

lint: setup  ## ruff (lint and format check) over the Python code, then Snakemake's linter over every rule
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/snakemake --lint

clean:
	rm -rf results/runs results/tables results/figures results/logs results/connectivity results/explorer.html results/findings.md .snakemake
