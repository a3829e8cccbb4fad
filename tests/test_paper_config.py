"""config/paper.yaml: the whole paper's DAG resolves offline (a dry run downloads nothing),
with the experiment count of the published tables and general LMs shared where the paper
shares them; the training-size curve figure and the table rows it relies on."""
from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from collections import Counter

import pandas as pd
import pytest
import yaml

from genomic_ulmfit.config import ConfigError, load_sources, validate_config
from workflow_run import REPO, planned_jobs, snakemake, write_config

PAPER = REPO / "config" / "paper.yaml"
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
LM = "results/models/lm/{}/k{}s{}/paper/seed0/lm.pth"


def dry_run_jobs(out: str) -> list[dict]:
    """Each planned job of a dry run as {"rule", "input": [...], "output": [...]}."""
    jobs = []
    for block in re.split(r"\n(?=rule \w+:)", out):
        m = re.match(r"rule (\w+):", block)
        if not m:
            continue
        job = {"rule": m.group(1)}
        for key in ("input", "output"):
            found = re.search(rf"^\s+{key}: (.*)$", block, re.M)
            job[key] = found.group(1).split(", ") if found else []
        jobs.append(job)
    return jobs


@pytest.fixture(scope="module")
def paper_dag(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("paper")
    res = snakemake(workdir, "-n", "--cores", "2", configfile=PAPER)
    return res, dry_run_jobs(res.stdout + res.stderr)


def using(jobs: list[dict], rule: str, path: str) -> list[dict]:
    return [j for j in jobs if j["rule"] == rule and path in j["input"]]


def test_paper_dag_counts(paper_dag):
    res, _ = paper_dag
    jobs = planned_jobs(res)
    cfg = yaml.safe_load(PAPER.read_text())
    assert len(cfg["experiments"]) == 42 and cfg["seeds"] == [0, 1, 2]
    assert jobs["train_classifier"] == 41 * 3 + 1  # lncRNA: one seed
    assert jobs["evaluate"] == 41 * 3 + 2  # lncRNA: the standard and the challenge test set
    assert jobs["results_table"] == len(cfg["tables"]) == 12
    # 13 tokenizations: E. coli 5/2; bacterial ensemble 5/2, 5/1, 3/1; human genome 5/2, 5/1,
    # 3/1, 4/2, 8/3, 1/1; primate ensemble 5/2, 4/2, 3/1. 15 LMs: the E. coli genome LM per
    # seed, the whole-genome ones once (corpora lm_seed)
    assert jobs["tokenize_corpus"] == jobs["lr_find_lm"] == 13
    assert jobs["pretrain_lm"] == 3 + 12
    assert jobs["finetune_lm"] == 27 * 3 + 1  # one per fine-tuned row and seed (each its own protocol)
    # metagenomics: MetagenomicDC's published reads, labelled from their Grinder headers
    assert "metagenomics_dataset" not in jobs and jobs["labelled_table_dataset"] == 2 and jobs["tss_dataset"] == 1
    assert jobs["fasta_classes_dataset"] == 9 and jobs["train_size_curve_figure"] == 1
    # DeepSEA: one seed of the capstone's Transformer and BiLSTM models and of the ULMFiT
    # encoder of the human LM 5/2, which is the promoter tables' LM (no 16th LM)
    assert len(cfg["deepsea"]["experiments"]) == 3
    assert jobs["deepsea_convert"] == 1 and jobs["deepsea_train"] == jobs["deepsea_evaluate"] == 3
    assert jobs["deepsea_table"] == 1 and jobs["table_vs_paper_figure"] == 13


def lm_dir_of(job: dict) -> str:
    return job["output"][0].split("/lm.pth")[0]


def test_paper_dag_shares_the_general_lms(paper_dag):
    _, jobs = paper_dag
    pretrain = Counter(lm_dir_of(j) for j in jobs if j["rule"] == "pretrain_lm")
    assert max(pretrain.values()) == 1  # every general LM is trained once
    human52 = [d for d in pretrain if d.startswith("results/models/lm/human_genome/k5s2/")]
    assert len(human52) == 1  # one human-genome LM 5/2 for the short and the long tasks alike
    users = {j["output"][0].split("/")[3] for j in jobs if j["rule"] in ("finetune_lm", "train_classifier")
             and any(i.startswith(human52[0]) for i in j["input"])}
    assert users == {"human_promoters_short", "human_promoters_long"}
    deepsea = [j for j in jobs if j["rule"] == "deepsea_train" and f"{human52[0]}/lm.pth" in j["input"]]
    assert [j["output"][0].split("/")[4] for j in deepsea] == ["deepsea_ulmfit_human"]
    # one bacterial-ensemble LM 5/2 behind the baseline, every data-reduction size (no
    # fine-tuning) and the fine-tuned bacterial-promoter and metagenomics rows
    ens = [d for d in pretrain if d.startswith("results/models/lm/bacterial_ensemble/k5s2/")]
    assert len(ens) == 1 and ens[0].endswith("/seed0")
    direct = [j for j in jobs if j["rule"] == "train_classifier" and f"{ens[0]}/lm.pth" in j["input"]]
    assert {j["output"][0].split("/")[7] for j in direct} == {
        "nall", "n3000", "n1000", "n500", "n200", "n100", "n50", "n20"}
    assert len(direct) == 8 * 3  # every seed starts from the one LM
    tuned = {j["output"][0].split("/")[3] for j in jobs if j["rule"] == "finetune_lm" and f"{ens[0]}/lm.pth" in j["input"]}
    assert tuned == {"ecoli_cnn_promoters", "bsubtilis_promoters", "metagenomics_amplicon", "metagenomics_shotgun"}
    # the E. coli genome LM: its own 30-epoch protocol, one per seed
    ecoli = sorted(d for d in pretrain if d.startswith("results/models/lm/ecoli_genome/"))
    assert [d.rsplit("/", 1)[1] for d in ecoli] == ["seed0", "seed1", "seed2"]
    # the primate ensemble serves the four enhancer species; its corpora read every genome
    enh = {j["output"][0].split("/")[3] for j in jobs if j["rule"] == "finetune_lm" and "/mammal_ensemble/k3s1/" in j["output"][0]}
    assert enh == {f"enhancers_{s}" for s in ("human", "mouse", "dog", "opossum")}
    tok = {j["output"][0]: j["input"] for j in jobs if j["rule"] == "tokenize_corpus"}
    assert len(tok["results/corpora/bacterial_ensemble/k5s2"]) == 60  # the notebook's 60 genomes
    assert len(tok["results/corpora/mammal_ensemble/k3s1"]) == 4
    # lncRNA: the LM fine-tuned on the full-length set, the classifier on the 200-1000 nt one
    lnc = [j for j in jobs if j["rule"] == "train_classifier" and "/lncrna/" in j["output"][0]]
    assert len(lnc) == 1 and "/finetuned-human_genome-on-lncrna_full/" in lnc[0]["output"][0]
    assert any(i.startswith("results/models/finetuned/lncrna_full/human_genome/k3s1/") for i in lnc[0]["input"])
    evals = {j["output"][-1].rsplit("/", 1)[1] for j in jobs if j["rule"] == "evaluate" and "/lncrna/" in j["output"][0]}
    assert evals == {"test.metrics.json", "test_challenge.metrics.json"}


def test_paper_jobs_get_their_rows_protocols(tmp_path):
    """The settings each job receives are its notebook's: the E. coli genome LM's three cycles,
    the five-stage classifier at drop_mult 0.6 and batch 400, the naive row's three stages."""
    res = snakemake(tmp_path, "-n", "-p", "--cores", "2", configfile=PAPER)
    commands = [line for line in res.stdout.splitlines() if "-m genomic_ulmfit" in line]

    def settings(fragment: str) -> dict:
        line = next(c for c in commands if fragment in c)
        return json.loads(line.split("--settings '", 1)[1].split("'", 1)[0])

    lm = settings("pretrain --corpus results/corpora/ecoli_genome/k5s2")
    assert [(c["epochs"], c["lr"]) for c in lm["cycles"]] == [(10, 0.01), (10, 0.005), (10, 0.001)]
    assert lm["model"] == {"lm_drop_mult": 0.3, "lm_batch_size": 428}
    clf = settings("classify --dataset results/datasets/ecoli_promoters.tsv --out "
                   "results/models/classifier/ecoli_promoters/pretrained-ecoli_genome/")
    assert [s["layers"] for s in clf["stages"]] == ["head", "-2", "-3", "all", "all"]
    assert [s["lr"] for s in clf["stages"]] == [0.02, 0.01, 0.005, 0.001, 0.0001]
    assert clf["model"] == {"clas_drop_mult": 0.6, "clas_batch_size": 400}
    naive = settings("classify --dataset results/datasets/ecoli_promoters.tsv --out "
                     "results/models/classifier/ecoli_promoters/naive/")
    assert [(s["epochs"], s["lr"]) for s in naive["stages"]] == [(5, 0.002), (5, 0.0005), (5, 0.0001)]
    n20 = settings("/n20/seed0/model.pth")
    assert n20["model"]["clas_batch_size"] == 10 and len(n20["stages"]) == 6
    ft = settings("finetune --lm results/models/lm/human_genome/k3s1/")
    assert ft["discriminative"] is False
    # the data-reduction curve draws the paper's points beside ours
    curve = next(c for c in commands if " plot train-size-curve " in c)
    assert "--paper 'pre-trained (bacterial_ensemble)=20=0.8337'" in curve
    assert "--paper 'pre-trained (bacterial_ensemble)=all=0.9735'" in curve


def test_paper_tables_carry_the_published_numbers():
    cfg = yaml.safe_load(PAPER.read_text())
    rows = {r["label"]: r for t in cfg["tables"].values() for r in t["rows"]}
    assert rows["Genomic ensemble pre-training"]["paper"]["mcc"] == 0.9471
    assert rows["Fiannaca et al. 2018"]["paper"]["accuracy"] in (0.9137, 0.855)
    # every experiment row with a published value: paper-protocols.md's numbers
    # (tests/test_paper_protocols.py compares them one by one)
    assert rows["Genomic-ULMFiT 3/1, challenge test set"]["split"] == "test_challenge"
    published_only = [r for r in rows.values() if "experiment" not in r]
    assert published_only and all(r["paper"] for r in published_only)
    deepsea = {r["label"]: r for r in cfg["deepsea"]["tables"]["deepsea"]["rows"]}
    assert deepsea["DeepSEA (Zhou & Troyanskaya 2015)"]["paper"] == {"accuracy": 0.9821, "roc_auc": 0.9046, "pr_auc": 0.4463}
    assert deepsea["DanQ (Quang & Xie 2016)"]["paper"]["roc_auc"] == 0.9109
    assert deepsea["Capstone ResNet-1D + BiLSTM"]["paper"]["pr_auc"] == 0.4142


def test_a_row_needs_an_experiment_or_paper_values(tmp_path):
    cfg = yaml.safe_load(PAPER.read_text())
    cfg["tables"]["lncrna"]["rows"].append({"label": "nothing"})
    sources = load_sources(cfg["sources"], base=REPO)
    with pytest.raises(ConfigError, match=r"tables.lncrna.rows.4: a row without an experiment needs paper values"):
        validate_config(cfg, SCHEMA, sources)


def test_train_size_curve_figure(tmp_path):
    """The CLI's data-reduction figure: points of size 'all' take the dataset's training size."""
    dataset = tmp_path / "d.tsv"
    pd.DataFrame({"id": list("abcdefg"), "sequence": ["ACGT"] * 7, "label": ["x", "y"] * 3 + ["x"],
                  "split": ["train"] * 5 + ["valid", "test"]}).to_csv(dataset, sep="\t", index=False)
    points = []
    for series, size, accs in (("naive", 20, [0.6, 0.62]), ("pre-trained (e)", 20, [0.8, 0.82]),
                               ("naive", "all", [0.83]), ("pre-trained (e)", "all", [0.97])):
        for i, acc in enumerate(accs):
            f = tmp_path / f"{series}_{size}_{i}.json"
            f.write_text(json.dumps({"accuracy": acc}))
            points.append(f"{series}={size}={f}")
    out = tmp_path / "curve.png"
    # in the report rules' conda env (tests/env_guard.py blocks what that env lacks)
    res = subprocess.run([sys.executable, str(REPO / "tests" / "env_guard.py"), str(REPO / "envs" / "report.yaml"),
                          "--", "plot", "train-size-curve", *points, "--metrics", "accuracy",
                          "--paper", "pre-trained (e)=20=0.83", "--paper", "pre-trained (e)=all=0.97",
                          "--dataset", str(dataset), "--title", "data reduction", "--out", str(out)],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert out.stat().st_size > 5000
    from genomic_ulmfit.cli import _curve_points
    assert {size for _, size, _ in _curve_points(points, dataset)} == {20, 5}


def test_paper_sources_are_complete_and_named(tmp_path):
    cfg = yaml.safe_load(PAPER.read_text())
    sources = load_sources(cfg["sources"], base=REPO)
    used = {s for t in cfg["tasks"].values() for s in t["inputs"].values()}
    used |= {g for c in cfg["corpora"].values() for g in c["genomes"]}
    used.add(cfg["deepsea"]["source"])
    assert used <= set(sources)
    for name in used:
        src = sources[name]
        assert src["url"].startswith("https://") and src["description"], name
        assert src["sha256"] is None or re.fullmatch(r"[0-9a-f]{64}", src["sha256"]), name
    dup = tmp_path / "dup.yaml"
    dup.write_text("ecoli_genome_fna: {url: x, sha256: null, mirror_path: x}\n")
    with pytest.raises(ConfigError, match="'ecoli_genome_fna' is already defined"):
        load_sources(["resources/sources.yaml", str(dup)], base=REPO)


def test_paper_size_ecoli_gpu_run_plans_the_paper_protocols(tmp_path):
    """benchmarks/paper_ecoli_gpu.py: the E. coli rows of config/paper.yaml with the E. coli
    genome LM standing in for the ensemble; 3 seeds, one general LM per seed, nothing else."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    from paper_ecoli_gpu import ecoli_gpu_config

    cfg = ecoli_gpu_config(yaml.safe_load(PAPER.read_text()), [0, 1, 2])
    sources = load_sources(cfg["sources"], base=REPO)
    validate_config(copy.deepcopy(cfg), SCHEMA, sources)
    assert sorted(cfg["experiments"]) == sorted(
        ["ecoli_naive", "ecoli_genome_pretraining", "ecoli_genome_for_ensemble_pretraining"]
        + [f"ecoli_genome_for_ensemble_n{n}" for n in (3000, 1000, 500, 200, 100, 50, 20)])
    assert all(e.get("pretrain") in (None, "ecoli_genome") and not e.get("finetune") for e in cfg["experiments"].values())
    paper = yaml.safe_load(PAPER.read_text())
    assert cfg["experiments"]["ecoli_genome_for_ensemble_n20"]["protocol"] == ["reduction_n20"]
    assert cfg["protocols"] == paper["protocols"]
    res = snakemake(tmp_path, "-n", "--cores", "2", configfile=write_config(tmp_path / "c.yaml", cfg))
    jobs = planned_jobs(res)
    assert jobs["pretrain_lm"] == 3 and jobs["tokenize_corpus"] == 1
    assert jobs["train_classifier"] == jobs["evaluate"] == 10 * 3
    assert jobs["download"] == 2 and jobs["results_table"] == 2  # the genome and its GenBank file


def test_metagenomics_tasks_read_the_grinder_labels(tmp_path):
    """MetagenomicDC's published reads are Grinder output: the paper config's header regex takes
    the taxonomy after `description` as the label (a stand-in in Grinder's header layout)."""
    cfg = yaml.safe_load(PAPER.read_text())
    params = cfg["tasks"]["metagenomics_shotgun"]["params"]
    # the notebooks: ACGT-only reads for both; split per label for shotgun, over all for amplicon
    assert cfg["tasks"]["metagenomics_amplicon"]["params"] == {**params, "stratify": False}
    assert params["acgt_only"] is True and "stratify" not in params
    taxa = ["Bacilli Bacillales Bacillaceae Bacillus",
            "Gammaproteobacteria Enterobacterales Enterobacteriaceae Escherichia"]
    rng = __import__("random").Random(0)
    reads = tmp_path / "16S-reads.fa"
    with reads.open("w") as fh:
        for i in range(60):
            seq = "".join(rng.choice("ACGT") for _ in range(80))
            fh.write(f">{i + 1} reference=seq{i % 7} position=complement({i + 3}..{i + 82}) "
                     f'errors=41%G description="{taxa[i % 2]}"\n{seq}\n')
        fh.write(f'>61 reference=seq1 position=1..80 description="{taxa[0]}"\n{"ACGTN" * 16}\n')
    res = subprocess.run([sys.executable, "-m", "genomic_ulmfit", "labelled-table", "--table", str(reads),
                          "--format", "fasta", "--header-regex", params["header_regex"], "--acgt-only",
                          "--fractions", ",".join(map(str, params["fractions"])), "--out", str(tmp_path / "d.tsv")],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    data = pd.read_csv(tmp_path / "d.tsv", sep="\t")
    assert sorted(data["label"].unique()) == taxa and len(data) == 60  # the read with an N dropped
    assert set(data["id"].astype(str)) == {str(i + 1) for i in range(60)}  # the read numbers
    assert (data.groupby("id")["label"].first() == [taxa[(int(i) - 1) % 2] for i in
            data.groupby("id")["label"].first().index]).all()  # each read its own header's taxonomy
    assert set(data["split"]) == {"train", "valid", "test"}
