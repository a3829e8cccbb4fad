# DeepSEA multi-task classification (919 chromatin targets), when the config has a `deepsea`
# section: the training bundle (downloaded by the download rule) -> arrays on disk ->
# multi-label models (the capstone's ResNet-1D + Transformer, the ULMFiT encoder) -> weighted
# ROC-AUC / PR-AUC per model -> tables beside DeepSEA, DanQ and the capstone.

import re

DEEPSEA = config.get("deepsea") or {}
DEEPSEA_EXPERIMENTS = DEEPSEA.get("experiments", {})
DEEPSEA_SEEDS = DEEPSEA.get("seeds") or SEEDS
# The tag of each ulmfit model's general LM (its corpus's protocol and its own, resolved once).
DEEPSEA_LM_TAGS = {
    name: PROTOCOLS.lm_tag(PROTOCOLS.lm_document(exp["pretrain"], exp.get("protocol"),
                                                 f"deepsea.experiments.{name}.protocol"))
    for name, exp in DEEPSEA_EXPERIMENTS.items() if exp["arch"] == "ulmfit" and exp.get("pretrain")}
DEEPSEA_TABLES = DEEPSEA.get("tables", {})


def _names_regex(names):
    """A wildcard constraint matching exactly these names (none if there are none)."""
    return "|".join(re.escape(n) for n in sorted(names)) or "(?!)"


def deepsea_variant():
    """The converted arrays' directory name: `full`, or the sample caps, e.g. train20000-test5000."""
    caps = DEEPSEA.get("max_samples") or {}
    parts = [f"{s}{caps[s]}" for s in ("train", "valid", "test") if caps.get(s)]
    return "-".join(parts) or "full"


def deepsea_data_dir():
    return f"results/deepsea/data/{deepsea_variant()}"


def deepsea_model_dir(name, seed):
    return f"results/models/deepsea/{deepsea_variant()}/{name}/seed{seed}"


def deepsea_metrics_path(name, seed, split="test"):
    return f"results/evaluation/deepsea/{deepsea_variant()}/{name}/seed{seed}/{split}.metrics.json"


def deepsea_encoder(w):
    """ulmfit experiments with `pretrain`: the general LM of that corpus, k, stride and seed."""
    exp = DEEPSEA_EXPERIMENTS[w.experiment]
    if exp["arch"] != "ulmfit" or not exp.get("pretrain"):
        return []
    lm = LM_DIR.format(corpus=exp["pretrain"], k=exp["k"], stride=exp["stride"],
                       tag=DEEPSEA_LM_TAGS[w.experiment], seed=lm_seed(exp["pretrain"], w.seed))
    return [f"{lm}/lm.pth"]


def deepsea_train_args(w):
    # From the wildcards and the config alone (not `input`), so Snakemake's params trigger
    # reruns a model when its settings change.
    exp = DEEPSEA_EXPERIMENTS[w.experiment]
    training = {**(DEEPSEA.get("training") or {}), **(exp.get("training") or {})}
    args = [f"--arch {exp['arch']}", f"--training {shlex.quote(json.dumps(training, sort_keys=True))}"]
    if exp["arch"] == "capstone":
        args += [f"--capstone-preset {exp.get('preset', 'capstone')}",
                 f"--capstone {shlex.quote(json.dumps(exp.get('overrides') or {}, sort_keys=True))}"]
    else:
        encoder = deepsea_encoder(w)
        # with an encoder, --k/--stride are checked against the LM's (a mismatch stops the job)
        args += [f"--k {exp['k']} --stride {exp['stride']}"
                 + (f" --encoder {shlex.quote(encoder[0])}" if encoder else ""),
                 # a classifier on the LM's architecture: the config's classifier model settings
                 f"--preset {PROTOCOLS.preset} --model {_settings_json(PROTOCOLS.document('classifier', '')['model'])}"]
    return " ".join(args)


def deepsea_table_rows(table):
    rows = []
    for row in DEEPSEA_TABLES[table]["rows"]:
        files = ([deepsea_metrics_path(row["experiment"], seed) for seed in DEEPSEA_SEEDS]
                 if row.get("experiment") else [])
        rows.append({"label": row["label"], "paper": row.get("paper"), "metrics_files": files})
    return rows


def deepsea_targets():
    if not DEEPSEA:
        return []
    targets = [f"results/tables/{t}.md" for t in DEEPSEA_TABLES]
    targets += [f"results/figures/{t}_vs_paper.png" for t in DEEPSEA_TABLES]
    for name in DEEPSEA_EXPERIMENTS:
        for seed in DEEPSEA_SEEDS:
            d = deepsea_model_dir(name, seed)
            targets += [f"{d}/training_curves.png", deepsea_metrics_path(name, seed)]
    return targets


