# One-command entry points. Each target creates .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
EXTRAS := dev,postgres,s3,ui-tests,ray

.PHONY: demo test lint typecheck unit bench clean install sysdeps lock

$(STAMP): pyproject.toml
	@echo "== 1/3 creating the virtualenv $(VENV) (first run only)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "== 2/3 updating pip"
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@echo "== 3/3 installing kibble and its dependencies ($(EXTRAS)): a few minutes the first time"
	@$(BIN)/python -m pip install --progress-bar on -e ".[$(EXTRAS)]"
	@touch $(STAMP)
	@echo "== installed; 'source $(VENV)/bin/activate' puts kibble on your PATH"

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
