# logrecon: `make demo` runs the main job on generated demo data; `make test` runs every test.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo test bench install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/logrecon generate --out data/demo --rows 20000 --seed 7 --outage-rate 30 --outage-min-s 90 --outage-max-s 180
	$(BIN)/logrecon run data/demo/logs.csv --out reports/demo --truth data/demo/truth
	@echo "Results: reports/demo/ (open reports/demo/report.html)"

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[test,bench]"
	$(BIN)/python benchmarks/bench.py

clean:
	rm -rf reports/demo data/demo .pytest_cache
