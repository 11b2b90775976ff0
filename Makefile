# Two commands set everything up on a fresh machine with python3 and gcc:
#   make lab   - the course in JupyterLab
#   make test  - every test (ruff + pytest, notebooks included)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: lab test setup bench clean

$(STAMP): pyproject.toml setup.py $(wildcard native/*.c native/*.h native/*.py native/guests/*)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

setup: $(STAMP)

test: $(STAMP)
	$(BIN)/ruff check simulator tests bench native
	$(BIN)/python -m pytest -q

lab: $(STAMP)
	$(BIN)/jupyter lab course/

bench: $(STAMP)
	for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info
