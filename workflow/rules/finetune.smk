# The general LM fine-tuned on a task's training and validation sequences
# (never its test split), with discriminative learning rates or one lr (its protocol).


rule finetune_lm:
    input:
        lm=lm_input,
        dataset="results/datasets/{task}.tsv",
    output:
        model=f"{FINETUNED_DIR}/lm.pth",
        history=f"{FINETUNED_DIR}/history.csv",
        summary=f"{FINETUNED_DIR}/summary.json",
    params:
        device=DEVICE_ARGS,
        settings=finetune_settings,
    threads: config["threads"]
    resources:
        gpu=1,
        attempt=job_attempt,
    log:
        "logs/finetune/{task}/{corpus}/k{k}s{stride}/{tag}/seed{seed}.log",
    conda:
        "../../envs/train.yaml"
    shell:
        fail_first_attempt("finetune_lm")
        + "{PY} finetune --lm {input.lm:q} --dataset {input.dataset:q} --out {output.model:q} "
        "--k {wildcards.k} --stride {wildcards.stride} "
        "--settings {params.settings} {params.device} --seed {wildcards.seed} "
        "--history {output.history:q} --summary {output.summary:q} > {log} 2>&1"
