# Shared setup: config validation, output path templates, input and params functions.
import json
import re
import os
import shlex
import sys
from pathlib import Path

REPO = Path(workflow.basedir).parent
SRC = REPO / "src"
# Rules run `python -m genomic_ulmfit` from the checkout, in the venv or in a
# rule's conda env alike.
sys.path.insert(0, str(SRC))
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")]))

from snakemake.settings.types import DeploymentMethod  # noqa: E402

from genomic_ulmfit.config import load_sources, resolve_extends, validate_config  # noqa: E402
from genomic_ulmfit.protocols import TAG_PATTERN, Protocols, strip_tag  # noqa: E402
from genomic_ulmfit.sources import source_file_name  # noqa: E402

# A config that `extends` another (config/paper_mini.yaml) is merged onto it, in place:
# the rules and Snakemake read this one dict.
_resolved = resolve_extends(config, REPO)
config.clear()
config.update(_resolved)
SOURCES = load_sources(config["sources"], base=REPO)  # one file or a list
validate_config(config, Path(workflow.basedir) / "schemas" / "config.schema.yaml", SOURCES)

# Without --use-conda, rules run the interpreter that runs Snakemake (the
# project's venv), not whatever `python` comes first on PATH.
USE_CONDA = DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method
PY = f"{'python' if USE_CONDA else shlex.quote(sys.executable)} -m genomic_ulmfit"
# Data-parallel pretraining: torchrun starts one process per GPU on the job's node.
PRETRAIN_GPUS = config["pretrain_gpus"]
PY_PRETRAIN = PY if PRETRAIN_GPUS == 1 else (
    f"{'python' if USE_CONDA else shlex.quote(sys.executable)} -m torch.distributed.run "
    f"--standalone --nproc-per-node {PRETRAIN_GPUS} -m genomic_ulmfit")
DEVICE_ARGS = f"--device {config['device']} --threads {config['threads']}"
EXPERIMENTS = config["experiments"]
SEEDS = config["seeds"]
# Every experiment's resolved training settings and the tags of its output paths
# (genomic_ulmfit.protocols: the model preset, plus a short hash for each section that
# differs from the config's `training` defaults).
PROTOCOLS = Protocols(config)
TAGS = {name: PROTOCOLS.tags(name) for name in EXPERIMENTS}

wildcard_constraints:
    k=r"\d+",
    stride=r"\d+",
    seed=r"\d+",
    tag=TAG_PATTERN,
    size=r"all|\d+",
    task=r"[A-Za-z0-9_]+",
    corpus=r"[A-Za-z0-9_]+",
    init=r"naive|(pretrained|finetuned)-[A-Za-z0-9_]+(-on-[A-Za-z0-9_]+)?",


# -- path templates: each defined once; rules and the functions below both format them ---------
# Every parameter that defines an intermediate is in its path.

LM_DIR = "results/models/lm/{corpus}/k{k}s{stride}/{tag}/seed{seed}"
LR_FIND_DIR = "results/models/lm/{corpus}/k{k}s{stride}/{tag}"
FINETUNED_DIR = "results/models/finetuned/{task}/{corpus}/k{k}s{stride}/{tag}/seed{seed}"
RUN = "{task}/{init}/k{k}s{stride}/{tag}/n{size}/seed{seed}"  # one classifier
CLASSIFIER_DIR = f"results/models/classifier/{RUN}"
EVALUATION_DIR = f"results/evaluation/{RUN}"
INTERPRET_DIR = f"results/interpret/{RUN}"


def download_path(source):
    return f"resources/downloads/{source}/{source_file_name(SOURCES[source])}"


def dataset_path(task):
    return f"results/datasets/{task}.tsv"


def corpus_dir(corpus, k, stride):
    return f"results/corpora/{corpus}/k{k}s{stride}"


def experiment_seeds(name):
    return EXPERIMENTS[name].get("seeds") or SEEDS


def lm_seed(corpus, seed):
    """The seed of the general LM behind a run of `seed` (a corpus may train one LM for all)."""
    fixed = config["corpora"][corpus].get("lm_seed")
    return int(seed) if fixed is None else fixed


def finetune_task(exp):
    return exp.get("finetune_task") or exp["task"]


def init_of(exp):
    """naive, pretrained-<corpus>, finetuned-<corpus>, or finetuned-<corpus>-on-<task> for an
    LM fine-tuned on another task's sequences."""
    if not exp.get("pretrain"):
        return "naive"
    if not exp.get("finetune"):
        return f"pretrained-{exp['pretrain']}"
    on = f"-on-{exp['finetune_task']}" if finetune_task(exp) != exp["task"] else ""
    return f"finetuned-{exp['pretrain']}{on}"


def lm_dir(name, seed):
    """The general LM behind a run of an experiment."""
    e = EXPERIMENTS[name]
    return LM_DIR.format(corpus=e["pretrain"], k=e["k"], stride=e["stride"], tag=TAGS[name]["lm"],
                         seed=lm_seed(e["pretrain"], seed))


def finetuned_dir(name, seed):
    e = EXPERIMENTS[name]
    return FINETUNED_DIR.format(task=finetune_task(e), corpus=e["pretrain"], k=e["k"],
                                stride=e["stride"], tag=TAGS[name]["finetuned"], seed=seed)


