# The general LM fine-tuned on a task's training and validation sequences
# (never its test split), with discriminative learning rates.


rule finetune_lm:
    input:
        lm="results/models/lm/{corpus}/k{k}s{stride}/{preset}/seed{seed}/lm.pth",
        dataset="results/datasets/{task}.tsv",
    output:
        model="results/models/finetuned/{task}/{corpus}/k{k}s{stride}/{preset}/seed{seed}/lm.pth",
        history="results/models/finetuned/{task}/{corpus}/k{k}s{stride}/{preset}/seed{seed}/history.csv",
        summary="results/models/finetuned/{task}/{corpus}/k{k}s{stride}/{preset}/seed{seed}/summary.json",
    params:
        cycle=cycle_args("finetune"),
        model=lm_model_args,
    threads: config["threads"]
    resources:
        gpu=1,
        attempt=job_attempt,
    log:
        "logs/finetune/{task}/{corpus}/k{k}s{stride}/{preset}/seed{seed}.log",
    conda:
        "../../envs/train.yaml"
    shell:
        fail_first_attempt("finetune_lm")
        + "{PY} finetune --lm {input.lm:q} --dataset {input.dataset:q} --out {output.model:q} "
        "{params.cycle} {params.model} --seed {wildcards.seed} --history {output.history:q} "
        "--summary {output.summary:q} > {log} 2>&1"
