# Quick start: `make demo` then `make test`. Both create .venv and install the pinned dependencies.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STRIATE := $(PY) -m striate
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test fuzz data bench clean-venv

$(STAMP): pyproject.toml requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

# Fashion-MNIST: files already here, else a checksummed download, else (as root, offline but for
# the package registries) Debian's dataset-fashion-mnist package, else a message saying what to do.
data: $(STAMP)
	@$(STRIATE) download fashion-mnist 2>/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "download failed; installing Debian's dataset-fashion-mnist package"; \
	    apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 || \
	      { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1; }; \
	  fi; \
	  $(STRIATE) download fashion-mnist; }

demo: data
	$(STRIATE) train --recipe fast

test: $(STAMP)
	$(PY) -m pytest

# The readers' fuzz tests with 2,000 fresh random inputs each (make test runs 100 fixed ones).
fuzz: $(STAMP)
	STRIATE_FUZZ_EXAMPLES=2000 STRIATE_FUZZ_RANDOM=1 $(PY) -m pytest -p no:cacheprovider \
	  tests/reliability/test_fuzz.py --hypothesis-show-statistics

# Speed and memory, measured side by side with the baseline (never asserted in tests).
bench: $(STAMP)
	$(PY) bench/run.py

clean-venv:
	rm -rf $(VENV)
