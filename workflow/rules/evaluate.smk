# Predictions and metrics of a classifier on a held-out test split of its task (test, or a
# named one such as test_challenge).


rule evaluate:
    wildcard_constraints:
        split=r"test(_[A-Za-z0-9]+)*",
    input:
        model="results/models/classifier/{task}/{init}/k{k}s{stride}/{preset}/n{size}/seed{seed}/model.pth",
        dataset="results/datasets/{task}.tsv",
    output:
        predictions="results/evaluation/{task}/{init}/k{k}s{stride}/{preset}/n{size}/seed{seed}/{split}.predictions.csv",
        metrics="results/evaluation/{task}/{init}/k{k}s{stride}/{preset}/n{size}/seed{seed}/{split}.metrics.json",
    params:
        positive=lambda w: (f"--positive {shlex.quote(config['tasks'][w.task]['positive'])}"
                            if config["tasks"][w.task].get("positive") else ""),
    threads: config["threads"]
    resources:
        gpu=1,
        attempt=job_attempt,
    log:
        "logs/evaluate/{task}/{init}/k{k}s{stride}/{preset}/n{size}/seed{seed}.{split}.log",
    conda:
        "../../envs/train.yaml"
    shell:
        fail_first_attempt("evaluate")
        + "{PY} evaluate --model {input.model:q} --dataset {input.dataset:q} --split {wildcards.split} "
        "{params.positive} --predictions {output.predictions:q} --metrics {output.metrics:q} "
        "--device {config[device]} --threads {threads} > {log} 2>&1"
