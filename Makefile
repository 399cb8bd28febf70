# Two commands on a fresh machine: `make demo` and `make test`.
# Needs only python3 (3.11) and npm; uv is installed from PyPI into .tools/ if absent.

PYTHON ?= python3
UV_VERSION := 0.13.9
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
RUN := $(UV) run --frozen

.PHONY: install demo serve test lint check-pg bench clean

.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet uv==$(UV_VERSION)

.venv/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen
	@touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

install: .venv/.synced node_modules/.installed

demo: install
	$(RUN) fundpilot demo

serve: install
	$(RUN) fundpilot serve

lint: install
	$(RUN) ruff check src tests $(wildcard bench)
	$(RUN) ruff format --check src tests $(wildcard bench)
	$(RUN) mypy
	$(RUN) lint-imports

# SQLite with the browser tests, then the whole suite again on PostgreSQL when
# FUNDPILOT_TEST_POSTGRES_URL is set (.ci/run sets it and makes both mandatory).
test: lint
	$(RUN) pytest
	@if [ -n "$$FUNDPILOT_TEST_POSTGRES_URL" ]; then \
		echo "== PostgreSQL: $$FUNDPILOT_TEST_POSTGRES_URL"; \
		DATABASE_URL="$$FUNDPILOT_TEST_POSTGRES_URL" $(RUN) pytest -m "not browser"; \
	elif [ -n "$$FUNDPILOT_REQUIRE_POSTGRES" ]; then \
		echo "FUNDPILOT_REQUIRE_POSTGRES is set but FUNDPILOT_TEST_POSTGRES_URL is not" >&2; exit 1; \
	else \
		echo "PostgreSQL pass skipped: set FUNDPILOT_TEST_POSTGRES_URL=postgres://... to run it"; \
	fi

bench: install
	$(RUN) python -m bench

clean:
	rm -rf .venv .tools node_modules var .pytest_cache .mypy_cache .ruff_cache
