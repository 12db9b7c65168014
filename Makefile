# The course's two commands (each installs what it needs into .venv first):
#   make lab    install the course and open JupyterLab at the first notebook
#   make test   install the course and run the whole test suite (library tests and every notebook)
# On machines without make, the README shows the same steps with plain pip.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU build of torch (a plain `pip install torch` on Linux downloads a multi-GB CUDA build).
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
PYTEST_ARGS ?=

.PHONY: lab test install install-test exercises headers lint bench clean

lab: $(VENV)/.course
	$(BIN)/jupyter lab notebooks/01_tokens_embeddings_positions.ipynb

# Two test processes side by side, one thread each: two threads per process on two cores would make
# them wait on each other's spinning threads.
test: $(VENV)/.test
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 --dist loadfile $(PYTEST_ARGS)

install: $(VENV)/.course

install-test: $(VENV)/.test

$(VENV)/.course: pyproject.toml requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install --extra-index-url $(TORCH_INDEX) torch==2.13.0
	$(BIN)/python -m pip install -r requirements.txt
	$(BIN)/python -m pip install --no-deps -e .
	touch $@

$(VENV)/.test: $(VENV)/.course
	$(BIN)/python -m pip install playwright==1.65.2
	touch $@

exercises: $(VENV)/.course
	$(BIN)/python tools/make_exercises.py

headers: $(VENV)/.course
	$(BIN)/python tools/notebook_header.py

lint: $(VENV)/.course
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(VENV)/.course
	for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache checkpoints runs
