"""Run `python -m genomic_ulmfit ARGS` with only one conda env's packages importable.

    python tests/env_guard.py envs/data.yaml -- tokenize ...

Every third-party package the project installs but the env file does not list
is made unimportable, so a rule that silently needs another env fails here
instead of on a user's machine.
"""
import importlib.abc
import sys
from pathlib import Path

import yaml

# conda package name -> top-level import name, for the project's dependencies
IMPORT_NAMES = {
    "numpy": "numpy", "pandas": "pandas", "scikit-learn": "sklearn", "biopython": "Bio",
    "pyfaidx": "pyfaidx", "pybedtools": "pybedtools", "networkx": "networkx",
    "pyyaml": "yaml", "tqdm": "tqdm", "pytorch": "torch", "fastai": "fastai",
    "matplotlib": "matplotlib", "seaborn": "seaborn", "snakemake": "snakemake",
    "jsonschema": "jsonschema", "tabulate": "tabulate", "scipy": "scipy", "h5py": "h5py",
    "pybigwig": "pyBigWig",
}


def env_packages(env_file: Path) -> set[str]:
    deps = yaml.safe_load(Path(env_file).read_text())["dependencies"]
    return {d.split("=")[0] for d in deps if isinstance(d, str)}


class Blocker(importlib.abc.MetaPathFinder):
    def __init__(self, blocked: set[str]):
        self.blocked = blocked

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in self.blocked:
            raise ModuleNotFoundError(f"{name} is not in this rule's conda env", name=name)
        return None


def main() -> None:
    env_file, sep, *args = sys.argv[1:]
    assert sep == "--"
    allowed = {IMPORT_NAMES[p] for p in env_packages(Path(env_file)) if p in IMPORT_NAMES}
    sys.meta_path.insert(0, Blocker(set(IMPORT_NAMES.values()) - allowed - {"yaml"}))
    from genomic_ulmfit.cli import main as cli
    cli(args)


if __name__ == "__main__":
    main()
