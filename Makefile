# The two commands: `make demo` and `make test`. Each sets up what it needs itself.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# Rust build outputs are shared across clones on one machine (CI clones fresh every run).
export CARGO_TARGET_DIR ?= $(HOME)/.cache/sctool/target
DEMO_OUT ?= demo-out

.PHONY: help setup dev build test test-rust test-py lint lint-py demo bench clean

help:
	@echo "make demo   - set up and run the StarCoder pipeline end to end on the embedded corpus"
	@echo "make test   - set up and run every test (cargo test + pytest)"
	@echo "make bench  - run the benchmark suite against the peers; reports in benches/results/"
	@echo "make bench-scale - near-dedup at 1 and 10 GB, full-text search at 1 GB (benches/results/)"
	@echo "make lint   - clippy + ruff"

$(VENV)/.sctool-complete: requirements/runtime.txt requirements/dev.txt scripts/setup-venv.sh
	bash scripts/setup-venv.sh

setup: $(VENV)/.sctool-complete

# Release build of the extension + editable install of sctool and the CLI.
build: setup
	mkdir -p $(HOME)/.cache/sctool
	flock $(HOME)/.cache/sctool/build.lock $(PY) -m maturin develop --release --uv -q
	$(PY) -m uv pip install --python $(PY) -q --no-deps -e ./cli
	@# Bytecode for sctool's own (editable) sources: with PYTHONDONTWRITEBYTECODE set, Python would
	@# compile them again in every process (scripts/setup-venv.sh does the same for the venv).
	@# checked-hash: validated against the source's hash, so an edit never runs stale bytecode.
	$(PY) -m compileall -q --invalidation-mode checked-hash python cli >/dev/null

dev: build

test-rust:
	cargo test --workspace --exclude sctool-py -q

test-py: build
	$(PY) -m pytest -q -p no:cacheprovider tests

test: setup lint-py test-rust test-py

lint-py: setup
	$(PY) -m ruff check python cli tests benches

lint: setup
	cargo clippy --workspace --all-targets -- -D warnings
	$(PY) -m ruff check python cli tests benches

demo: build
	bash scripts/demo.sh $(DEMO_OUT)

bench: build
	$(PY) -m benches.run_all

# The scale checks (not in `make bench`: ~15 min for near-dedup at 1 and 10 GB, ~5 min for search at 1 GB).
.PHONY: bench-scale
bench-scale: build
	$(PY) -m benches.neardup_scale 1 10
	$(PY) -m benches.bench_attribution --search-only

clean:
	rm -rf $(DEMO_OUT) benches/scratch

# The command reference, generated from the parsers (tests/contract/test_cli_docs.py checks it is current).
.PHONY: docs
docs: build
	$(PY) scripts/gen_cli_docs.py

# Mutation check of the core modules (scripts/mutation_check.py, docs/testing.md); ~30 min on 2 cores.
.PHONY: mutation
mutation: build
	$(PY) scripts/mutation_check.py --report benches/scratch/mutation-report.json
