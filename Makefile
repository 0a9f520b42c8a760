PY ?= .venv/bin/python
PYTEST_ARGS ?=

.PHONY: test
# pytest exits 5 when a selection (e.g. PYTEST_ARGS="-m slow") matches no test: that is not a failure.
test:
	$(PY) -m pytest -q $(PYTEST_ARGS) || { rc=$$?; [ $$rc -eq 5 ] && echo "no tests selected"; [ $$rc -eq 5 ]; }
