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

from env_guard import IMPORT_NAMES, env_packages

REPO = Path(__file__).resolve().parents[1]
ENVS = sorted((REPO / "envs").glob("*.yaml"))
CONDA_TO_PIP = {"pytorch": "torch"}
NOT_ON_PYPI = {"python", "bedtools", "blast"}


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
    for env in ENVS:
        for dep in yaml.safe_load(env.read_text())["dependencies"]:
            name, version = dep.split("=")
            if name in NOT_ON_PYPI:
                continue
            pip_name = CONDA_TO_PIP.get(name, name)
            assert pip_name in pip_pins, f"{env.name}: {name} is not a dependency in pyproject.toml"
            assert pip_pins[pip_name] == version, f"{env.name}: {name}={version}, pyproject {pip_pins[pip_name]}"


def test_rules_only_get_what_they_need():
    assert "pytorch" not in env_packages(REPO / "envs" / "data.yaml")
    assert "fastai" not in env_packages(REPO / "envs" / "report.yaml")
    assert {"bedtools", "blast"} <= env_packages(REPO / "envs" / "data.yaml")
    assert set(IMPORT_NAMES) >= env_packages(REPO / "envs" / "train.yaml") - NOT_ON_PYPI


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
