# Two commands for a newcomer: `make run` (the hub on the embedded default, with demo data)
# and `make test` (the whole suite). Both set up the virtual environment from the lock file.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 8000
# The language the demo's names are made in on its first start (en or zh-CN); empty: the terminal's.
DEMO_LANGUAGE ?=

.PHONY: install run serve test lint typecheck bench lock screenshots clean

install: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("Hotline needs Python 3.11 or newer") if sys.version_info < (3, 11) else None'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

run: install
	$(BIN)/hotline demo --host $(HOST) --port $(PORT) $(if $(DEMO_LANGUAGE),--language $(DEMO_LANGUAGE))

serve: install
	$(BIN)/hotline serve --host $(HOST) --port $(PORT)

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The product packages; configuration in pyproject.toml ([tool.ruff], [tool.mypy]).
PACKAGES := core tickets telephony qa scheduling agent_ui hotline

lint: install
	$(BIN)/ruff check $(PACKAGES)

typecheck: install
	$(BIN)/mypy

bench: install
	$(BIN)/python -m benchmarks

# Refreshes docs/screenshots/ (every live page, English and Chinese) with Debian's Chromium.
screenshots: install
	$(BIN)/python -m hotline.screenshots --out docs/screenshots

lock:
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 --generate-hashes -o requirements.lock

clean:
	rm -rf $(VENV) var .pytest_cache
