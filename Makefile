# bcx: `make run` runs the default experiment, `make test` the test suite; both install first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.bcx-installed

.PHONY: help install run test test-all test-slurm bench paper docs lint format clean qa wheel

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

install: $(STAMP) ## create .venv and install bcx with its dependencies (CPU torch)

# torch first, pinned: 2.13.0 is the CPU wheel here; a looser pin pulls a multi-GB CUDA build.
# pip's output goes to $(VENV)/install.log, shown only if the install fails (make then fails too).
$(STAMP): pyproject.toml setup.py
	@echo "installing bcx and its dependencies into $(VENV) (log: $(VENV)/install.log)"
	@$(PYTHON) -m venv $(VENV)
	@{ $(PY) -m pip install --quiet --upgrade pip \
	  && $(PY) -m pip install --quiet torch==2.13.0 \
	  && $(PY) -m pip install --quiet -e ".[dev]"; } > $(VENV)/install.log 2>&1 \
	  || { cat $(VENV)/install.log >&2; echo "make: installing bcx failed (log: $(VENV)/install.log)" >&2; exit 1; }
	@touch $(STAMP)

run: install ## the default experiment: BC on InvertedDoublePendulum, shift measured
	@$(PY) -m bcx $(ARGS)

# One worker per core (2 here), each test file on one worker: its
# module and session fixtures are built once.
test: install ## the test suite (CPU, a few minutes)
	$(PY) -m pytest -q -n auto --dist loadfile -m "not slow and not slurm" $(ARGS)

test-all: install ## the test suite including slow tests
	$(PY) -m pytest -q -m "not slurm" $(ARGS)

# Root or password-less sudo: installs slurm-wlm + munge with apt-get if missing (under a minute).
test-slurm: install ## start a one-node SLURM cluster (scripts/slurm-cluster.sh), run its tests
	scripts/slurm-cluster.sh
	$(PY) -m pytest -q -m slurm --durations=0 $(ARGS)

qa: install ## rerun the QA catalogue's 186 bad-input/fault cases (qa/) -> outputs/qa/results.md
	$(PY) -m qa.run_catalogue $(ARGS)

bench: install ## throughput ratios vs plain PyTorch / raw gymnasium (outputs/bench/latest.json)
	$(PY) -m bcx.tools.bench $(ARGS)

paper: install ## every figure and table behind the lecture's claims -> outputs/paper/index.md
	$(PY) -m bcx.paper $(ARGS)

# --strict: a broken link or anchor, or a docs page missing from mkdocs.yml's nav, fails the build.
docs: install ## build the docs site (MkDocs + Material) into site/; open site/index.html
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

lint: install ## ruff lint and format check
	$(VENV)/bin/ruff check bcx tests
	$(VENV)/bin/ruff format --check bcx tests

format: install ## ruff format and autofix
	$(VENV)/bin/ruff format bcx tests
	$(VENV)/bin/ruff check --fix bcx tests

clean: ## remove run outputs and the built docs (keeps .venv)
	rm -rf outputs site

wheel: ## build dist/bcx-<version>-py3-none-any.whl (conf/ inside, as bcx/conf)
	rm -rf build
	$(PY) -m pip wheel --quiet --no-deps -w dist .
	rm -rf build
