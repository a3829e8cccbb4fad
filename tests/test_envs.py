"""Per-rule conda envs: every rule has one, the files are pinned and agree with
the Python dependencies, and each rule's entry point runs with only its env."""
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.version import Version

from env_guard import IMPORT_NAMES, env_packages

REPO = Path(__file__).resolve().parents[1]
ENVS = sorted((REPO / "envs").glob("*.yaml"))
CONDA_TO_PIP = {"pytorch": "torch", "pybigwig": "pyBigWig"}
NOT_ON_PYPI = {"python", "bedtools", "blast"}

# The only conda pins allowed to differ from pyproject.toml: (conda pin, venv pin). Each is a
# version the channel was seen to carry where it was not seen to carry the venv's (evidence in
# envs/README.md). A pyproject bump fails this test until the entry is checked again.
CONDA_PIN_DIFFERS = {
    # newest conda-forge build seen; fastai-feedstock recipe/meta.yaml 48ad18d (2.8.7), needs
    # pytorch >=1.10,<3: https://anaconda.org/channels/conda-forge/packages/fastai/files
    "fastai": ("2.8.7", "2.8.12"),
    # https://anaconda.org/conda-forge/pandas/files (newest 3.0.3); pandas-feedstock 2c0f05c
    "pandas": ("3.0.3", "3.1.1"),
    # https://anaconda.org/conda-forge/scikit-learn/files (newest 1.9.0, np2py311 builds)
    "scikit-learn": ("1.9.0", "1.9.1"),
    # https://anaconda.org/conda-forge/matplotlib/files (newest 3.11.0); matplotlib-feedstock 5c8190b
    "matplotlib": ("3.11.0", "3.11.2"),
    # https://anaconda.org/conda-forge/biopython/files (newest 1.87); biopython-feedstock 5105a27
    "biopython": ("1.87", "1.88"),
    # conda-forge/tqdm-feedstock recipe/recipe.yaml 8744fbb (4.70.0)
    "tqdm": ("4.70.0", "4.70.1"),
    # https://anaconda.org/bioconda/pyfaidx/files (newest 0.9.0.4, noarch)
    "pyfaidx": ("0.9.0.4", "0.9.2.2"),
    # https://anaconda.org/bioconda/pybedtools/files (newest 0.12.0, linux-64 py311 builds)
    "pybedtools": ("0.12.0", "0.12.1"),
    # https://anaconda.org/bioconda/pybigwig/files (versions listed up to 0.3.25); PyPI wheel 0.3.29
    "pybigwig": ("0.3.25", "0.3.29"),
}
# a differing pin stays on the venv's major.minor series, except these (one minor behind)
MINOR_BEHIND_OK = {"pandas", "biopython"}
# conda-only pins of fastai 2.8.7's dependencies (pip resolves them from fastai 2.8.12 in the
# venv): unpinned, conda would take fastcore 2.x (conda-forge/fastcore-feedstock ea236bb, 2.2.5),
# which fastai 2.8.7 cannot run with (L.starmap is gone). Versions seen on conda-forge:
CONDA_ONLY_PINS = {
    "fastcore": "1.12.12",      # https://anaconda.org/conda-forge/fastcore; fastcore-feedstock b16a356
    "fasttransform": "0.0.2",   # https://anaconda.org/conda-forge/fasttransform/files (only 0.0.2)
    "fastprogress": "1.0.3",    # https://anaconda.org/conda-forge/fastprogress/files (1.1 needs fasthtml)
    "plum-dispatch": "2.9.0",   # https://anaconda.org/conda-forge/plum-dispatch/files (venv 2.9.0)
}


def rule_blocks():
    for smk in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        text = smk.read_text()
        for m in re.finditer(r"^rule (\w+):\n(.*?)(?=^\S|\Z)", text, re.S | re.M):
            yield smk.name, m.group(1), m.group(2)


