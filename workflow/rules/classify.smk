# Classifiers: gradual unfreezing from a (fine-tuned) LM's encoder, or the
# naive classifier, the same architecture from scratch.

CLASSIFIER_DIR = "results/models/classifier/{task}/{init}/k{k}s{stride}/{preset}/n{size}/seed{seed}"


def encoder_input(w):
    if w.init == "naive":
        return []
    kind, corpus = w.init.split("-", 1)
    if kind == "pretrained":
        return [f"results/models/lm/{corpus}/k{w.k}s{w.stride}/{w.preset}/seed{w.seed}/lm.pth"]
    return [f"results/models/finetuned/{w.task}/{corpus}/k{w.k}s{w.stride}/{w.preset}/seed{w.seed}/lm.pth"]


def classifier_args(w):
    # From the wildcards alone, not `input`: Snakemake records (and so compares
    # for reruns) only params that do not depend on the job's input.
    stages = stage_args("naive" if w.init == "naive" else "classifier")
    start = (f"--k {w.k} --stride {w.stride}" if w.init == "naive"
             else f"--encoder {shlex.quote(encoder_input(w)[0])}")
    size = "" if w.size == "all" else f"--train-size {w.size}"
    return f"{start} {stages} {size}"


rule train_classifier:
    input:
        dataset="results/datasets/{task}.tsv",
        encoder=encoder_input,
    output:
        model=CLASSIFIER_DIR + "/model.pth",
        history=CLASSIFIER_DIR + "/history.csv",
        schedule=CLASSIFIER_DIR + "/schedule.csv",
        summary=CLASSIFIER_DIR + "/summary.json",
    params:
        training=classifier_args,
        model=classifier_model_args,
    threads: config["threads"]
    resources:
        gpu=1,
        attempt=job_attempt,
    log:
        "logs/classify/{task}/{init}/k{k}s{stride}/{preset}/n{size}/seed{seed}.log",
    conda:
        "../../envs/train.yaml"
    shell:
        fail_first_attempt("train_classifier")
        + "{PY} classify --dataset {input.dataset:q} --out {output.model:q} {params.training} "
        "{params.model} --seed {wildcards.seed} --history {output.history:q} "
        "--schedule {output.schedule:q} --summary {output.summary:q} > {log} 2>&1"
