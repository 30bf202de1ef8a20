# flexiclip — the two commands a newcomer needs: `make demo` and `make test` (`make lint` before a commit).
# Both create the virtual environment on first use (.venv) with scripts/install_venv.sh: the project
# with its test extras, torch pinned to the CPU build on local disk (constraints.txt), installed by
# uv (about half pip's time; pip where uv cannot be had). `make test`
# also installs chromium for the browser test where it can (root + apt-get, the script CI runs)
# and otherwise prints why that test was skipped. `make mutants` (slow, not part of `make test`)
# checks that the tests kill every mutation listed in tests/mutants.toml. `make test` runs the
# corpus tests on the committed sample (tests/data/corpus_sample.txt); `make test-full` runs them
# over the whole openclipart people/ + animals/ folders, plus the two-node Ray cluster, Ray job
# server and fault-injection runs (CI runs both).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.flexiclip-installed
PYTEST_ARGS ?=
DEMO_OUT ?= outputs/demo
MUTANTS_ARGS ?=
BROWSER_NOTE := $(VENV)/.browser-skip-reason
# pytest-xdist: one worker per core, at most 4 (each end-to-end test runs its own Prefect API and
# Ray); PYTEST_WORKERS=0 runs in one process. --dist loadfile keeps a module's tests on one worker,
# so a module fixture (a server, a model, a cluster) is built once (loadgroup would allow finer
# groups, but xdist 3.8 cannot tag pytest 9's node ids, so its groups are silently ignored);
# --no-loadscope-reorder keeps tests/conftest.py's order: modules with slow tests first.
PYTEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 1); [ "$$n" -gt 4 ] && n=4; echo $$n)
PYTEST_XDIST := -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder
# The 25 slowest tests are printed after every run (CI's log keeps them).
PYTEST_REPORT := -q -rs --durations=25

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_HUB_DISABLE_TELEMETRY := 1
export DO_NOT_TRACK := 1

.PHONY: install demo test test-full test-fast lint bench corpus corpus-sweep clean browser mutants

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt deploy/ray/requirements.txt scripts/install_venv.sh
	./scripts/install_venv.sh $(PYTHON) $(VENV)
	@$(BIN)/python -c "import importlib.util as u, sys; sys.exit(u.find_spec('torchvision') is not None)" \
		|| { echo "torchvision is installed in $(VENV): it breaks diffusers/transformers here; remove it"; exit 1; }
	@touch $(STAMP)

corpus:
	./scripts/fetch_openclipart.sh

# Every openclipart SVG through parse + final render (issue 15: only specific errors, no crash or
# hang); slow (8k files). SWEEP_ARGS e.g. "--jobs 2 --stage rig". Summary in artifacts/.
SWEEP_ARGS ?=
corpus-sweep: install corpus
	$(BIN)/python scripts/corpus_sweep.py --json artifacts/corpus_sweep.json $(SWEEP_ARGS)

demo: install
	$(BIN)/python -m flexiclip_cli.demo --out $(DEMO_OUT)

browser: install
	@./scripts/browser_prereqs.sh > $(BROWSER_NOTE)

test: install corpus browser
	@status=0; $(BIN)/python -m pytest $(PYTEST_REPORT) $(PYTEST_XDIST) $(PYTEST_ARGS) || status=$$?; \
		if [ -s $(BROWSER_NOTE) ]; then echo; cat $(BROWSER_NOTE); fi; exit $$status

# The second tier: the whole-corpus runs (tests marked corpus_full) that `make test` replaces with
# the sample, the multi-node Ray / Ray job server runs (marked cluster) whose parts `make test`
# checks on one node, and the fault-injection and concurrent runs (marked robustness: workers and
# flows killed mid-run, a clip timeout waited out, two runs at once). CI runs it after `make test`
# on every change.
test-full: install corpus
	$(BIN)/python -m pytest $(PYTEST_REPORT) $(PYTEST_XDIST) --full -m "corpus_full or cluster or robustness" $(PYTEST_ARGS)

test-fast: install
	$(BIN)/python -m pytest -q -m "not slow" $(PYTEST_XDIST) $(PYTEST_ARGS)

# Lint, format check and type check; read-only (scripts/lint_fix.sh applies the safe fixes).
# mypy keeps its incremental cache in .mypy_cache: the first run takes minutes, later ones seconds.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: install
	$(BIN)/flexiclip bench

mutants: install
	$(BIN)/python scripts/mutants.py $(MUTANTS_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache outputs artifacts
