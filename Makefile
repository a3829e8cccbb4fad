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

# Download every source CONFIG uses, print its sha256 and record the unknown ones
# (sha256: null) in a lock file beside each sources file (resources/paper_sources.lock.yaml
# for resources/paper_sources.yaml): commit it; later runs verify against it.
# MIRROR=dir-or-url reads them from a mirror, ONLY="name ..." checks just those.
CONFIG ?= config/paper.yaml
.PHONY: sources-check
sources-check: setup
	$(VENV)/bin/python -m genomic_ulmfit sources --check --config $(CONFIG) \
		$(if $(MIRROR),--mirror $(MIRROR)) $(if $(ONLY),--only $(ONLY))

# config/paper.yaml's whole DAG at reduced scale (config/paper_mini.yaml), offline: the real
# files of SHARED where the paper's sources are there, stand-ins in the upstream formats for
# the rest (tests/paper_standins.py, served on 127.0.0.1 with the OSF and NCBI API stand-ins).
# Results in results-paper-mini/; tests/test_paper_mini.py runs the same.
SHARED ?= ../shared/data
.PHONY: paper-mini
paper-mini: setup
	$(VENV)/bin/python tests/paper_standins.py results-paper-mini/standins --shared $(SHARED) \
		--run results-paper-mini -- --cores $(CORES) $(SNAKEMAKE_ARGS)
