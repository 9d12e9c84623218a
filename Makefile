# All set-up is idempotent and lives in .venv; a stamp file makes the second run fast.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.stamp-$(shell cat pyproject.toml Makefile | sha1sum | cut -c1-12)
# The embedded LLM server is compiled for any x86-64 CPU with AVX2, never tuned to the build machine:
# a native build (GGML_NATIVE, the default) has died with a general protection fault on another CPU.
# The wheel is built once per version and flags and kept outside the tree, so a fresh clone reuses it.
LLAMA_VERSION := 0.3.36
LLAMA_CMAKE := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF -DGGML_BMI2=OFF -DGGML_AVX_VNNI=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF -DLLAMA_CURL=OFF
LLAMA_WHEELS := $(HOME)/.cache/synth-core/wheels/llama-$(LLAMA_VERSION)-$(shell echo "$(LLAMA_CMAKE)" | sha1sum | cut -c1-8)
PORT ?= 8501

.PHONY: setup app test test-fast bench bench-setup bench-llm browser clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# scikit-learn-extra's wheel breaks under numpy 2: build it from source against the installed numpy
	$(BIN)/python -m pip install -q "numpy>=1.26" cython setuptools wheel
	$(BIN)/python -m pip show -q scikit-learn-extra >/dev/null 2>&1 || \
	  $(BIN)/python -m pip install -q --no-binary scikit-learn-extra --no-build-isolation scikit-learn-extra
	# llama-cpp-python compiles from source, portable (about 5 minutes on 2 cores, once per machine)
	@ls $(LLAMA_WHEELS)/llama_cpp_python-*.whl >/dev/null 2>&1 || \
	  CMAKE_ARGS="$(LLAMA_CMAKE)" CMAKE_BUILD_PARALLEL_LEVEL=2 $(BIN)/python -m pip wheel -q --no-cache-dir \
	    --no-deps -w $(LLAMA_WHEELS) "llama-cpp-python==$(LLAMA_VERSION)"
	$(BIN)/python -m pip install -q "$$(ls $(LLAMA_WHEELS)/llama_cpp_python-*.whl | head -1)[server]"
	$(BIN)/python -m pip install -q -e ".[test]"
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

# Peers (SDV, imbalanced-learn) live in their own venv so they never become runtime dependencies;
# torch is pinned to the CPU build that pip finds locally instead of a multi-GB CUDA download.
BENCH := .venv-bench
bench-setup:
	@test -x $(BENCH)/bin/python || $(PY) -m venv $(BENCH)
	$(BENCH)/bin/python -m pip install -q "torch==2.13.0" || true
	$(BENCH)/bin/python -m pip install -q sdv imbalanced-learn platformdirs openpyxl pyarrow
	$(BENCH)/bin/python -m pip install -q --no-deps -e .

bench: setup bench-setup
	$(BIN)/python benchmarks/discovery.py
	$(BIN)/python benchmarks/report.py
	$(BIN)/python benchmarks/llm.py
	$(BIN)/python benchmarks/labels.py
	$(BENCH)/bin/python benchmarks/augment.py --regime both

# The LLM generators' columns of augment.md (project venv: the LLM layer). On the embedded model on
# 2 cores this takes hours; --base-url URL --model M points it at a faster endpoint.
bench-llm: setup
	$(BIN)/python benchmarks/augment.py --llm htdbu structsynth --regime both
	$(BIN)/python benchmarks/augment.py --llm samplellm date --regime low

clean:
	rm -rf $(VENV) $(BENCH) build *.egg-info
