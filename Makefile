PY ?= .venv/bin/python

.PHONY: bench

# All five performance scenarios (bench/RESULTS.md); about 5-8 minutes on 2 cores.
bench:
	PYTHONPATH=. $(PY) -m bench
