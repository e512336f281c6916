# One-command entry points. Each target creates .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
EXTRAS := dev,postgres,s3,ui-tests,ray

.PHONY: demo test lint typecheck unit bench clean install sysdeps lock

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]"
	touch $(STAMP)

install: $(STAMP)

sysdeps:
	bash scripts/system-deps.sh

demo: $(STAMP)
	$(BIN)/kibble demo

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -m "not slow and not postgres and not browser and not ray" -q

test: $(STAMP) sysdeps lint typecheck
	$(BIN)/pytest -q

bench: $(STAMP)
	@for b in bench/*.py; do case $$b in */harness.py|*/__init__.py) continue;; esac; \
	  echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .kibble .pytest_cache .mypy_cache .ruff_cache

lock:
	bash scripts/lock.sh
