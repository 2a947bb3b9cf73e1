# Two commands on a fresh machine: `make run` and `make test`.
#
# The interpreter is the first that satisfies pyproject's requires-python (3.12 or newer),
# each asked for its own version (a pyenv shim of a version not selected exists but fails):
# python3.13, python3.12, python3, then any 3.12+ installed under pyenv. PYTHON=... overrides.
PY_MIN := 3.12
PY_OK = $(shell $(1) -c 'import sys; sys.exit(sys.version_info < ($(subst .,$(comma),$(PY_MIN)),))' >/dev/null 2>&1 && command -v $(1))
comma := ,
PYENV_ROOT_DIR := $(shell pyenv root 2>/dev/null)
PY_CANDIDATES := python3.13 python3.12 python3 \
	$(sort $(wildcard $(HOME)/.pyenv/versions/3.1[2-9]*/bin/python3)) \
	$(if $(PYENV_ROOT_DIR),$(sort $(wildcard $(PYENV_ROOT_DIR)/versions/3.1[2-9]*/bin/python3)))
ifeq ($(origin PYTHON),undefined)
PYTHON := $(firstword $(foreach p,$(PY_CANDIDATES),$(call PY_OK,$(p))))
endif
PY_VERSION := $(shell $(PYTHON) -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])' 2>/dev/null)
VENV := .venv
BIN := $(VENV)/bin
PY_STAMP := $(VENV)/.python
RUN_STAMP := $(VENV)/.installed-run
STAMP := $(VENV)/.installed

.PHONY: run test lint bench bench-slack bench-alerts clean

# A .venv made by another interpreter (an older Python) is rebuilt from scratch: the stamp
# records the version it was made with.
ifneq ($(wildcard $(PY_STAMP)),)
ifneq ($(shell cat $(PY_STAMP)),$(PY_VERSION))
$(shell rm -f $(PY_STAMP))
endif
endif

$(PY_STAMP):
	$(if $(and $(PYTHON),$(call PY_OK,$(PYTHON))),,$(error caseload-bot needs Python $(PY_MIN) or newer and found none (python3.13, python3.12, python3, pyenv): install Python $(PY_MIN), e.g. `pyenv install $(PY_MIN)` or your system's python$(PY_MIN) package, then run make again))
	@if [ -d $(VENV) ]; then echo "$(VENV) was made by another Python: rebuilding it with $(PYTHON) ($(PY_VERSION))"; rm -rf $(VENV); fi
	$(PYTHON) -m venv $(VENV)
	echo $(PY_VERSION) > $(PY_STAMP)

# `make run` installs what the server needs, `make test` the tools besides (a first `make
# run` is under a minute on a fresh clone). Modules are compiled when first imported, not
# at install: the install is the slow part of a first start.
$(RUN_STAMP): pyproject.toml $(PY_STAMP)
	$(BIN)/pip install --quiet --no-compile -e .
	touch $(RUN_STAMP)

$(STAMP): pyproject.toml $(PY_STAMP)
	$(BIN)/pip install --quiet --no-compile -e '.[dev]'
	touch $(STAMP) $(RUN_STAMP)

run: $(RUN_STAMP)
	LOG_FORMAT=$${LOG_FORMAT:-text} $(BIN)/caseload-bot serve --migrate --demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy bot handlers policy storage bench tests

# The suite runs on SQLite always, and on PostgreSQL too when one answers locally.
PG_URL := postgresql+asyncpg://postgres@127.0.0.1:5432/test
test: lint
	@if [ -z "$$TEST_DATABASE_URL" ] && $(BIN)/python -c "import socket; socket.create_connection(('127.0.0.1', 5432), 1)" 2>/dev/null; then \
		echo "PostgreSQL answers on 127.0.0.1:5432: running the suite on it too"; \
		TEST_DATABASE_URL=$(PG_URL) $(BIN)/pytest; \
	else \
		$(BIN)/pytest; \
	fi

# Every benchmark in turn (about 14 minutes on 2 cores), their figures and the machine in
# bench/RESULTS.md. BENCH_ARGS=--quick: small sizes, a 2-minute smoke run; --only NAME: one.
bench: $(STAMP)
	$(BIN)/python bench/run_all.py $(BENCH_ARGS)

# Signed /allocate slash commands through the whole server, against a bare bolt ack.
bench-slack: $(STAMP)
	$(BIN)/python bench/slack_bench.py

# Breach alerts (issue 9): step-up to channel latency on SQLite, then 3 replicas on PostgreSQL
# (when it answers) through a failing Slack and Teams, one killed mid-delivery.
bench-alerts: $(STAMP)
	$(BIN)/python bench/alerts_bench.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis
