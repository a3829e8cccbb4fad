"""The Snakemake workflow: the DAG (dry runs) and, on the real E. coli data
served over 127.0.0.1, the whole test config end to end."""
import json
import re
import sys

import pandas as pd
import pytest
import yaml

from workflow_run import REPO, planned_jobs, snakemake, write_config  # noqa: F401 (re-exported)


def test_default_dag_shares_the_general_lm(tmp_path):
    jobs = planned_jobs(snakemake(tmp_path, "-n", "--cores", "2"))
    assert jobs["pretrain_lm"] == 1  # five pre-trained experiments, one general LM
    # the fine-tuned LM is shared by the label-efficiency sizes (500, 1000, 2000 and all)
    assert jobs["tokenize_corpus"] == 1 and jobs["finetune_lm"] == 1
    assert jobs["train_classifier"] == 9 and jobs["evaluate"] == 9
    assert jobs["results_table"] == 2 and jobs["train_size_curve_figure"] == 1
    # genome FASTA, GenBank file, and JASPAR for the interpretation
    assert jobs["download"] == 3 and jobs["ecoli_dataset"] == 1
    interpret = {"perturbation_importance", "motif_enrichment", "embedding_map", "scan_genome",
                 "scan_agreement", "scan_agreement_table"}
    assert all(jobs[r] == 1 for r in interpret), jobs


INTERPRET_RULES = {"perturbation_importance", "motif_enrichment", "embedding_map", "scan_genome",
                   "scan_agreement", "scan_agreement_table", "variant_effects"}


def test_without_interpret_the_dag_is_unchanged(tmp_path):
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    del cfg["interpret"]
    jobs = planned_jobs(snakemake(tmp_path, "-n", "--cores", "2",
                                  configfile=write_config(tmp_path / "c.yaml", cfg)))
    assert not INTERPRET_RULES & set(jobs) and "genome_fasta" not in jobs
    assert jobs["download"] == 2 and jobs["train_classifier"] == 9


