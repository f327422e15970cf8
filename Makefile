# sinkmap — `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PIPELINE ?= pipelines/china_sample.yaml

.DEFAULT_GOAL := help

help:  ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*## "}{printf "  %-14s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,dev]'
	touch $(STAMP)

venv: $(STAMP)  ## create .venv and install sinkmap with its test tools

RUN_DIR ?= runs/china-sample

pipeline: $(STAMP)  ## run the default pipeline on the embedded sample data, then write its offline report
	$(BIN)/sinkmap run $(PIPELINE) --overwrite
	$(BIN)/sinkmap report $(RUN_DIR) --overwrite

test: $(STAMP)  ## run the whole test suite
	$(BIN)/python -m pytest

test-fast: $(STAMP)  ## run the tests not marked slow
	$(BIN)/python -m pytest -m "not slow"

sample-data: $(STAMP)  ## regenerate the synthetic sample mosaic in rasters/ (deterministic, seeded)
	$(BIN)/python scripts/make_sample_data.py

lint: $(STAMP)  ## ruff and mypy
	$(BIN)/ruff check src tests scripts bench
	$(BIN)/mypy src

bench: bench-pipeline bench-zonal bench-uncertainty bench-cli  ## every benchmark: the whole pipeline, the aggregation core, the uncertainty draws, CLI start-up (bench/results/)

bench-pipeline: $(STAMP)  ## whole pipeline vs its I/O limit: sample and 30 m tiles (bench/results/pipeline_latest.txt)
	$(BIN)/python bench/bench_pipeline.py

bench-zonal: $(STAMP)  ## aggregation core vs raw read, exactextract, rasterstats (bench/results/latest.txt)
	$(BIN)/python bench/bench_zonal.py

bench-uncertainty: $(STAMP)  ## 10,000 Monte Carlo draws for every region vs the pipeline's run time (bench/results/uncertainty_latest.txt)
	$(BIN)/python bench/bench_uncertainty.py

bench-cli: $(STAMP)  ## start-up of sinkmap --help / --version (bench/results/cli_startup.txt)
	$(BIN)/python bench/bench_cli_startup.py --runs 20 --write

clean:  ## remove the virtual environment and run outputs
	rm -rf $(VENV) runs

.PHONY: help venv pipeline test test-fast sample-data lint bench bench-pipeline bench-zonal bench-uncertainty bench-cli clean
