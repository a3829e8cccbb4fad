# Shared setup: config validation, output paths, input functions.
import json
import re
import os
import shlex
import sys
from pathlib import Path
from urllib.parse import urlparse

REPO = Path(workflow.basedir).parent
SRC = REPO / "src"
# Rules run `python -m genomic_ulmfit` from the checkout, in the venv or in a
# rule's conda env alike.
sys.path.insert(0, str(SRC))
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")]))

from snakemake.settings.types import DeploymentMethod  # noqa: E402

from genomic_ulmfit.config import load_sources, validate_config  # noqa: E402

SOURCES = load_sources(config["sources"], base=REPO)  # one file or a list
validate_config(config, Path(workflow.basedir) / "schemas" / "config.schema.yaml", SOURCES)

# Without --use-conda, rules run the interpreter that runs Snakemake (the
# project's venv), not whatever `python` comes first on PATH.
USE_CONDA = DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method
PY = f"{'python' if USE_CONDA else shlex.quote(sys.executable)} -m genomic_ulmfit"
PRESET = config["model"]["preset"]
# Data-parallel pretraining: torchrun starts one process per GPU on the job's node.
PRETRAIN_GPUS = config["pretrain_gpus"]
PY_PRETRAIN = PY if PRETRAIN_GPUS == 1 else (
    f"{'python' if USE_CONDA else shlex.quote(sys.executable)} -m torch.distributed.run "
    f"--standalone --nproc-per-node {PRETRAIN_GPUS} -m genomic_ulmfit")
# ModelConfig's fields say who reads them: lm_* only the LMs, clas_* and head_* only the
# classifiers, the rest both. Each rule gets the overrides it reads, so changing one reruns
# only the models that read it.
READ_BY_OTHERS = {"lm": ("clas_", "head_"), "classifier": ("lm_",)}


def model_json(reader):
    overrides = {k: v for k, v in config["model"].get("overrides", {}).items()
                 if not k.startswith(READ_BY_OTHERS[reader])}
    return shlex.quote(json.dumps(overrides, sort_keys=True))


LM_MODEL_JSON = model_json("lm")
CLASSIFIER_MODEL_JSON = model_json("classifier")
DEVICE_ARGS = f"--device {config['device']}"
EXPERIMENTS = config["experiments"]
SEEDS = config["seeds"]

wildcard_constraints:
    k=r"\d+",
    stride=r"\d+",
    seed=r"\d+",
    preset=r"[A-Za-z0-9_]+",
    size=r"all|\d+",
    task=r"[A-Za-z0-9_]+",
    corpus=r"[A-Za-z0-9_]+",
    init=r"naive|(pretrained|finetuned)-[A-Za-z0-9_]+",


# -- paths (every parameter that defines an intermediate is in its path) ------------------------

def download_path(source):
    return f"resources/downloads/{source}/{Path(urlparse(SOURCES[source]['url']).path).name}"


def dataset_path(task):
    return f"results/datasets/{task}.tsv"


def corpus_dir(corpus, k, stride):
    return f"results/corpora/{corpus}/k{k}s{stride}"


def lm_dir(corpus, k, stride, seed):
    return f"results/models/lm/{corpus}/k{k}s{stride}/{PRESET}/seed{seed}"


def finetuned_dir(task, corpus, k, stride, seed):
    return f"results/models/finetuned/{task}/{corpus}/k{k}s{stride}/{PRESET}/seed{seed}"


def init_of(exp):
    """naive, pretrained-<corpus> or finetuned-<corpus>."""
    if not exp.get("pretrain"):
        return "naive"
    return f"{'finetuned' if exp.get('finetune') else 'pretrained'}-{exp['pretrain']}"


def run_id(name, seed):
    exp = EXPERIMENTS[name]
    size = exp.get("train_size") or "all"
    return f"{exp['task']}/{init_of(exp)}/k{exp['k']}s{exp['stride']}/{PRESET}/n{size}/seed{seed}"


