# sparselab: `make app` sets up and starts the app; `make test` runs the tests (what CI runs).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# torch's CPU build where no NVIDIA GPU is found: PyPI's torch brings its CUDA libraries (a 5.5 GB .venv) to a machine
# that cannot use them. TORCH_INDEX= (empty) keeps PyPI's build; any index URL picks that one. Where the index cannot
# be reached (a closed network), the install goes on from PyPI as before.
TORCH_INDEX ?= $(if $(shell command -v nvidia-smi 2>/dev/null),,https://download.pytorch.org/whl/cpu)
TORCH := $(shell grep -E '^torch(vision)?==' requirements.txt | cut -d' ' -f1 | tr '\n' ' ')

.PHONY: app test setup browser

$(BIN)/.installed: requirements.txt
	$(PY) -m venv $(VENV)
	$(if $(TORCH_INDEX),-$(BIN)/pip install -q --retries 0 --timeout 15 --index-url $(TORCH_INDEX) $(TORCH))
	$(BIN)/pip install -q -r requirements.txt
	touch $@

setup: $(BIN)/.installed

# Ray Tune for sweeps across machines: the tests use it, the app does not need it
$(BIN)/.ray: requirements-ray.txt $(BIN)/.installed
	$(BIN)/pip install -q -r requirements-ray.txt
	touch $@

app: setup
	$(BIN)/streamlit run app.py

# The browser test drives Debian's chromium; install it when missing and we may (root with apt).
browser:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null); } || \
	  echo "chromium not found: the browser test will be skipped (apt-get install chromium)"

test: setup $(BIN)/.ray browser
	$(BIN)/python -m pytest -q
