#!/usr/bin/env bash
# Creates the project's venv with every Python dependency and checks the
# command-line tools the data rules need (bedtools, blastn). Debian/Ubuntu
# root users get the tools installed; others are told what to install.
set -euo pipefail
PYTHON=${1:-python3}
VENV=${2:-.venv}

if ! command -v bedtools >/dev/null || ! command -v blastn >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bedtools ncbi-blast+ >/dev/null
  else
    echo "setup: bedtools and blastn are needed: install Debian's bedtools and ncbi-blast+" \
         "(or conda install -c bioconda bedtools blast), or run with --use-conda" >&2
  fi
fi

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
# torch 2.13.0 resolves to the CPU wheel where one is on disk, else to PyPI's build.
"$VENV/bin/python" -m pip install -q -e ".[test]"
"$VENV/bin/python" -c "import torch, fastai, snakemake; print('setup: torch', torch.__version__, '| fastai', fastai.__version__, '| snakemake', snakemake.__version__)"
