# Classifiers: stages of gradual unfreezing from a (fine-tuned) LM's encoder, or the
# naive classifier, the same architecture from scratch.


def classifier_start_checked(w):
    """classifier_start, plus the path's k and stride with --encoder: the command refuses an LM
    of another tokenization placed under this k{k}s{stride} path."""
    start = classifier_start(w)
    return start if w.init == "naive" else f"{start} --k {w.k} --stride {w.stride}"


rule train_classifier:
    input:
        dataset="results/datasets/{task}.tsv",
        encoder=encoder_input,
    output:
        model=f"{CLASSIFIER_DIR}/model.pth",
        history=f"{CLASSIFIER_DIR}/history.csv",
        schedule=f"{CLASSIFIER_DIR}/schedule.csv",
        summary=f"{CLASSIFIER_DIR}/summary.json",
    params:
        device=DEVICE_ARGS,
        start=classifier_start_checked,
        train_size=train_size_arg,
        settings=classifier_settings,
    threads: config["threads"]
    resources:
        gpu=1,
        attempt=job_attempt,
    log:
        f"logs/classify/{RUN}.log",
    conda:
        "../../envs/train.yaml"
    shell:
        fail_first_attempt("train_classifier")
        + "{PY} classify --dataset {input.dataset:q} --out {output.model:q} {params.start} "
        "{params.train_size} --settings {params.settings} {params.device} --seed {wildcards.seed} "
        "--history {output.history:q} --schedule {output.schedule:q} --summary {output.summary:q} "
        "> {log} 2>&1"
