# The README's two commands: `make demo` (main job) and `make test` (tests).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test install clean browser

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.installed

demo: $(BIN)/.installed
	$(BIN)/rtbench demo

# The report's browser test drives Debian's headless Chromium.
browser:
	@command -v chromium >/dev/null || { \
	  echo "installing chromium (apt-get) for the report's browser test"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

test: $(BIN)/.installed browser
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV)
