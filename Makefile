# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench bench-slack clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/caseload-bot serve --migrate

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

bench: $(STAMP)
	$(BIN)/python bench/policy_bench.py

# Signed /allocate slash commands through the whole server, against a bare bolt ack.
bench-slack: $(STAMP)
	$(BIN)/python bench/slack_bench.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis
