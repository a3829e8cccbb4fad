"""`interpret:` as one spec or a list of specs (one per classifier run): the DAG of dry
runs, each job with the settings of its own classifier's spec, the scan's window, and
the config errors that name the spec by its index."""
import copy
import re

import pytest
import yaml

from genomic_ulmfit.config import ConfigError, load_sources, validate_config
from workflow_run import REPO, planned_jobs, snakemake, write_config

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
FINETUNED_RUN = "results/interpret/ecoli_promoters/finetuned-ecoli_genome/k3s3/cpu/nall/seed0"
NAIVE_RUN = "results/interpret/ecoli_promoters/naive/k3s3/cpu/nall/seed0"
NAIVE_SPEC = {
    "experiment": "naive",
    "importance": {},
    "scan": {"genome": "ecoli_genome_fna", "annotation": "ecoli_genome_gbff",
             "regions": ["NC_000913.3:1-20000"], "window": 100, "step": 50},
}


@pytest.fixture
def config():
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def two_specs(cfg):
    cfg["interpret"] = [cfg["interpret"], copy.deepcopy(NAIVE_SPEC)]
    return cfg


def jobs_of(res, rule):
    """The dry run's job blocks of `rule`: {key: value} of its indented lines, plus the shell command."""
    blocks = []
    for m in re.finditer(rf"^rule {rule}:\n((?:    .*\n)*)(.*)$", res.stdout, re.M):
        fields = dict(line.strip().split(": ", 1) for line in m.group(1).splitlines() if ": " in line)
        fields["shell"] = m.group(2)
        blocks.append(fields)
    return blocks


def test_a_list_interprets_each_classifier_with_its_own_settings(tmp_path, config):
    res = snakemake(tmp_path, "-n", "-p", "--cores", "2",
                    configfile=write_config(tmp_path / "c.yaml", two_specs(config)))
    jobs = planned_jobs(res)
    assert jobs["perturbation_importance"] == 2 and jobs["scan_genome"] == 2
    assert jobs["scan_agreement"] == 2 and jobs["scan_agreement_table"] == 1
    assert jobs["motif_enrichment"] == 1 and jobs["embedding_map"] == 1  # the first spec's only
    importance = {b["output"].split("/importance")[0]: b["shell"]
                  for b in jobs_of(res, "perturbation_importance")}
    assert set(importance) == {FINETUNED_RUN, NAIVE_RUN}
    # each with its spec's settings: config.yaml's (draws 4) and the naive spec's defaults (draws 8)
    assert "--draws 4 " in importance[FINETUNED_RUN] and "--max-sequences 200" in importance[FINETUNED_RUN]
    assert "--draws 8 " in importance[NAIVE_RUN] and "--max-sequences" not in importance[NAIVE_RUN]
    scans = {b["output"].split("/scan/")[0]: b for b in jobs_of(res, "scan_genome")}
    assert set(scans) == {FINETUNED_RUN, NAIVE_RUN}
    naive, finetuned = scans[NAIVE_RUN], scans[FINETUNED_RUN]
    assert "--window 100 " in naive["shell"] and "--step 50 " in naive["shell"]
    assert "--dataset" not in naive["shell"] and "results/datasets/" not in naive["input"]
    assert "--region NC_000913.3:1-20000" in naive["shell"]
    assert "--dataset results/datasets/ecoli_promoters.tsv" in finetuned["shell"]
    assert "--window" not in finetuned["shell"] and "--step 10 " in finetuned["shell"]
    (table,) = jobs_of(res, "scan_agreement_table")
    assert sorted(table["input"].split(", ")) == [
        f"{FINETUNED_RUN}/scan/ecoli_genome_fna/agreement.json",
        f"{NAIVE_RUN}/scan/ecoli_genome_fna/agreement.json"]
    assert "'naive on ecoli_genome_fna=" in table["shell"]
    assert "'genome_pretraining_finetuning on ecoli_genome_fna=" in table["shell"]


def test_one_spec_plans_what_it_did(tmp_path):
    res = snakemake(tmp_path, "-n", "-p", "--cores", "2")  # config/config.yaml: one object
    jobs = planned_jobs(res)
    expected = {"perturbation_importance": 1, "motif_enrichment": 1, "embedding_map": 1,
                "scan_genome": 1, "scan_agreement": 1, "scan_agreement_table": 1}
    assert {r: jobs.get(r, 0) for r in [*expected, "variant_effects"]} == {**expected, "variant_effects": 0}
    (scan,) = jobs_of(res, "scan_genome")
    assert scan["output"].startswith(f"{FINETUNED_RUN}/scan/ecoli_genome_fna/scan.")
    assert "--dataset results/datasets/ecoli_promoters.tsv" in scan["shell"]
    assert "--window" not in scan["shell"]
    (table,) = jobs_of(res, "scan_agreement_table")
    assert table["input"] == f"{FINETUNED_RUN}/scan/ecoli_genome_fna/agreement.json"


