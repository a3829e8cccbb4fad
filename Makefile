# Two commands: `make run` (main job, default config) and `make test`.
# Set PYTHON to choose the interpreter for the venv (Python >= 3.11).
PYTHON ?= python3
VENV ?= .venv
CORES ?= all
SNAKEMAKE_ARGS ?=

.PHONY: setup run report test dryrun clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	bash scripts/setup.sh $(PYTHON) $(VENV)
	touch $@

run: setup
	$(VENV)/bin/snakemake --cores $(CORES) --resources gpu=1 $(SNAKEMAKE_ARGS)

report: setup
	$(VENV)/bin/snakemake --report report.html $(SNAKEMAKE_ARGS)

dryrun: setup
	$(VENV)/bin/snakemake -n --cores $(CORES) $(SNAKEMAKE_ARGS)

test: setup
	$(VENV)/bin/python -m pytest -ra $(PYTEST_ARGS)

clean:
	rm -rf results logs .snakemake report.html
