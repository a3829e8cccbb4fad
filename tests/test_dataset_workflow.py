"""The dataset builders' rules in the workflow: the DAG of a config with a tss_windows
task on a model organism and a fasta_classes task on CNNPromoterData, a real run of
the TSS builder from the HTTP mirror, and a user's own table from a file:// source."""
import hashlib
import json
from pathlib import Path

import pandas as pd
import yaml

from genomic_ulmfit.data import read_dataset
from test_workflow import REPO, planned_jobs, snakemake, write_config


def _config(tasks: dict, experiments: dict, **extra) -> dict:
    cfg = yaml.safe_load((REPO / "config" / "test.yaml").read_text())
    cfg.update(tasks=tasks, experiments=experiments, tables={}, corpora={}, **extra)
    cfg.pop("interpret", None)  # it interprets one of test.yaml's own experiments
    cfg["training"]["lr_find"] = False
    return cfg


CELEGANS_TSS = {"builder": "tss_windows", "inputs": {"genome": "celegans_fa", "annotation": "celegans_gff"},
                "params": {"feature_type": "mRNA", "upstream": 200, "downstream": 50,
                           "negatives": "between_tss", "seed": 3}, "positive": "promoter"}
CNN_ECOLI = {"builder": "fasta_classes", "inputs": {"prom": "cnn_ecoli_prom", "non_prom": "cnn_ecoli_non_prom"},
             "params": {"classes": {"promoter": ["prom"], "non_promoter": ["non_prom"]}, "homology_split": True},
             "positive": "promoter"}


def test_dag_with_tss_and_fasta_class_tasks(tmp_path):
    cfg = _config({"celegans_tss": CELEGANS_TSS, "cnn_ecoli": CNN_ECOLI},
                  {"tss": {"task": "celegans_tss", "k": 3, "stride": 1},
                   "cnn": {"task": "cnn_ecoli", "k": 3, "stride": 1}})
    res = snakemake(tmp_path, "-n", "-p", "--cores", "2", configfile=write_config(tmp_path / "c.yaml", cfg))
    jobs = planned_jobs(res)
    assert jobs["tss_dataset"] == 1 and jobs["fasta_classes_dataset"] == 1 and jobs["genome_fasta"] == 1
    assert jobs["dataset_leakage"] == 2 and jobs["leakage_table"] == 1 and jobs["download"] == 4
    assert "ecoli_dataset" not in jobs
    assert "--homology-split" in res.stdout and "--negatives between_tss" in res.stdout


def test_unknown_class_role_stops_with_the_key(tmp_path):
    task = json.loads(json.dumps(CNN_ECOLI))
    task["params"]["classes"]["promoter"] = ["promoters"]
    cfg = _config({"cnn_ecoli": task}, {"cnn": {"task": "cnn_ecoli", "k": 3, "stride": 1}})
    res = snakemake(tmp_path, "-n", "--cores", "1", configfile=write_config(tmp_path / "c.yaml", cfg), check=False)
    assert res.returncode != 0
    assert "tasks.cnn_ecoli.params.classes.promoter: 'promoters' is not an input role" in res.stdout + res.stderr


def test_tss_rule_runs_from_the_http_mirror(shared_data_http, tmp_path):
    cfg = _config({"celegans_tss": CELEGANS_TSS}, {"tss": {"task": "celegans_tss", "k": 3, "stride": 1}},
                  mirror=shared_data_http)
    snakemake(tmp_path, "--cores", "2", "results/datasets/celegans_tss.leakage.json",
              configfile=write_config(tmp_path / "c.yaml", cfg))
    df = read_dataset(tmp_path / "results" / "datasets" / "celegans_tss.tsv")
    assert (df["sequence"].str.len() == 250).all()
    counts = df["label"].value_counts()
    assert counts["promoter"] == counts["non_promoter"] > 200
    summary = json.loads((tmp_path / "results" / "datasets" / "celegans_tss.summary.json").read_text())
    assert summary["negatives"]["sampler"] == "between_tss" and summary["window"] == {"upstream": 200, "downstream": 50}
    leakage = json.loads((tmp_path / "results" / "datasets" / "celegans_tss.leakage.json").read_text())
    assert set(leakage["splits"]) == {"valid", "test"} and leakage["splits"]["test"]["n"] == (df["split"] == "test").sum()
    assert (tmp_path / "results" / "genomes" / "celegans_fa.fa.fai").is_file()


def test_own_labelled_table_from_a_file_url(shared_data, tmp_path):
    """Your own data: a TSV listed in your own sources file by a file:// URL, no mirror."""
    records = pd.concat([
        pd.DataFrame({"sequence": [s for _, s in _fasta(shared_data / "cnnpromoterdata" / name)][:150], "label": label})
        for name, label in (("Ecoli_prom.fa", "promoter"), ("Ecoli_non_prom.fa", "other"))])
    table = tmp_path / "mine.tsv"
    records.to_csv(table, sep="\t", index=False)
    sources = tmp_path / "my_sources.yaml"
    sources.write_text(yaml.safe_dump({"my_table": {
        "url": table.as_uri(), "sha256": hashlib.sha256(table.read_bytes()).hexdigest(), "mirror_path": "mine.tsv"}}))
    task = {"builder": "labelled_table", "inputs": {"table": "my_table"}, "params": {"seed": 1}, "positive": "promoter"}
    cfg = _config({"mine": task}, {"naive": {"task": "mine", "k": 3, "stride": 1}}, sources=str(sources))
    snakemake(tmp_path, "--cores", "2", "results/datasets/leakage.csv",
              configfile=write_config(tmp_path / "c.yaml", cfg))
    df = read_dataset(tmp_path / "results" / "datasets" / "mine.tsv")
    assert len(df) == 300 and set(df["split"]) == {"train", "valid", "test"}
    leakage = pd.read_csv(tmp_path / "results" / "datasets" / "leakage.csv")
    assert leakage["task"].tolist() == ["mine", "mine"] and leakage["split"].tolist() == ["test", "valid"]


def _fasta(path: Path):
    from genomic_ulmfit.fasta import read_fasta
    return read_fasta(path)
