# Two commands on a fresh machine: `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3

.PHONY: demo test check lint types bench clean

$(VENV)/.installed: pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

# The scheduler's hot modules compiled in place with mypyc (setup.py lists them),
# again whenever a scheduler or simulator module changes. Without a C compiler the
# package stays pure Python: it decides the same, only slower.
$(VENV)/.compiled: $(VENV)/.installed setup.py $(wildcard src/mlrp/scheduler/*.py src/mlrp/sim/*.py)
	@find src -name '*.so' -delete
	@MLRP_COMPILE=1 $(PY) setup.py -q build_ext --inplace > $(VENV)/compile.log 2>&1 \
		&& find src -name '*.so' -exec touch {} + \
		&& echo "mlrp: scheduler modules compiled with mypyc" \
		|| { find src -name '*.so' -delete; \
		     echo "mlrp: mypyc could not compile the scheduler (see $(VENV)/compile.log): it runs as pure Python"; }
	@touch $@

demo: $(VENV)/.compiled
	$(PY) -m mlrp.demo

test: $(VENV)/.compiled
	$(PY) -m pytest -q

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

types: $(VENV)/.installed
	$(VENV)/bin/mypy

check: lint types test

bench: $(VENV)/.compiled
	$(PY) benchmarks/submit_drain.py
	$(PY) benchmarks/scheduler_pass.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
	find src -name '*.so' -delete
