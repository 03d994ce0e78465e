# Two commands on a fresh machine: `make demo` runs the product, `make test` runs every test.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install system test test-busy test-fast demo bench lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch/torchvision resolve to the pinned range in pyproject.toml
	$(BIN)/pip install -q -e '.[test,postgres]'
	touch $(STAMP)

install: $(STAMP)

# Debian packages the tests need: chromium + chromedriver, PostgreSQL, Redis, docker-compose.
system:
	bash scripts/install-system.sh

test: install system
	bash scripts/run-tests.sh

# The same suite with every core kept busy by stress-ng (started and stopped here): no test
# may depend on how fast the machine is.
test-busy: install system
	bash scripts/run-tests-busy.sh

# The quick subset: no browser, no slow training.
test-fast: install
	$(BIN)/pytest -q -m "not slow and not browser and not deployed"

# ports: make demo API_PORT=8100 DASHBOARD_PORT=8150 (mixscope up refuses taken ones)
API_PORT ?= 8000
DASHBOARD_PORT ?= 8050
demo: install
	$(BIN)/mixscope up --api-port $(API_PORT) --dashboard-port $(DASHBOARD_PORT)

bench: install
	for f in benchmarks/bench_*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

lint: install
	$(BIN)/ruff check backend trainer dashboard mixscope tests benchmarks

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache test-artifacts
