# Two commands set everything up on a fresh machine with python3 and gcc:
#   make lab   - the course in JupyterLab
#   make test  - every test (ruff + pytest, notebooks included)
# For teaching (see README, "Teach it"): make book, make hub.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: lab test setup bench book hub clean

# JupyterLab listens on loopback unless told otherwise (LAB_IP=0.0.0.0 for a room).
LAB_IP   ?= 127.0.0.1
LAB_PORT ?= 8888
LAB_ARGS ?=
# Jupyter refuses to run as root without --allow-root; containers and CI run as root.
AS_ROOT  := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)

$(STAMP): pyproject.toml setup.py $(wildcard native/*.c native/*.h native/*.S native/*.py)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,hub]'
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

setup: $(STAMP)

test: $(STAMP)
	$(BIN)/ruff check simulator tests bench native
	$(BIN)/python -m pytest -q

# The repository root is the server's root, so course/, exercises/ and the links
# between them all resolve; the contents page opens first.
lab: $(STAMP)
	$(BIN)/jupyter lab --ServerApp.root_dir="$(CURDIR)" --ServerApp.ip=$(LAB_IP) \
		--ServerApp.port=$(LAB_PORT) --LabApp.default_url=/lab/tree/course/Index.ipynb \
		$(AS_ROOT) $(LAB_ARGS)

# The static book: every chapter executed once, as HTML pages that need no kernel.
book: $(STAMP)
	$(BIN)/python -m simulator.book --out _build/book

bench: $(STAMP)
	for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info _build