rule deepsea_convert:
    """The bundle's train.mat (HDF5), valid.mat and test.mat (MATLAB 5), streamed in chunks
    into base codes (uint8) and bit-packed labels; written atomically."""
    wildcard_constraints:
        variant=re.escape(deepsea_variant()) if DEEPSEA else "(?!)",
    input:
        lambda w: download_path(DEEPSEA["source"]),
    output:
        directory("results/deepsea/data/{variant}"),
    params:
        caps=lambda w: " ".join(f"--max-{s} {n}" for s, n in (DEEPSEA.get("max_samples") or {}).items() if n),
        chunk_size=lambda w: DEEPSEA.get("chunk_size", 10000),
        channel_order=lambda w: DEEPSEA.get("channel_order", "AGCT"),
    resources:
        attempt=job_attempt,
    log:
        "logs/deepsea/convert_{variant}.log",
    conda:
        "../../envs/data.yaml"
    shell:
        "{PY} deepsea-convert --bundle {input:q} --out {output:q} {params.caps} "
        "--chunk-size {params.chunk_size} --channel-order {params.channel_order} > {log} 2>&1"


rule deepsea_train:
    wildcard_constraints:
        variant=re.escape(deepsea_variant()) if DEEPSEA else "(?!)",
        experiment=_names_regex(DEEPSEA_EXPERIMENTS),
    input:
        data="results/deepsea/data/{variant}",
        encoder=deepsea_encoder,
    output:
        model="results/models/deepsea/{variant}/{experiment}/seed{seed}/model.pth",
        history="results/models/deepsea/{variant}/{experiment}/seed{seed}/history.csv",
        schedule="results/models/deepsea/{variant}/{experiment}/seed{seed}/schedule.csv",
        summary="results/models/deepsea/{variant}/{experiment}/seed{seed}/summary.json",
    params:
        args=deepsea_train_args,
    threads: config["threads"]
    resources:
        gpu=1,
        attempt=job_attempt,
    log:
        "logs/deepsea/train/{variant}/{experiment}/seed{seed}.log",
    conda:
        "../../envs/train.yaml"
    shell:
        "{PY} deepsea-train --data {input.data:q} --out {output.model:q} {params.args} "
        "--seed {wildcards.seed} --device {config[device]} --threads {threads} "
        "--history {output.history:q} --schedule {output.schedule:q} --summary {output.summary:q} "
        "> {log} 2>&1"


rule deepsea_evaluate:
    wildcard_constraints:
        variant=re.escape(deepsea_variant()) if DEEPSEA else "(?!)",
        experiment=_names_regex(DEEPSEA_EXPERIMENTS),
        split=r"test|valid",
    input:
        model="results/models/deepsea/{variant}/{experiment}/seed{seed}/model.pth",
        data="results/deepsea/data/{variant}",
    output:
        metrics="results/evaluation/deepsea/{variant}/{experiment}/seed{seed}/{split}.metrics.json",
        per_target="results/evaluation/deepsea/{variant}/{experiment}/seed{seed}/{split}.per_target.csv",
    threads: config["threads"]
    resources:
        gpu=1,
        attempt=job_attempt,
    log:
        "logs/deepsea/evaluate/{variant}/{experiment}/seed{seed}.{split}.log",
    conda:
        "../../envs/train.yaml"
    shell:
        "{PY} deepsea-evaluate --model {input.model:q} --data {input.data:q} --split {wildcards.split} "
        "--metrics {output.metrics:q} --per-target {output.per_target:q} --device {config[device]} "
        "--threads {threads} > {log} 2>&1"


rule deepsea_table:
    """Ours (mean ± SD over seeds) beside DeepSEA, DanQ and the capstone's published numbers."""
    wildcard_constraints:
        table=_names_regex(DEEPSEA_TABLES),
    input:
        lambda w: [f for row in deepsea_table_rows(w.table) for f in row["metrics_files"]],
    output:
        csv=report("results/tables/{table}.csv", caption="../report/table.rst",
                   category="Results tables"),
        md="results/tables/{table}.md",
    params:
        spec=lambda w: shlex.quote(json.dumps({"title": DEEPSEA_TABLES[w.table]["title"],
                                               "metrics": DEEPSEA_TABLES[w.table]["metrics"],
                                               "rows": deepsea_table_rows(w.table)})),
    log:
        "logs/report/table_{table}.log",
    conda:
        "../../envs/report.yaml"
    shell:
        "{PY} table --spec {params.spec} --csv {output.csv:q} --md {output.md:q} > {log} 2>&1"