def test_a_bad_experiment_names_the_spec_by_index(tmp_path, config):
    cfg = two_specs(config)
    cfg["interpret"][1]["experiment"] = "nope"
    res = snakemake(tmp_path, "-n", "--cores", "1", configfile=write_config(tmp_path / "c.yaml", cfg),
                    check=False)
    assert res.returncode != 0
    assert ("config key interpret.1.experiment: 'nope' is not an experiment; allowed: ["
            in res.stdout + res.stderr)


def test_two_specs_of_one_classifier_are_an_error(tmp_path, config):
    # the same experiment, its seed given once and once the default (the first of seeds, 0)
    config["interpret"] = [{"experiment": "naive", "importance": {}},
                           {"experiment": "naive", "seed": 0, "embedding": {}}]
    res = snakemake(tmp_path, "-n", "--cores", "1", configfile=write_config(tmp_path / "c.yaml", config),
                    check=False)
    assert res.returncode != 0
    assert ("config key interpret.1: interpret.0 interprets the same classifier (experiment 'naive', "
            "seed 0)") in res.stdout + res.stderr


def test_two_experiments_of_one_classifier_run_are_an_error(tmp_path, config):
    """Two experiment names with the same settings train one classifier run."""
    config["experiments"]["naive_again"] = copy.deepcopy(config["experiments"]["naive"])
    config["interpret"] = [{"experiment": "naive", "importance": {}},
                           {"experiment": "naive_again", "embedding": {}}]
    res = snakemake(tmp_path, "-n", "--cores", "1", configfile=write_config(tmp_path / "c.yaml", config),
                    check=False)
    assert res.returncode != 0
    assert ("config key interpret.1: interpret.0 interprets the same classifier run "
            "ecoli_promoters/naive/k3s3/cpu/nall/seed0") in res.stdout + res.stderr


# -- validation alone (no Snakemake) ---------------------------------------------------------------

@pytest.fixture
def sources():
    return load_sources(REPO / "resources" / "sources.yaml")


def test_defaults_are_filled_in_one_spec_and_in_a_list(config, sources):
    one = validate_config(copy.deepcopy(config), SCHEMA, sources)["interpret"]
    assert one["scan"]["window"] is None and one["batch_size"] == 256 and one["seed"] is None
    assert one["importance"]["split"] == "test" and one["motifs"]["fdr"] == 0.05
    first, naive = validate_config(two_specs(config), SCHEMA, sources)["interpret"]
    assert first == one
    assert naive["scan"]["window"] == 100 and naive["scan"]["threshold"] == 0.9
    assert naive["importance"] == {"split": "test", "max_sequences": None, "window": 10, "step": 5,
                                   "draws": 8, "n_examples": 6, "anchor": None, "seed": 0}
    assert naive["batch_size"] == 256 and "motifs" not in naive


def test_schema_errors_in_a_list_name_the_spec_by_index(config, sources):
    cfg = two_specs(config)
    cfg["interpret"][1]["scan"]["window"] = 0
    cfg["interpret"][1]["importance"]["windw"] = 5
    with pytest.raises(ConfigError) as err:
        validate_config(cfg, SCHEMA, sources)
    assert "config key interpret.1.scan.window: 0 is less than the minimum of 1" in str(err.value)
    assert "config key interpret.1.importance: unknown key(s) ['windw']" in str(err.value)
    config["interpret"] = []
    with pytest.raises(ConfigError, match=r"config key interpret: \[\] should be non-empty"):
        validate_config(config, SCHEMA, sources)


def test_schema_errors_in_one_spec_keep_their_key(config, sources):
    config["interpret"]["scan"]["step"] = 0
    with pytest.raises(ConfigError,
                       match=r"config key interpret\.scan\.step: 0 is less than the minimum of 1"):
        validate_config(config, SCHEMA, sources)
    config["interpret"] = "genome_pretraining_finetuning"
    with pytest.raises(ConfigError,
                       match=r"config key interpret: 'genome_pretraining_finetuning' is not of type"):
        validate_config(config, SCHEMA, sources)