def test_variant_effects_run_when_a_vcf_is_configured(tmp_path):
    vcf = tmp_path / "mine.vcf"
    vcf.write_text("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
    sources = write_config(tmp_path / "mine.yaml", {"my_vcf": {
        "url": str(vcf), "sha256": None, "mirror_path": "mine.vcf"}})
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    cfg["sources"] = ["resources/sources.yaml", str(sources)]
    cfg["interpret"] = {"experiment": "naive", "variants": {"vcf": "my_vcf", "genome": "ecoli_genome_fna"}}
    res = snakemake(tmp_path, "-n", "-p", "--cores", "2", configfile=write_config(tmp_path / "c.yaml", cfg))
    jobs = planned_jobs(res)
    assert jobs["variant_effects"] == 1 and not (INTERPRET_RULES - {"variant_effects"}) & set(jobs)
    assert "results/interpret/ecoli_promoters/naive/k3s3/cpu/nall/seed0/variants/ecoli_genome_fna/my_vcf.vcf" in res.stdout
    cfg["interpret"]["variants"]["vcf"] = "nope"
    res = snakemake(tmp_path, "-n", "--cores", "2", configfile=write_config(tmp_path / "d.yaml", cfg), check=False)
    assert res.returncode != 0 and "interpret.variants.vcf: unknown source 'nope'" in res.stdout + res.stderr


def protocol_config(base: dict) -> dict:
    """`base` with an LM protocol on the corpus and a five-stage classifier on one experiment."""
    cfg = {**base, "protocols": {
        "long_lm": {"pretrain": {"cycles": [{"epochs": 1, "lr": 0.01}, {"epochs": 1, "lr": 0.005}]}},
        "five": {"classifier": {"drop_mult": 0.6, "stages": [
            {"layers": "head", "epochs": 1, "lr": 0.02}, {"layers": "-2", "epochs": 1, "lr": 0.01},
            {"layers": "-3", "epochs": 1, "lr": 0.005}, {"layers": "all", "epochs": 1, "lr": 0.001},
            {"layers": "all", "epochs": 1, "lr": 0.0001}]}}}}
    cfg["corpora"] = {name: dict(c, protocol="long_lm") for name, c in base["corpora"].items()}
    cfg["experiments"] = dict(base["experiments"],
                              genome_pretraining=dict(base["experiments"]["genome_pretraining"], protocol="five"))
    return cfg


def test_experiments_with_one_lm_protocol_share_one_lm_job(tmp_path):
    cfg = protocol_config(yaml.safe_load((REPO / "config" / "config.yaml").read_text()))
    res = snakemake(tmp_path, "-n", "-p", "--cores", "2", configfile=write_config(tmp_path / "c.yaml", cfg))
    jobs = planned_jobs(res)
    assert jobs["pretrain_lm"] == 1 and jobs["finetune_lm"] == 1 and jobs["train_classifier"] == 9
    pretrain = [line for line in res.stdout.splitlines() if " pretrain --corpus" in line]
    assert len(pretrain) == 1 and '"cycles": [{"epochs": 1, "lr": 0.01}, {"epochs": 1, "lr": 0.005}]' in pretrain[0]
    assert "results/models/lm/ecoli_genome/k3s3/cpu-p" in pretrain[0]  # the tag names the protocol
    five = [line for line in res.stdout.splitlines() if " classify " in line and '"layers": "head"' in line]
    assert len(five) == 1 and "/pretrained-ecoli_genome/k3s3/cpu-p" in five[0] and "-c" in five[0]
    assert '"clas_drop_mult": 0.6' in five[0]


def test_seeds_multiply_runs_not_data(tmp_path):
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    cfg["seeds"] = [0, 1, 2]
    jobs = planned_jobs(snakemake(tmp_path, "-n", "--cores", "2",
                                  configfile=write_config(tmp_path / "c.yaml", cfg)))
    assert jobs["pretrain_lm"] == 3 and jobs["train_classifier"] == 27
    assert jobs["tokenize_corpus"] == 1 and jobs["ecoli_dataset"] == 1


def test_bad_config_stops_with_the_key(tmp_path):
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    cfg["model"]["preset"] = "large"
    res = snakemake(tmp_path, "-n", "--cores", "1", configfile=write_config(tmp_path / "c.yaml", cfg),
                    check=False)
    assert res.returncode != 0
    assert "model.preset: 'large' is not allowed; allowed values: ['paper', 'cpu', 'tiny']" in res.stdout + res.stderr


def test_rules_run_snakemakes_interpreter_without_conda(tmp_path):
    """A bare `python` on PATH may lack the deps (CI's did); rules must not rely on it."""
    res = snakemake(tmp_path, "-n", "-p", "--cores", "2")
    commands = [line for line in res.stdout.splitlines() if "-m genomic_ulmfit" in line]
    assert commands
    interpreters = {line.split("-m genomic_ulmfit")[0].split()[-1] for line in commands}
    assert interpreters == {sys.executable}


def test_training_rules_declare_the_gpu_resource():
    for name in ("finetune", "classify", "evaluate"):
        text = (REPO / "workflow" / "rules" / f"{name}.smk").read_text()
        assert re.search(r"resources:\s*\n\s*gpu=1", text), name
    text = (REPO / "workflow" / "rules" / "pretrain.smk").read_text()
    assert re.search(r"resources:\s*\n\s*gpu=PRETRAIN_GPUS", text)


def test_multi_gpu_pretraining_runs_under_torchrun(tmp_path):
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    cfg["pretrain_gpus"] = 4
    res = snakemake(tmp_path, "-n", "-p", "--cores", "8", "--resources", "gpu=4",
                    configfile=write_config(tmp_path / "c.yaml", cfg))
    pretrain = [line for line in res.stdout.splitlines() if " pretrain --corpus" in line]
    assert len(pretrain) == 1
    assert "-m torch.distributed.run --standalone --nproc-per-node 4 -m genomic_ulmfit pretrain" in pretrain[0]
    # the other training rules stay on one GPU, one process
    assert all("torch.distributed.run" not in line for line in res.stdout.splitlines()
               if " finetune --lm" in line or " classify --dataset" in line)
    block = res.stdout.split("rule pretrain_lm:", 1)[1].split("\n\n", 1)[0]
    assert re.search(r"gpu=4\b", block), block


@pytest.mark.slow
def test_e2e_tables_and_figures(e2e):
    workdir, _, cfg, _ = e2e
    table = pd.read_csv(workdir / "results" / "tables" / "ecoli_baseline.csv")
    assert list(table["label"]) == ["Naive", "Genome pre-training", "Genome pre-training + LM fine-tuning"]
    assert (table["n_seeds"] == 2).all()
    for m in ("accuracy", "precision", "recall", "mcc"):
        assert table[f"{m}_mean"].between(-1, 1).all() and table[f"{m}_sd"].notna().all()
    assert table.loc[1, "accuracy_paper"] == pytest.approx(0.919)  # the paper's genome row: no LM fine-tuning
    # the pretrained classifiers learn (chance is 0.5 on the balanced test split)
    assert (table["accuracy_mean"].iloc[1:] > 0.65).all(), table
    md = (workdir / "results" / "tables" / "ecoli_baseline.md").read_text()
    assert "±" in md and "0.919" in md
    for fig in ("ecoli_baseline_vs_paper", "ecoli_baseline_roc_pr", "ecoli_baseline_confusion", "lm_vs_prior"):
        assert (workdir / "results" / "figures" / f"{fig}.png").stat().st_size > 5000
    metrics = json.loads(next((workdir / "results" / "evaluation").rglob("test.metrics.json")).read_text())
    assert metrics["n"] == cfg["tasks"]["ecoli_promoters"]["params"]["n_test"]
    lm = next((workdir / "results" / "models" / "lm").rglob("summary.json"))
    assert json.loads(lm.read_text())["stride_prior_loss"] == pytest.approx(3 * 0.6931471805599453 * 2)


def _track_rows(path, sizes):
    lines = path.read_text().splitlines()
    assert lines[0].startswith("track ")
    rows = [line.split("\t") for line in lines[1:]]
    keys = [(r[0], int(r[1])) for r in rows]
    assert keys == sorted(keys), f"{path.name} is not sorted"
    assert all(0 <= int(r[1]) < int(r[2]) <= sizes[r[0]] for r in rows), path.name
    import subprocess
    res = subprocess.run(["bedtools", "merge", "-i", str(path), "-d", "-1"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return rows


@pytest.mark.slow
def test_e2e_interpretation(e2e):
    workdir, _, cfg, _ = e2e
    d = next((workdir / "results" / "interpret").rglob("importance.profile.tsv")).parent
    assert d.relative_to(workdir).as_posix() == \
        "results/interpret/ecoli_promoters/finetuned-ecoli_genome/k3s3/tiny/n800/seed0"
    data = pd.read_csv(workdir / "results" / "datasets" / "ecoli_promoters.tsv", sep="\t")
    positives = ((data["split"] == "test") & (data["label"] == "promoter")).sum()
    profile = pd.read_csv(d / "importance.profile.tsv", sep="\t")
    # -100/+50 around each CDS start; every test promoter at every position
    assert profile["relative_position"].tolist() == list(range(-100, 50))
    assert (profile["n"] == positives).all()
    windows = pd.read_csv(d / "importance.windows.tsv", sep="\t")
    assert windows.groupby("id").size().eq(15).all()  # 150 bp, 10 bp windows every 10 bp
    for fig in ("importance_examples", "importance_profile", "embedding"):
        assert (d / f"{fig}.png").stat().st_size > 10_000, fig
    motifs = pd.read_csv(d / "motifs.tsv", sep="\t")
    assert len(motifs) == 2346 and (motifs["q_value"] >= motifs["p_value"] - 1e-12).all()
    assert motifs["segments"].iloc[0] == (windows.groupby("id")["drop"].max() > 0).sum()
    assert motifs["shuffled"].iloc[0] == 3 * motifs["segments"].iloc[0]
    md = (d / "motifs.md").read_text().splitlines()
    assert sum(line.startswith("| MA") for line in md) == 25  # the top 25 motifs
    emb = pd.read_csv(d / "embedding.tsv", sep="\t")
    assert len(emb) == 64 and set(emb["element"]) == {"other", "-10 box (TATAAT)", "-35 box (TTGACA)"}


@pytest.mark.slow
def test_e2e_genome_scan(e2e):
    workdir = e2e[0]
    scan = next((workdir / "results" / "interpret").rglob("scan.summary.json")).parent
    sizes = {"NC_000913.3": 4641652}
    summary = json.loads((scan / "scan.summary.json").read_text())
    assert summary["window"] == 150 and summary["windows"] == 2 * ((40_000 - 150) // 20 + 1)
    graph = _track_rows(scan / "scan.bedgraph", sizes)
    assert len(graph) == (40_000 - 150) // 20 + 1 and int(graph[-1][2]) <= 40_000
    assert all(0 <= float(r[3]) <= 1 for r in graph)
    for strand in ("plus", "minus"):
        assert len(_track_rows(scan / f"scan.{strand}.bedgraph", sizes)) == len(graph)
    import pyBigWig  # the genome-scale track: the bedGraph's intervals, the genome's chromosomes
    bw = pyBigWig.open(str(scan / "scan.bw"))
    assert bw.chroms() == sizes and len(bw.intervals("NC_000913.3")) == len(graph)
    bw.close()
    called = _track_rows(scan / "scan.called.bed", sizes)
    assert len(called) == summary["called_regions"] and all(r[5] in "+-" for r in called)
    starts = [r for r in _track_rows(scan / "cds_starts.bed", sizes) if int(r[1]) < 40_000]
    agreement = json.loads((scan / "agreement.json").read_text())
    assert agreement["annotated_starts"] == len(starts) > 20
    assert agreement["called_regions"] == len(called)
    if called:  # the tiny test model may call nothing at all; then there is no ratio
        assert len(agreement["random_fractions"]) == 3 and agreement["ratio"] is not None
    assert (scan / "scan_region.png").stat().st_size > 20_000
    table = pd.read_csv(workdir / "results" / "interpret" / "scan_agreement.csv")
    assert len(table) == 1 and table["observed_fraction"].iloc[0] == pytest.approx(agreement["observed_fraction"], abs=1e-4)  # table: 4 decimals


@pytest.mark.slow
def test_e2e_logs_are_readable(e2e):
    workdir = e2e[0]
    log = next((workdir / "logs" / "classify").rglob("*.log")).read_text()
    assert "[head] epoch=0 train_loss=" in log and "\r" not in log
    assert (workdir / "logs" / "download").exists()


@pytest.mark.slow
def test_e2e_second_run_does_nothing(e2e):
    workdir, configfile, _, _ = e2e
    res = snakemake(workdir, "-n", "--cores", "2", configfile=configfile)
    assert planned_jobs(res) == {}


@pytest.mark.slow
def test_e2e_classifier_change_reruns_only_downstream(e2e, tmp_path):
    workdir, _, cfg, _ = e2e
    cfg = dict(cfg, training=dict(cfg["training"], classifier=dict(
        cfg["training"]["classifier"], stage_lrs=[0.03, 0.01, 0.005, 0.002])))
    res = snakemake(workdir, "-n", "--cores", "2", configfile=write_config(tmp_path / "c.yaml", cfg))
    jobs = planned_jobs(res)
    assert jobs["train_classifier"] == 4  # pretrained and fine-tuned, 2 seeds; not the naive ones
    upstream = {"download", "ecoli_dataset", "tokenize_corpus", "pretrain_lm", "finetune_lm", "lr_find_lm"}
    assert not upstream & set(jobs), jobs


@pytest.mark.slow
def test_e2e_one_experiments_protocol_reruns_only_its_classifier(e2e, tmp_path):
    """A protocol on one experiment's classifier: that classifier (both seeds) and what reads
    it run, under a new tag; the shared LM, the other classifiers and the data do not."""
    workdir, _, cfg, _ = e2e
    cfg = dict(cfg, protocols={"five": {"classifier": {"stages": [
        {"layers": "head", "epochs": 1, "lr": 0.02}, {"layers": "-2", "epochs": 1, "lr": 0.01},
        {"layers": "-3", "epochs": 1, "lr": 0.005}, {"layers": "all", "epochs": 1, "lr": 0.002},
        {"layers": "all", "epochs": 1, "lr": 0.0002}]}}})
    cfg["experiments"] = dict(cfg["experiments"], genome_pretraining=dict(
        cfg["experiments"]["genome_pretraining"], protocol="five"))
    res = snakemake(workdir, "-n", "--cores", "2", configfile=write_config(tmp_path / "p.yaml", cfg))
    jobs = planned_jobs(res)
    assert jobs["train_classifier"] == 2 and jobs["evaluate"] == 2, jobs
    upstream = {"download", "ecoli_dataset", "tokenize_corpus", "pretrain_lm", "finetune_lm", "lr_find_lm"}
    assert not upstream & set(jobs), jobs
    blocks = [b for b in res.stdout.split("\n\n") if "rule train_classifier:" in b]
    assert all("init=pretrained-ecoli_genome" in b and "tag=tiny-c" in b for b in blocks)


@pytest.mark.slow
def test_e2e_model_settings_rerun_only_the_models_that_read_them(e2e, tmp_path):
    workdir, _, cfg, _ = e2e
    lm_jobs = {"pretrain_lm", "finetune_lm", "lr_find_lm"}
    overrides = cfg["model"].get("overrides", {})
    clas = dict(cfg, model=dict(cfg["model"], overrides=dict(overrides, clas_batch_size=16)))
    jobs = planned_jobs(snakemake(workdir, "-n", "--cores", "2",
                                  configfile=write_config(tmp_path / "clas.yaml", clas)))
    assert jobs["train_classifier"] == 6 and not lm_jobs & set(jobs), jobs  # every classifier, no LM
    lm = dict(cfg, model=dict(cfg["model"], overrides=dict(overrides, lm_drop_mult=0.5)))
    res = snakemake(workdir, "-n", "-p", "--cores", "2", configfile=write_config(tmp_path / "lm.yaml", lm))
    jobs = planned_jobs(res)
    assert jobs["pretrain_lm"] == 2 and jobs["finetune_lm"] == 2, jobs
    blocks = [b for b in res.stdout.split("\n\n") if "rule train_classifier:" in b]
    assert len(blocks) == 4 and not any("init=naive" in b for b in blocks)  # not the naive ones


@pytest.mark.slow
def test_e2e_html_report(e2e):
    workdir, configfile, _, _ = e2e
    snakemake(workdir, "--report", "report.html", configfile=configfile)
    html = (workdir / "report.html").read_text(errors="replace")
    assert len(html) > 100_000 and "ecoli_baseline" in html


def test_a_configfile_replaces_the_default_config_from_the_repository(tmp_path):
    """Run from the repository itself (config/config.yaml present): --configfile with only a
    deepsea section plans DeepSEA alone, not the default config's E. coli experiments too."""
    import subprocess
    # --forceall: the plan whatever outputs a clone already has
    cmd = [sys.executable, "-m", "snakemake", "-n", "--forceall", "--nolock", "--cores", "2",
           "--configfile", "config/deepsea_cpu.yaml"]
    res = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    jobs = planned_jobs(res)
    assert jobs["deepsea_train"] == 2 and "train_classifier" not in jobs and "scan_genome" not in jobs, jobs
    res = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--forceall", "--nolock", "--cores", "2"],
                         cwd=REPO, capture_output=True, text=True, timeout=300)
    assert planned_jobs(res)["train_classifier"] == 9  # without --configfile: the default
