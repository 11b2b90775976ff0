# Two commands set everything up on a fresh machine with python3 and gcc:
#   make lab   - the course in JupyterLab
#   make test  - every test (ruff, the native tests under sanitizers, pytest
#                with the notebooks and the browser tests)
# For teaching (see README, "Teach it"): make book, make hub.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: lab test setup compile sanitize bench book hub proxy clean

# JupyterLab listens on loopback unless told otherwise (LAB_IP=0.0.0.0 for a room).
LAB_IP   ?= 127.0.0.1
LAB_PORT ?= 8888
LAB_ARGS ?=
# Jupyter refuses to run as root without --allow-root; containers and CI run as root.
AS_ROOT  := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)

# The explorer's compiled hot path (simulator/engine/compiled.py) is built by the
# install too: editing one of its sources re-installs, so the compiled modules are
# never older than what they were compiled from (if they were, the engine would
# run them as Python until then, and say so).
ENGINE_SRC := $(foreach m,machine memory snapshot footprint explore,\
                $(addprefix simulator/engine/$(m),.py .pxd)) simulator/engine/compiled.py

$(STAMP): pyproject.toml setup.py $(wildcard native/*.c native/*.h native/*.py native/guests/*) \
          $(ENGINE_SRC)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,hub]'
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

setup: $(STAMP)

# Compile the explorer (and the KVM backend) again, now.
compile: $(STAMP)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -c "from simulator.engine import compiled; print('explorer:', compiled.status())"

# The hub's proxy, configurable-http-proxy, from npm (hub/package.json).
PROXY := hub/node_modules/.bin/configurable-http-proxy
$(PROXY): hub/package.json hub/package-lock.json
	npm ci --prefix hub --no-audit --no-fund --loglevel=error
	touch $(PROXY)

# For the tests: the proxy where npm is there; without it the hub's test skips.
proxy:
	@if command -v npm >/dev/null 2>&1; then $(MAKE) --no-print-directory $(PROXY) || \
		echo "could not install configurable-http-proxy: the hub's test will skip"; \
	else echo "npm not found: the hub's test will skip"; fi

test: $(STAMP) proxy
	$(BIN)/ruff check simulator tests bench native hub $(wildcard solutions/grading)
	$(MAKE) --no-print-directory sanitize
	$(BIN)/python -m pytest -q

# The native tests (native/tests/test_native.c) built, with every native file,
# with AddressSanitizer, LeakSanitizer and UndefinedBehaviorSanitizer (their
# runtimes come with gcc).
# Tests that need /dev/kvm or two CPUs skip and say why; a compiler that cannot
# build with the sanitizers skips the whole target and says so.
SAN_DIR   := native/build/sanitize
SAN_BIN   := $(SAN_DIR)/test_native
SAN_SRC   := $(wildcard native/*.c)
SAN_FLAGS := -std=gnu11 -D_GNU_SOURCE -O1 -g -fno-omit-frame-pointer -pthread \
             -fsanitize=address,undefined -fno-sanitize-recover=all \
             -Wall -Wextra -Werror -Inative
SAN_WRAP  := -Wl,--wrap=pthread_create,--wrap=pthread_setaffinity_np
SAN_ENV   := ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1

native/build/guests.c: $(wildcard native/guests/*) native/hvr.h native/build_native.py | $(STAMP)
	cd native && ../$(BIN)/python -c "import build_native"

$(SAN_BIN): native/tests/test_native.c $(SAN_SRC) native/build/guests.c native/hvr.h \
            native/internal.h
	mkdir -p $(SAN_DIR)
	$(CC) $(SAN_FLAGS) -o $@ native/tests/test_native.c $(SAN_SRC) native/build/guests.c \
	    $(SAN_WRAP)

sanitize: $(STAMP)
	@if echo 'int main(void) { return 0; }' | \
	    $(CC) -x c -fsanitize=address,undefined -o /dev/null - 2>/dev/null; then \
	  $(MAKE) --no-print-directory $(SAN_BIN) && $(SAN_ENV) $(SAN_BIN); \
	else \
	  echo "sanitize: skipped: $(CC) cannot build with -fsanitize=address,undefined"; \
	fi

# The repository root is the server's root, so course/, exercises/ and the links
# between them all resolve; the contents page opens first.
lab: $(STAMP)
	$(BIN)/jupyter lab --ServerApp.root_dir="$(CURDIR)" --ServerApp.ip=$(LAB_IP) \
		--ServerApp.port=$(LAB_PORT) --LabApp.default_url=/lab/tree/course/Index.ipynb \
		$(AS_ROOT) $(LAB_ARGS)

# A JupyterHub for a room on this machine (settings: hub/README.md). Loopback unless
# HUB_IP says otherwise; the students' password is WORKSHOP_PASSWORD or is generated.
hub: $(STAMP) $(PROXY)
	$(BIN)/jupyterhub -f hub/jupyterhub_config.py

# The static book: every chapter executed once, as HTML pages that need no kernel.
book: $(STAMP)
	$(BIN)/python -m simulator.book --out _build/book

bench: $(STAMP)
	for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info _build hub/node_modules
	rm -f simulator/engine/*.so simulator/engine/*.c simulator/engine/compiled.json