def test_every_rule_that_runs_code_names_an_env():
    rules = list(rule_blocks())
    assert len(rules) >= 10
    for file, name, body in rules:
        if "shell:" in body or "script:" in body:
            env = re.search(r'conda:\s*\n\s*"\.\./\.\./envs/(\w+)\.yaml"', body)
            assert env, f"{file}: rule {name} runs code but names no envs/ file"
            assert (REPO / "envs" / f"{env.group(1)}.yaml").exists()


@pytest.mark.parametrize("env", ENVS, ids=lambda p: p.name)
def test_env_files_parse_and_pin(env):
    spec = yaml.safe_load(env.read_text())
    assert set(spec["channels"]) <= {"conda-forge", "bioconda", "nodefaults"}
    for dep in spec["dependencies"]:
        assert re.fullmatch(r"[\w\-.]+=[\w.]+", dep), f"{env.name}: {dep!r} is not pinned"


def test_pins_agree_with_python_dependencies():
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    pip_pins = dict(d.split("==") for d in deps)
    used = set()
    for env in ENVS:
        lines = env.read_text().splitlines()
        for dep in yaml.safe_load(env.read_text())["dependencies"]:
            name, version = dep.split("=")
            if name in NOT_ON_PYPI:
                continue
            if name in CONDA_ONLY_PINS:
                assert version == CONDA_ONLY_PINS[name], f"{env.name}: {name}={version}, CONDA_ONLY_PINS says {CONDA_ONLY_PINS[name]}"
                assert "fastai" in env_packages(env), f"{env.name}: {name} is pinned only for fastai"
                continue
            pip_name = CONDA_TO_PIP.get(name, name)
            assert pip_name in pip_pins, f"{env.name}: {name} is not a dependency in pyproject.toml"
            if name not in CONDA_PIN_DIFFERS:
                assert pip_pins[pip_name] == version, f"{env.name}: {name}={version}, pyproject {pip_pins[pip_name]}"
                continue
            conda_pin, venv_pin = CONDA_PIN_DIFFERS[name]
            assert pip_pins[pip_name] == venv_pin, \
                f"pyproject moved {name} to {pip_pins[pip_name]}: check the channel, update CONDA_PIN_DIFFERS"
            assert version == conda_pin, f"{env.name}: {name}={version}, CONDA_PIN_DIFFERS says {conda_pin}"
            line = next(ln for ln in lines if ln.strip().startswith(f"- {dep}"))
            assert f"(venv {venv_pin})" in line, f"{env.name}: {dep} differs from the venv; say so on its line"
            used.add(name)
    assert used == set(CONDA_PIN_DIFFERS), f"stale CONDA_PIN_DIFFERS entries: {set(CONDA_PIN_DIFFERS) - used}"


def test_differing_conda_pins_stay_close_to_the_venv():
    for name, (conda_pin, venv_pin) in CONDA_PIN_DIFFERS.items():
        conda_v, venv_v = Version(conda_pin), Version(venv_pin)
        assert conda_v < venv_v, f"{name}: conda {conda_pin} is not older than the venv's {venv_pin}"
        assert conda_v.major == venv_v.major, f"{name}: conda {conda_pin} is another major than {venv_pin}"
        if name in MINOR_BEHIND_OK:
            assert venv_v.minor - conda_v.minor <= 1, f"{name}: conda {conda_pin} is too far behind {venv_pin}"
        else:
            assert conda_v.minor == venv_v.minor, f"{name}: conda {conda_pin} leaves the {venv_pin} series"


def test_rules_only_get_what_they_need():
    assert "pytorch" not in env_packages(REPO / "envs" / "data.yaml")
    assert "fastai" not in env_packages(REPO / "envs" / "report.yaml")
    assert {"bedtools", "blast"} <= env_packages(REPO / "envs" / "data.yaml")
    assert set(IMPORT_NAMES) >= env_packages(REPO / "envs" / "train.yaml") - NOT_ON_PYPI - set(CONDA_ONLY_PINS)
    for env in ENVS:  # fastai's conda-only pins come with fastai, in every env that has it
        has_fastai = "fastai" in env_packages(env)
        assert (set(CONDA_ONLY_PINS) <= env_packages(env)) == has_fastai, env.name