def metrics_path(name, seed, split="test"):
    """`split`: the test split (test, or a named one such as test_challenge)."""
    return f"results/evaluation/{run_id(name, seed)}/{split}.metrics.json"


def predictions_path(name, seed, split="test"):
    return f"results/evaluation/{run_id(name, seed)}/{split}.predictions.csv"


def is_binary_table(table):
    """Whether the table's experiments classify two classes (a task with a `positive`)."""
    rows = [r for r in config["tables"][table]["rows"] if r.get("experiment")]
    return bool(rows) and bool(config["tasks"][EXPERIMENTS[rows[0]["experiment"]]["task"]].get("positive"))


def classifier_dir(name, seed):
    return f"results/models/classifier/{run_id(name, seed)}"


def general_lms():
    """(corpus, k, stride) of every general LM the experiments use, once each."""
    return sorted({(e["pretrain"], e["k"], e["stride"]) for e in EXPERIMENTS.values()
                   if e.get("pretrain")})


# -- command-line fragments ----------------------------------------------------------------

def cycle_args(stage):
    c = config["training"][stage]
    return f"--epochs {c['epochs']} --lr {c['lr']}"


def stage_args(kind):
    c = config["training"][kind]
    drop = f" --drop-mult {c['drop_mult']}" if c.get("drop_mult") is not None else ""
    return (f"--stage-epochs {','.join(map(str, c['stage_epochs']))} "
            f"--stage-lrs {','.join(map(str, c['stage_lrs']))}{drop}")


def job_attempt(wildcards, attempt) -> int:
    """Resource `attempt`: 1, then 2 on the first retry; lets the shell command see it."""
    return attempt


def fail_first_attempt(rule_name: str) -> str:
    """Shell prefix that fails the job's first attempt when config `fail_first_attempt`
    names the rule (to test retries); the rule declares `resources: attempt=job_attempt`."""
    if rule_name not in config["fail_first_attempt"]:
        return ""
    return ("if [ {resources.attempt} -eq 1 ]; then echo 'fail_first_attempt: rule "
            f"{rule_name} fails its first attempt on purpose (config fail_first_attempt)' >&2; "
            "exit 1; fi; ")


def _model_args(wildcards, model):
    return f"--preset {wildcards.preset} --model {model} {DEVICE_ARGS} --threads {config['threads']}"


def lm_model_args(wildcards):
    return _model_args(wildcards, LM_MODEL_JSON)


def classifier_model_args(wildcards):
    return _model_args(wildcards, CLASSIFIER_MODEL_JSON)


def all_targets():
    targets = [f"results/tables/{t}.md" for t in config["tables"]]
    if config["tasks"]:
        targets.append("results/datasets/leakage.csv")  # leakage audit of every task's dataset
    targets += [f"results/figures/{t}_vs_paper.png" for t in config["tables"]]
    targets += [f"results/figures/{t}_roc_pr.png" for t in config["tables"] if is_binary_table(t)]
    targets += [f"results/figures/{t}_curve.png" for t, spec in config["tables"].items() if spec.get("curve")]
    targets += [f"results/figures/{t}_confusion.png" for t in config["tables"]]
    targets += ["results/figures/lm_vs_prior.png"] if general_lms() else []
    for corpus, k, stride in general_lms():
        for seed in SEEDS:
            d = lm_dir(corpus, k, stride, seed)
            targets += [f"{d}/training_curves.png", f"{d}/schedule.png"]
        if config["training"].get("lr_find"):
            targets.append(f"results/models/lm/{corpus}/k{k}s{stride}/{PRESET}/lr_find.png")
    for name in EXPERIMENTS:
        for seed in SEEDS:
            targets.append(f"{classifier_dir(name, seed)}/training_curves.png")
    targets += deepsea_targets()  # workflow/rules/deepsea.smk; none without a deepsea section
    return targets


def table_config(name):
    """A results table's spec, from `tables` or `deepsea.tables`."""
    return config["tables"].get(name) or config["deepsea"]["tables"][name]
