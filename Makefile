# The two commands that matter: `make book` (the whole reproduction on the embedded corpus,
# quick profile) and `make test`. Both create the virtual environment on first use.
PYTHON ?= python3
VENV ?= .venv
PROFILE ?= quick
BIN := $(VENV)/bin
STAMP := $(VENV)/.svdlib-installed
PINS := $(VENV)/constraints.txt

.PHONY: env book run test notebooks lint bench clean help

help:
	@echo "make book     build the whole reproduction (profile $(PROFILE)) into _build/html"
	@echo "make test     run the test suite"
	@echo "make notebooks  run every notebook under pytest --nbmake on the quick profile"
	@echo "make run      run the svd stages only (no book)"
	@echo "make lint     ruff"
	@echo "make bench    run the benchmarks in bench/"

$(STAMP): pyproject.toml environment.yml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# environment.yml holds the exact pins; pyproject.toml the ranges
	$(PYTHON) tools/pins.py > $(PINS)
	# the CPU build of torch first, so nothing pulls a CUDA build
	$(BIN)/pip install --quiet -c $(PINS) torch
	# the corpus extra's tinysoundfont declares pyaudio (live playback, unused), which pip builds
	# against PortAudio's headers (Debian: portaudio19-dev); without them it goes in without it
	$(BIN)/pip install --quiet -c $(PINS) -e ".[corpus,book,scale,dev,quantus,pretrained]" || { \
	  echo "pyaudio did not build (no PortAudio headers): installing tinysoundfont without it"; \
	  $(BIN)/pip install --quiet -c $(PINS) -e ".[book,scale,dev,quantus,pretrained]" pysinsy pretty_midi setuptools && \
	  $(BIN)/pip install --quiet -c $(PINS) --no-deps tinysoundfont; }
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

env: $(STAMP)

run: env
	$(BIN)/svd run --profile $(PROFILE)

book: env
	$(BIN)/svd book --profile $(PROFILE)

test: env
	$(BIN)/ruff check .
	$(BIN)/pytest -q

# every notebook with its default parameters (the quick profile), computing what it needs;
# about 17 minutes from nothing (the explainer benchmark included), a few once the quick
# artifacts exist
notebooks: env
	$(BIN)/pytest --nbmake --nbmake-timeout=1800 -p no:cacheprovider notebooks/

lint: env
	$(BIN)/ruff check .

bench: env
	for script in bench/bench_*.py; do $(BIN)/python $$script || exit 1; done

clean:
	rm -rf _build book/generated
