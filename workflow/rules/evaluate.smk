# Predictions and metrics of a classifier on a held-out test split of its task (test, or a
# named one such as test_challenge).


rule evaluate:
    wildcard_constraints:
        split=r"test(_[A-Za-z0-9]+)*",
    input:
        model=f"{CLASSIFIER_DIR}/model.pth",
        dataset="results/datasets/{task}.tsv",
    output:
        predictions=f"{EVALUATION_DIR}/{{split}}.predictions.csv",
        metrics=f"{EVALUATION_DIR}/{{split}}.metrics.json",
    params:
        device=DEVICE_ARGS,
        positive=lambda w: (f"--positive {shlex.quote(config['tasks'][w.task]['positive'])}"
                            if config["tasks"][w.task].get("positive") else ""),
    threads: config["threads"]
    resources:
        gpu=1,
        attempt=job_attempt,
    log:
        f"logs/evaluate/{RUN}.{{split}}.log",
    conda:
        "../../envs/train.yaml"
    shell:
        fail_first_attempt("evaluate")
        + "{PY} evaluate --model {input.model:q} --dataset {input.dataset:q} --split {wildcards.split} "
        "--k {wildcards.k} --stride {wildcards.stride} {params.positive} "
        "--predictions {output.predictions:q} --metrics {output.metrics:q} "
        "{params.device} > {log} 2>&1"
