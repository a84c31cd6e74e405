# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# torch from this machine's local wheel store when pip has one; any torch>=2.4 elsewhere.
TORCH := torch==2.14.1 torchvision==0.29.1

.PHONY: demo test install install-test bench clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install -q $(TORCH) || $(PY) -m pip install -q 'torch>=2.4' 'torchvision>=0.19'
	$(PY) -m pip install -q -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PY) -m pip install -q -e '.[test]'
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

demo: install
	$(VENV)/bin/aetui demo

test: install-test
	$(PY) -m pytest -q

bench: install-test
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) *.egg-info
