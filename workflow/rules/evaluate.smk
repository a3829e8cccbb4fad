# Predictions and metrics of a classifier on its task's held-out test split.


rule evaluate:
    input:
        model="results/models/classifier/{task}/{init}/k{k}s{stride}/{preset}/n{size}/seed{seed}/model.pth",
        dataset="results/datasets/{task}.tsv",
    output:
        predictions="results/evaluation/{task}/{init}/k{k}s{stride}/{preset}/n{size}/seed{seed}/test.predictions.csv",
        metrics="results/evaluation/{task}/{init}/k{k}s{stride}/{preset}/n{size}/seed{seed}/test.metrics.json",
    params:
        positive=lambda w: (f"--positive {shlex.quote(config['tasks'][w.task]['positive'])}"
                            if config["tasks"][w.task].get("positive") else ""),
    threads: config["threads"]
    resources:
        gpu=1,
        attempt=job_attempt,
    log:
        "logs/evaluate/{task}/{init}/k{k}s{stride}/{preset}/n{size}/seed{seed}.log",
    conda:
        "../../envs/train.yaml"
    shell:
        fail_first_attempt("evaluate")
        + "{PY} evaluate --model {input.model:q} --dataset {input.dataset:q} --split test "
        "{params.positive} --predictions {output.predictions:q} --metrics {output.metrics:q} "
        "--device {config[device]} --threads {threads} > {log} 2>&1"
