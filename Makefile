# Two commands set everything up on a fresh machine with python3 and gcc:
#   make lab   - the course in JupyterLab
#   make test  - every test (ruff, the native tests under sanitizers, pytest
#                with the notebooks)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: lab test setup sanitize bench clean

$(STAMP): pyproject.toml setup.py $(wildcard native/*.c native/*.h native/*.py native/guests/*)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

setup: $(STAMP)

test: $(STAMP)
	$(BIN)/ruff check simulator tests bench native solutions/grading
	$(MAKE) --no-print-directory sanitize
	$(BIN)/python -m pytest -q

# The native tests (native/tests/test_native.c) built with AddressSanitizer,
# LeakSanitizer and UndefinedBehaviorSanitizer (their runtimes come with gcc).
# Tests that need /dev/kvm or two CPUs skip and say why; a compiler that cannot
# build with the sanitizers skips the whole target and says so.
SAN_DIR   := native/build/sanitize
SAN_BIN   := $(SAN_DIR)/test_native
SAN_SRC   := $(addprefix native/,error.c vm.c vcpu.c bench.c litmus.c race.c)
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

lab: $(STAMP)
	$(BIN)/jupyter lab course/

bench: $(STAMP)
	for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info