def guarded(env: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(REPO / "tests" / "env_guard.py"), str(REPO / "envs" / f"{env}.yaml"),
         "--", *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_the_guard_blocks_what_an_env_lacks(tmp_path):
    # the train entry point cannot run in the data env: torch is not there
    res = guarded("data", "pretrain", "--corpus", tmp_path, "--out", tmp_path / "x.pth", cwd=tmp_path)
    assert res.returncode != 0 and "torch is not in this rule's conda env" in res.stderr


ECOLI = "ncbi/genomes/all/GCF/000/005/845/GCF_000005845.2_ASM584v2/GCF_000005845.2_ASM584v2_genomic"


def test_data_rules_run_in_the_data_env(shared_data, tmp_path):
    res = guarded("data", "fetch", "--url", "https://example.org/x.fna.gz", "--sha256",
                  "254606e2722f64ca0906dfc1d41bceac41be72c335627c23f831b007939c8a48",
                  "--out", tmp_path / "g.fna.gz", "--mirror", shared_data,
                  "--mirror-path", ECOLI + ".fna.gz", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    res = guarded("data", "tokenize", tmp_path / "g.fna.gz", "--out", tmp_path / "corpus",
                  "--k", 3, "--stride", 3, "--max-bases", 300000, "--region-bp", 50000, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    res = guarded("data", "ecoli-dataset", "--gbff", shared_data / (ECOLI + ".gbff.gz"),
                  "--out", tmp_path / "ecoli.tsv", "--n-test", 100, "--n-valid", 100, cwd=tmp_path)
    assert res.returncode == 0, res.stderr


def test_report_rules_run_in_the_report_env(tmp_path):
    m = tmp_path / "m.json"
    m.write_text(json.dumps({"accuracy": 0.8, "mcc": 0.6}))
    spec = {"title": "t", "metrics": ["accuracy", "mcc"],
            "rows": [{"label": "A", "metrics_files": [str(m)], "paper": {"accuracy": 0.9}}]}
    res = guarded("report", "table", "--spec", json.dumps(spec), "--csv", tmp_path / "t.csv",
                  "--md", tmp_path / "t.md", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    res = guarded("report", "plot", "vs-paper", tmp_path / "t.csv", "--metrics", "accuracy,mcc",
                  "--out", tmp_path / "f.png", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "f.png").stat().st_size > 1000


def test_training_rules_run_in_the_train_env(tmp_path):
    """pretrain, classify (from the LM) and evaluate with only envs/train.yaml's packages."""
    from genomic_ulmfit.corpus import build_corpus
    from genomic_ulmfit.kmers import KmerTokenizer
    from test_training import motif_dataset, planted_genome

    genome = planted_genome(6_000)
    (tmp_path / "g.fa").write_text(">g\n" + genome + "\n")
    build_corpus([tmp_path / "g.fa"], tmp_path / "corpus", KmerTokenizer(3, 3), region_bp=10_000)
    motif_dataset(n=120).to_csv(tmp_path / "d.tsv", sep="\t", index=False)
    common = ["--device", "cpu", "--threads", "1"]
    lm = json.dumps({"preset": "tiny", "cycles": [{"epochs": 1, "lr": 0.005}]})
    clf = json.dumps({"preset": "tiny", "stages": [{"layers": "head", "epochs": 1, "lr": 0.01}]})
    steps = [["pretrain", "--corpus", "corpus", "--out", "lm.pth", "--settings", lm, *common],
             ["classify", "--dataset", "d.tsv", "--out", "clf.pth", "--encoder", "lm.pth",
              "--settings", clf, *common],
             ["evaluate", "--model", "clf.pth", "--dataset", "d.tsv", "--split", "test",
              "--positive", "promoter", "--predictions", "p.csv", "--metrics", "m.json",
              "--device", "cpu"]]
    for args in steps:
        res = guarded("train", *args, cwd=tmp_path)
        assert res.returncode == 0, (args[0], res.stderr[-2000:])
    assert (tmp_path / "m.json").exists()
