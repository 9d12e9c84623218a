# All set-up is idempotent and lives in .venv; a stamp file makes the second run fast.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.stamp-$(shell cat pyproject.toml Makefile | sha1sum | cut -c1-12)
PORT ?= 8501

.PHONY: setup app test test-fast bench browser clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# scikit-learn-extra's wheel breaks under numpy 2: build it from source against the installed numpy
	$(BIN)/python -m pip install -q "numpy>=1.26" cython setuptools wheel
	$(BIN)/python -m pip show -q scikit-learn-extra >/dev/null 2>&1 || \
	  $(BIN)/python -m pip install -q --no-binary scikit-learn-extra --no-build-isolation scikit-learn-extra
	# llama-cpp-python compiles from source (about 5 minutes on 2 cores, once)
	CMAKE_BUILD_PARALLEL_LEVEL=2 $(BIN)/python -m pip install -q -e ".[test]"
	rm -f $(VENV)/.stamp-*
	touch $(STAMP)

browser:
	@test -x /usr/bin/chromium || { \
	  echo "installing Debian chromium for the browser test"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || \
	  echo "WARNING: could not install chromium; the browser test will be skipped"; }

app: setup
	$(BIN)/streamlit run app.py --server.port $(PORT)

test: setup browser
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: setup
	$(BIN)/python -m pytest -m "not llm and not browser and not slow" $(PYTEST_ARGS)

bench: setup
	$(BIN)/python -m pip install -q ".[bench]"
	$(BIN)/python benchmarks/discovery.py
	$(BIN)/python benchmarks/report.py
	$(BIN)/python benchmarks/augment.py

clean:
	rm -rf $(VENV) build *.egg-info
