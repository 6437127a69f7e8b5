# The two commands a newcomer needs: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
NODE_STAMP := tests/node/node_modules/.installed

.PHONY: demo test lint typecheck imports protos protos-check unit setup node-deps clean soak

setup: $(STAMP)

# plyvel comes first, built against a LevelDB that reads tables without mmap (see the
# script), so that pip finds it installed and does not fetch the PyPI wheel.
$(STAMP): pyproject.toml tools/build-plyvel.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	bash tools/build-plyvel.sh $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

node-deps: $(NODE_STAMP)

$(NODE_STAMP): tests/node/package.json tests/node/package-lock.json
	cd tests/node && npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

protos: $(STAMP)
	$(BIN)/python -m protos.generate

protos-check: $(STAMP)
	$(BIN)/python -m protos.generate --check

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

imports: $(STAMP)
	$(BIN)/lint-imports

test: $(STAMP) $(NODE_STAMP) protos-check lint typecheck imports
	sh tests/regulator_console/setup.sh
	$(BIN)/python -m pytest -q

demo: $(STAMP)
	$(BIN)/scf demo

# The long fault-injection profile (30 minutes, >= 100 faults); `make test` runs the short one.
soak: $(STAMP) $(NODE_STAMP)
	SCF_FAULT_PROFILE=long $(BIN)/python -m pytest -q -p no:cacheprovider tests/faults

clean:
	rm -rf $(VENV) build/plyvel tests/node/node_modules .pytest_cache .mypy_cache .ruff_cache