def run_id(name, seed):
    e = EXPERIMENTS[name]
    return RUN.format(task=e["task"], init=init_of(e), k=e["k"], stride=e["stride"],
                      tag=TAGS[name]["classifier"], size=e.get("train_size") or "all", seed=seed)


def classifier_dir(name, seed):
    return f"results/models/classifier/{run_id(name, seed)}"


def metrics_path(name, seed, split="test"):
    """`split`: the test split (test, or a named one such as test_challenge)."""
    return f"results/evaluation/{run_id(name, seed)}/{split}.metrics.json"


def predictions_path(name, seed, split="test"):
    return f"results/evaluation/{run_id(name, seed)}/{split}.predictions.csv"


def general_lm_dirs():
    """The directory of every general LM the experiments use, once each."""
    return sorted({lm_dir(name, seed) for name, e in EXPERIMENTS.items() if e.get("pretrain")
                   for seed in experiment_seeds(name)})


def finetuned_lm_dirs():
    """{label: directory} of every fine-tuned LM, once each."""
    out = {}
    for name, e in EXPERIMENTS.items():
        if e.get("finetune"):
            for seed in experiment_seeds(name):
                d = finetuned_dir(name, seed)
                label = f"{finetune_task(e)} fine-tuned k{e['k']}s{e['stride']} {TAGS[name]['finetuned']} seed{seed}"
                out.setdefault(d, label)
    return {label: d for d, label in out.items()}


def is_binary_table(table):
    """Whether the table's experiments classify two classes (a task with a `positive`)."""
    rows = [r for r in config["tables"][table]["rows"] if r.get("experiment")]
    return bool(rows) and bool(config["tasks"][EXPERIMENTS[rows[0]["experiment"]]["task"]].get("positive"))


# -- input functions -----------------------------------------------------------------------------

def general_lm(corpus, w):
    """The general LM checkpoint behind a job with wildcards k, stride, tag and seed."""
    lm = LM_DIR.format(corpus=corpus, k=w.k, stride=w.stride, tag=strip_tag(w.tag, "p"),
                       seed=lm_seed(corpus, w.seed))
    return f"{lm}/lm.pth"


def lm_input(w):
    """A fine-tuning job's general LM, from its wildcards."""
    return general_lm(w.corpus, w)


def encoder_input(w):
    """A classifier job's LM checkpoint (none for a naive one), from its wildcards."""
    if w.init == "naive":
        return []
    kind, rest = w.init.split("-", 1)
    corpus, _, ft_task = rest.partition("-on-")
    if kind == "pretrained":
        return [general_lm(corpus, w)]
    ft = FINETUNED_DIR.format(task=ft_task or w.task, corpus=corpus, k=w.k, stride=w.stride,
                              tag=strip_tag(w.tag, "f"), seed=w.seed)
    return [f"{ft}/lm.pth"]


# -- each job's settings: one JSON document, named by the tag of its path ------------------------
# From the wildcards alone, not `input`: Snakemake records (and so compares for reruns) only
# params that do not depend on the job's input.

def _settings_json(doc):
    return shlex.quote(json.dumps(doc, sort_keys=True))


def lm_settings(w):
    return _settings_json(PROTOCOLS.document("pretrain", w.tag))


def lr_find_settings(w):
    """The LR range test reads the LM's model settings, not its schedule."""
    doc = PROTOCOLS.document("pretrain", w.tag)
    return _settings_json({"preset": doc["preset"], "model": doc["model"]})


def finetune_settings(w):
    return _settings_json(PROTOCOLS.document("finetune", w.tag))


def classifier_settings(w):
    return _settings_json(PROTOCOLS.document("classifier", w.tag, naive=w.init == "naive"))


def classifier_start(w):
    """--encoder (its LM checkpoint) or, for a naive classifier, --k and --stride."""
    if w.init == "naive":
        return f"--k {w.k} --stride {w.stride}"
    return f"--encoder {shlex.quote(encoder_input(w)[0])}"


def train_size_arg(w):
    return "" if w.size == "all" else f"--train-size {w.size}"


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


def all_targets():
    targets = [f"results/tables/{t}.md" for t in config["tables"]]
    if config["tasks"]:
        targets.append("results/datasets/leakage.csv")  # leakage audit of every task's dataset
    targets += [f"results/figures/{t}_vs_paper.png" for t in config["tables"]]
    targets += [f"results/figures/{t}_roc_pr.png" for t in config["tables"] if is_binary_table(t)]
    targets += [f"results/figures/{t}_curve.png" for t, spec in config["tables"].items() if spec.get("curve")]
    targets += [f"results/figures/{t}_confusion.png" for t in config["tables"]]
    targets += ["results/figures/lm_vs_prior.png"] if general_lm_dirs() else []
    for d in general_lm_dirs():
        targets += [f"{d}/training_curves.png", f"{d}/schedule.png"]
    if config["training"].get("lr_find"):
        targets += sorted({f"{d.rsplit('/seed', 1)[0]}/lr_find.png" for d in general_lm_dirs()})
    for name in EXPERIMENTS:
        for seed in experiment_seeds(name):
            targets.append(f"{classifier_dir(name, seed)}/training_curves.png")
    targets += deepsea_targets()  # workflow/rules/deepsea.smk; none without a deepsea section
    return targets


def table_config(name):
    """A results table's spec, from `tables` or `deepsea.tables`."""
    return config["tables"].get(name) or config["deepsea"]["tables"][name]
