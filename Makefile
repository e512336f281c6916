# One-command entry points. Each target creates .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
EXTRAS := dev,postgres,s3,ui-tests,ray
# The benchmarks' peers (Prefect, Metaflow, Evidently) pin what kibble pins differently,
# so they get their own virtualenv; the benches call them there by subprocess.
PEERS  := .venv-peers
PEERS_STAMP := $(PEERS)/.installed

.PHONY: demo test lint typecheck unit bench peers clean install sysdeps lock

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

$(PEERS_STAMP): bench/requirements-peers.txt
	test -x $(PEERS)/bin/python || $(PYTHON) -m venv $(PEERS)
	$(PEERS)/bin/python -m pip install --quiet --upgrade pip
	$(PEERS)/bin/python -m pip install --quiet -r bench/requirements-peers.txt
	$(PEERS)/bin/python -m pip check
	touch $(PEERS_STAMP)

peers: $(PEERS_STAMP)

# Every bench runs (a failed one does not stop the others), records bench/results/NAME.json,
# then docs/benchmarks.md is regenerated from those; any failure fails the target at the end.
bench: $(STAMP) $(PEERS_STAMP)
	@failed=""; for b in bench/*.py; do \
	  case $$b in */harness.py|*/publish.py|*/__init__.py) continue;; esac; \
	  echo "== $$b"; \
	  KIBBLE_BENCH_RESULTS=bench/results KIBBLE_BENCH_PEERS_PYTHON=$(CURDIR)/$(PEERS)/bin/python \
	    $(BIN)/python $$b || failed="$$failed $$b"; \
	done; \
	$(BIN)/python bench/publish.py; \
	if [ -n "$$failed" ]; then echo "benchmarks failed:$$failed"; exit 1; fi

clean:
	rm -rf $(VENV) $(PEERS) .kibble .pytest_cache .mypy_cache .ruff_cache

lock:
	bash scripts/lock.sh
