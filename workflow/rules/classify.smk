# Classifiers: stages of gradual unfreezing from a (fine-tuned) LM's encoder, or the
# naive classifier, the same architecture from scratch.


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
        start=classifier_start,
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
