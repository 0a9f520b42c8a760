# Two commands on a fresh machine: `make run` (set up and start the bot) and `make test`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: setup run test bench docs clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,docs]'
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(BIN)/surveybot run

# pytest exits 5 when a selection (e.g. PYTEST_ARGS="-m slow") matches no test: that is not a failure.
test: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS) || { rc=$$?; [ $$rc -eq 5 ] && echo "no tests selected"; [ $$rc -eq 5 ]; }

# All seven performance scenarios (bench/RESULTS.md); about 6-9 minutes on 2 cores.
bench: $(STAMP)
	PYTHONPATH=. $(BIN)/python -m bench

# The documentation site (mkdocs.yml, docs/); --strict: a broken link or a page outside the nav fails.
docs: $(STAMP)
	$(BIN)/mkdocs build --strict -d build/site

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build/site
